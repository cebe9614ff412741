"""Issue 14, Deliver 5: one sweep over many active jobs, its EMR calls metered against the default quotas.

The jobs are started by the deployed launcher (a routes file without caps or pacing, so that they all start), their
clusters left running and their job runs set RUNNING in moto, and no event delivered: every job waits for the
sweeper, as after an outage of EMR's events. Then the deployed sweeper runs once, on a virtual clock, with every
EMR and EMR Serverless call metered (its SDK retries and their backoff too).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench import quotas_world as world
from emr_dispatch_tools.bench.burst import REGION, make_burst
from emr_dispatch_tools.bench.report import markdown_table
from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
from emr_dispatch_tools.offline.moto_speed import faster_moto
from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR, SERVERLESS, QuotaMeter

UNCAPPED = (
    "start_rates:\n  emr-ec2: {per_second: 1000, burst: 1000}\n  emr-serverless: {per_second: 1000, burst: 1000}\n"
)


@dataclass
class SweepMeasure:
    active: Counter[str] = field(default_factory=Counter)  # active jobs by engine before the sweep
    examined: int = 0
    moved: int = 0
    errors: int = 0
    budget_exhausted: bool = False
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    throttled: Counter[tuple[str, str]] = field(default_factory=Counter)
    gave_up: Counter[tuple[str, str]] = field(default_factory=Counter)
    virtual_seconds: float = 0.0  # time the sweep spent sleeping in backoff (virtual clock)
    wall_seconds: float = 0.0  # the sweep itself, in this process
    setup_seconds: float = 0.0
    timeout_seconds: int = 0  # template.yaml: the sweeper's Lambda timeout

    def within_quota(self) -> dict[str, int]:
        """Active jobs of each engine one sweep can describe inside the Lambda timeout at the default quotas, if
        it spends the APIs' burst and then their refill (EMR on EC2: DescribeCluster and ListSteps per job;
        EMR Serverless: GetJobRun per job)."""
        seconds = self.timeout_seconds
        per_api = {
            key: int(rate.burst + rate.per_second * seconds)
            for key, rate in DEFAULT_QUOTAS.api.items()
            if key in {(EMR, "DescribeCluster"), (EMR, "ListSteps"), (SERVERLESS, "GetJobRun")}
        }
        account = DEFAULT_QUOTAS.account[EMR]
        ec2 = min(per_api[(EMR, "DescribeCluster")], per_api[(EMR, "ListSteps")])
        ec2 = min(ec2, int((account.burst + account.per_second * seconds) / 2))
        return {"emr-ec2": ec2, "emr-serverless": per_api[(SERVERLESS, "GetJobRun")]}

    def markdown(self) -> str:
        rows = [
            (
                f"{service} {operation}",
                f"{self.calls[(service, operation)]:,}",
                f"{n:,}",
                f"{self.gave_up[(service, operation)]:,}",
            )
            for (service, operation), n in sorted(self.throttled.items())
        ] or [("none", "-", "0", "0")]
        active = ", ".join(f"{engine} {n:,}" for engine, n in sorted(self.active.items()))
        bound = self.within_quota()
        return f"""
### The sweeper over {sum(self.active.values()):,} active jobs ({active})

One sweep of the deployed sweeper (Lambda timeout {self.timeout_seconds} s, template.yaml) with every job's events
lost: it examined **{self.examined:,}** jobs (budget exhausted: {self.budget_exhausted}), moved {self.moved:,}, and
recorded {self.errors:,} item failures; {sum(self.calls.values()):,} metered calls, **{sum(self.throttled.values()):,}
throttled**, {sum(self.gave_up.values()):,} given up after the SDK's retries; {self.virtual_seconds:.0f} s of backoff on
the virtual clock; {self.wall_seconds:.1f} s of wall time here (setup {self.setup_seconds:.0f} s).

{markdown_table(("throttled operation", "calls (attempts)", "throttled", "given up"), rows)}

**Largest number of active jobs one sweep can reconcile within quota** inside its {self.timeout_seconds} s
timeout, if it spends each API's burst and then its refill and nothing else calls it: EMR on EC2
**{bound["emr-ec2"]:,}** (DescribeCluster and ListSteps per job; ListSteps' 0.5/s binds), EMR Serverless
**{bound["emr-serverless"]:,}** (GetJobRun 10/s). The bucket's burst alone, what a sweep that does not pace itself can
count on: EMR on EC2 10 (ListSteps), EMR Serverless 50.
"""


def measure(jobs: int, seed: int = 7) -> SweepMeasure:
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emrserverless.models import emrserverless_backends

    from emr_dispatch_tools.bench.counting import tallied_logs

    result = SweepMeasure(timeout_seconds=_sweeper_timeout())
    began = time.perf_counter()
    burst = world.shipped_burst(make_burst(jobs, 0.0, seed))
    shipped = (moto_stack.ROOT / "config" / "routes.yaml").read_text(encoding="utf-8")
    uncapped = re.sub(r"max_concurrent(_jobs)?: \d+", lambda m: f"max_concurrent{m.group(1) or ''}: 1000", shipped)
    uncapped = uncapped.replace("max_concurrent_jobs: 1000", "max_concurrent_jobs: 10000")
    with tempfile.TemporaryDirectory(prefix="emr-dispatch-sweep-") as directory:
        routes_file = Path(directory) / "routes.yaml"
        routes_file.write_text(uncapped.replace("routes:\n", UNCAPPED + "routes:\n", 1), encoding="utf-8")
        with mock_aws(), faster_moto(), tallied_logs():
            deployed = moto_stack.deploy_with_engines("emr-dispatch-sweep", region=REGION)
            application_id = deployed.parameters["EmrServerlessApplicationId"]
            handlers = world.WarmHandlers(deployed, {"ROUTES_FILE": str(routes_file)})
            queue_arn = "arn:aws:sqs:us-east-1:123456789012:arrivals"
            clock = VirtualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
            with virtual_time(clock), handlers.running():
                for event in burst.sqs_events(deployed.outputs["LandingBucketName"], queue_arn, seed):
                    handlers.invoke("LauncherFunction", event)
                for run in emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(application_id, []):
                    run.state = "RUNNING"  # moto's runs succeed at once; these are still running
                result.active = Counter(world.engine_of(obj.key) for obj in burst.objects)
                clock.advance(60)  # a minute later, the buckets full again
                meter = QuotaMeter(DEFAULT_QUOTAS, clock, seed=seed)
                result.setup_seconds = time.perf_counter() - began
                before, began = clock.monotonic(), time.perf_counter()
                with meter.installed():
                    report: Any = handlers.invoke("SweeperFunction", {"detail-type": "Scheduled Event", "detail": {}})
                result.wall_seconds = time.perf_counter() - began
                result.virtual_seconds = clock.monotonic() - before
    result.examined = int(report["examined"])
    result.moved = len(report["moved"])
    result.errors = len(report["errors"])
    result.budget_exhausted = bool(report["budget_exhausted"])
    result.calls, result.throttled, result.gave_up = meter.report.calls, meter.report.throttled, meter.report.gave_up
    return result


def _sweeper_timeout() -> int:
    template = moto_stack.load_sam_template()
    return int(template["Resources"]["SweeperFunction"]["Properties"]["Timeout"])
