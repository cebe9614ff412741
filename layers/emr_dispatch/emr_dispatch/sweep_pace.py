"""The sweeper's describes, paced below the quotas they spend (issue 14, Deliver 5).

A sweep that asks EMR about every active job back to back spends ListSteps' burst of 10 on its first ten EMR on
EC2 jobs and is throttled from the eleventh (the quota bench's metered sweep). Each engine that declares a
``describe_rate`` (burst, per second: its describe's quotas less a share for the tracker and operators) gets a token
bucket here; the sweeper waits for a token before each describe, on emr-dispatch's clock, and stops describing an
engine's jobs once waiting would take it past ``RECONCILE_SECONDS``: those jobs wait for the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emr_dispatch.timeutil import epoch_now, sleep
from emr_dispatch.token_bucket import TokenBucket

RECONCILE_SECONDS = 150
"""How long one sweep spends pacing its describes: template.yaml gives the sweeper 240 s, and the rest of the sweep
(orphans, alerts, batches, audit, queued jobs) has the remainder."""

ORPHAN_SEARCH_SECONDS = 30
"""How long one sweep's orphan search may spend pacing its list pages, all engines together (issue 14): with the
describes' time, it leaves a minute of the sweeper's 240 s for alerts, batches, pending starts and queued jobs. A
search cut short finds the rest next run; an orphan it never reaches is still ended by its engine's own limit
(an EMR on EC2 cluster's idle auto-termination, a job run's execution timeout)."""


class DescribePacer:
    def __init__(self, engines: Mapping[str, Any]) -> None:
        self._engines = engines
        self._buckets: dict[str, TokenBucket] = {}
        self._began = epoch_now()

    def wait_for(self, engine: str, job: Any = None) -> bool:
        """Wait until the engine's next describe (of ``job``) is due; False (at once) if that is past the reconcile
        time. A describe costs what the engine's ``describe_cost(job)`` says (EMR on EC2: one token per ListSteps
        page of a many-step cluster), else one token."""
        found = self._engines.get(engine)
        rate: tuple[float, float] | None = getattr(found, "describe_rate", None)
        if rate is None:
            return True
        costing = getattr(found, "describe_cost", None)
        cost = float(costing(job)) if costing is not None and job is not None else 1.0
        bucket = self._buckets.setdefault(engine, TokenBucket(*rate, at=self._began))
        now = epoch_now()
        wait = bucket.wait(now, cost)
        if wait > 0:
            if now + wait - self._began > RECONCILE_SECONDS:
                return False
            sleep(wait)
            bucket.wait(epoch_now(), cost)
        bucket.tokens -= cost
        return True
