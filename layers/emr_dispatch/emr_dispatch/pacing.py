"""Starts paced to the engines' quotas: one token bucket per engine, held in the ledger and shared by every
launcher, so a burst of arrivals is started at the rate AWS allows instead of discovered by throttling.

The bucket is kept as a "theoretical arrival time" (GCRA, the token bucket's equivalent in one number): ``tat``
is when the bucket would be full again; a start is allowed when ``tat`` is at most ``(burst - 1) / rate`` ahead
of now, and moves it ``1 / rate`` on. One conditional update per start when the bucket is in use, two after a
quiet time. A start that must wait is parked QUEUED by the launcher (never lost, never dead-lettered), and
``nudge`` makes sure one start-queued request is scheduled for when the next token is due; while a backlog is
waiting, new arrivals of that engine queue behind it (oldest first). If the request is lost, the sweeper's
next run nudges (every waiting job has an owner and a deadline: docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from emr_dispatch.table import Table, Update, pace_key
from emr_dispatch.timeutil import epoch_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from emr_dispatch.routes import StartRate

BACKLOG_GRACE_SECONDS = 60
"""How long past its nudge a backlog holds new arrivals back if no drain comes to renew or clear it."""

PACE_EXPIRY_SECONDS = 24 * 3600
"""A bucket item expires (``expires_at``, the table's TTL) a day after the last time it names: by then its
``tat``, ``nudge_at`` and ``backlog_until`` are all past, and a missing item means exactly that (a full bucket, no
wake-up pending, no backlog), so an engine no longer started leaves nothing behind."""


def _n(value: float) -> Decimal:
    return Decimal(f"{value:.3f}")


def _expiry(last: float) -> int:
    """The TTL attribute (whole epoch seconds) of a bucket item whose latest named time is ``last``."""
    return int(last) + PACE_EXPIRY_SECONDS


class StartPacer:
    def __init__(self, table_name: str, client: DynamoDBClient, rates: Callable[[str], StartRate | None]) -> None:
        self._table = Table(table_name, client)
        self._rates = rates
        self._last_tat: dict[str, float] = {}  # per engine, as this container last saw it (which write to try)
        self._nudge_at: dict[str, float] = {}  # per engine, a start-queued request this container knows is due then

    def interval(self, engine: str) -> float:
        """Seconds between two starts at the engine's sustained rate (0: not paced)."""
        rate = self._rates(engine)
        return 1 / rate.per_second if rate else 0.0

    def not_due(self, engine: str) -> float:
        """Seconds until the engine's next start token can be due as far as this container knows, without a call
        (0.0: it may be due now, ask the bucket). ``tat`` only ever moves forward, so the last value this container
        saw is a lower bound: a positive answer is certain, and a drain skips the take that would be refused."""
        rate = self._rates(engine)
        if rate is None:
            return 0.0
        tolerance = (rate.burst - 1) / rate.per_second
        return max(self._last_tat.get(engine, 0.0) - (epoch_now() + tolerance), 0.0)

    def take(self, engine: str, *, behind_backlog: bool) -> float:
        """Take a start token: 0.0 if the start may go now, else the seconds until one is due.

        ``behind_backlog``: a new arrival, which waits while older jobs of the engine are queued for its rate.
        One conditional write when the bucket is as this container last saw it (in use, or quiet), two when
        that changed; a refused write returns the item, so no read is needed."""
        rate = self._rates(engine)
        if rate is None:
            return 0.0
        step = 1 / rate.per_second
        tolerance = (rate.burst - 1) * step
        now = epoch_now()
        # in use: move tat on by one interval while it is within the burst's reach
        busy = Update().set_expression("tat", "#tat + :step", step=_n(step))
        busy.set("expires_at", _expiry(now + tolerance + step), "expires")
        busy.when("#tat >= :now AND #tat <= :reach", now=_n(now), reach=_n(now + tolerance))
        # after a quiet time the bucket is full: this start is the first of a new burst
        quiet = Update().set("tat", _n(now + step), "next").set("expires_at", _expiry(now + step), "expires")
        quiet.when("(attribute_not_exists(#tat) OR #tat < :now)", now=_n(now))
        if behind_backlog:
            for update in (busy, quiet):
                update.when("(attribute_not_exists(#backlog_until) OR #backlog_until < :now)")
        first, second = (busy, quiet) if self._last_tat.get(engine, 0.0) >= now else (quiet, busy)
        item: dict[str, Any] = {}
        for update in (first, second):
            applied, item = self._try(engine, update)
            if applied:
                self._last_tat[engine] = now + step  # at least: the bucket is in use
                return 0.0
            tat = float(item.get("tat", {}).get("N", "0"))
            self._last_tat[engine] = tat
            backlog_until = float(item.get("backlog_until", {}).get("N", "0"))
            if behind_backlog and backlog_until >= now:
                return max(backlog_until - now, step)
            if tat > now + tolerance:
                return max(tat - (now + tolerance), 0.001)
        return step  # another launcher moved the bucket between the two writes

    def nudge_due(self, engine: str, at: float, *, backlog: bool) -> bool:
        """Record that the engine's queue is to be drained at ``at`` (epoch seconds); True if the caller must
        schedule the request (no earlier one is pending). ``backlog``: new arrivals queue behind it meanwhile."""
        now = epoch_now()
        known = self._nudge_at.get(engine, 0.0)
        if now < known <= at:
            # A request this container scheduled or saw is due no later: a pending nudge_at only ever moves earlier.
            return False
        update = Update().set("nudge_at", _n(at), "at").set("expires_at", _expiry(max(at, now) + BACKLOG_GRACE_SECONDS))
        if backlog:
            update.set("backlog_until", _n(at + BACKLOG_GRACE_SECONDS), "until")
        update.when("attribute_not_exists(#nudge_at) OR #nudge_at <= :now OR #nudge_at > :at", now=_n(now))
        applied, item = self._try(engine, update)
        self._nudge_at[engine] = at if applied else float(item.get("nudge_at", {}).get("N", "0"))
        return applied

    def backlog_cleared(self, engine: str) -> None:
        """The engine's queue is empty: new arrivals start at once again. Conditional, so a drain never creates
        the bucket item of an engine that was never paced (an item without an expiry)."""
        # A refused condition: no backlog recorded, nothing to clear.
        cleared = Update().remove("backlog_until").when("attribute_exists(#backlog_until)")
        self._table.update(pace_key(engine), cleared, f"clearing the {engine} backlog")

    def _try(self, engine: str, update: Update) -> tuple[bool, dict[str, Any]]:
        """One conditional update of the engine's bucket: (applied, the item as it was when refused)."""
        return self._table.try_update(pace_key(engine), update, f"updating the {engine} start rate")
