"""UTC timestamps as sortable ISO-8601 strings (the ledger's sort keys rely on their order).

Every "now" of emr-dispatch comes from ``utc_now``: the offline harness can put the whole product on a virtual
clock (tools/emr_dispatch_tools/offline/clock.py), so that hours of quota time run in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_source: Callable[[], datetime] | None = None
_sleeper: Callable[[float], None] | None = None


def use_clock(source: Callable[[], datetime] | None) -> None:
    """Read the time from ``source`` (an aware datetime) instead of the system clock; None: the system clock."""
    global _source  # one process-wide clock, swapped only by the offline harness
    _source = source


def use_sleep(sleeper: Callable[[float], None] | None) -> None:
    """Wait with ``sleeper`` (a virtual clock's) instead of ``time.sleep``; None: ``time.sleep``."""
    global _sleeper  # swapped only by the offline harness, with use_clock
    _sleeper = sleeper


def sleeper() -> Callable[[float], None] | None:
    """The sleeper in use (None: ``time.sleep``), for a harness that swaps it and puts it back."""
    return _sleeper


def sleep(seconds: float) -> None:
    (_sleeper or time.sleep)(max(seconds, 0.0))


def utc_now() -> datetime:
    return _source() if _source is not None else datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return to_iso(utc_now())


def iso_seconds_ago(seconds: int) -> str:
    return to_iso(utc_now() - timedelta(seconds=seconds))


def iso_seconds_ahead(seconds: float) -> str:
    return to_iso(utc_now() + timedelta(seconds=seconds))


def epoch_seconds() -> int:
    return int(utc_now().timestamp())


def epoch_now() -> float:
    """Seconds since the epoch, to the millisecond (rate limits)."""
    return round(utc_now().timestamp(), 3)


def parse_iso(text: str) -> datetime:
    """The one parser of ISO-8601 times (ledger, events, the CLI's --since): a trailing Z means UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds_between(earlier: str, later: str) -> float:
    """Seconds from one ledger timestamp to another (negative if they are out of order)."""
    return (parse_iso(later) - parse_iso(earlier)).total_seconds()
