"""A virtual clock for the offline world: hours of quota time run in seconds of wall time.

``VirtualClock`` only moves when told (``advance``, ``sleep``). ``virtual_time`` puts emr-dispatch itself on the
clock (``emr_dispatch.timeutil.use_clock``, and ``use_sleep``: the sweeper's paced describes wait on it), so the
ledger's timestamps, retry times and rate limits agree with the quota meter (quotas.py), which reads the same clock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from emr_dispatch import timeutil

_MOTO_SQS_TIME = "unix_time_millis"  # moto's SQS reads "now" (delays, visibility) through this name
_MOTO_SQS_SECONDS = "unix_time"  # ... and its retention check through this one: a message's sent time is virtual,
# so a wall-clock "now" would expire every message once the wall clock passes the virtual start + retention
_MOTO_EMR_TIME = "utcnow"  # moto's EMR stamps clusters and steps (CreationDateTime...) through this name


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float:
        """Seconds on this clock (only differences mean anything)."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def advance(self, seconds: float) -> None:
        """Let time pass (a virtual clock moves; the wall clock sleeps)."""
        ...


class WallClock:
    """The system clock (a quota meter without a virtual clock)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)


class VirtualClock:
    """Time that passes only when told to. Starts at ``start`` (default: now, to the millisecond)."""

    def __init__(self, start: datetime | None = None) -> None:
        begin = start or datetime.now(UTC)
        self._start = begin.replace(microsecond=begin.microsecond // 1000 * 1000)
        self._elapsed = 0.0
        self._start_epoch = self._start.timestamp()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def epoch_seconds(self) -> float:
        """``now()`` as seconds since the epoch (moto's SQS asks for it per message: no datetime built)."""
        return self._start_epoch + self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._elapsed += seconds

    def advance_to(self, elapsed: float) -> None:
        """Move to ``elapsed`` seconds after the start (never backwards: an earlier moment is now)."""
        self._elapsed = max(self._elapsed, elapsed)

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))


@contextlib.contextmanager
def virtual_time(clock: VirtualClock) -> Iterator[VirtualClock]:
    """emr-dispatch reads its time from ``clock`` inside the block, and so do moto's SQS queues and EMR clusters
    (their creation times): a message sent
    with DelaySeconds (a start-queued request for when the next start is due) and a visibility timeout
    become due on the virtual clock, and a message's retention period runs on it too."""
    import moto.emr.models as emr_models
    import moto.sqs.models as sqs_models

    system_millis = getattr(sqs_models, _MOTO_SQS_TIME)
    system_utcnow = getattr(emr_models, _MOTO_EMR_TIME)
    system_seconds = getattr(sqs_models, _MOTO_SQS_SECONDS)

    def virtual_millis(dt: datetime | None = None) -> float:
        return system_millis(dt) if dt is not None else clock.epoch_seconds() * 1000

    def virtual_seconds(dt: datetime | None = None) -> float:
        return system_seconds(dt) if dt is not None else clock.epoch_seconds()

    previous_sleep = timeutil.sleeper()
    timeutil.use_clock(clock.now)
    timeutil.use_sleep(clock.sleep)
    setattr(sqs_models, _MOTO_SQS_TIME, virtual_millis)
    setattr(sqs_models, _MOTO_SQS_SECONDS, virtual_seconds)
    # EMR stamps clusters and steps with its own "now" (ListClusters' CreatedAfter/CreatedBefore filter on it): moto's
    # naive UTC, read on the virtual clock, so a lookup by creation time agrees with emr-dispatch's times.
    setattr(emr_models, _MOTO_EMR_TIME, lambda: clock.now().astimezone(UTC).replace(tzinfo=None))
    try:
        yield clock
    finally:
        setattr(emr_models, _MOTO_EMR_TIME, system_utcnow)
        timeutil.use_clock(None)
        timeutil.use_sleep(previous_sleep)
        setattr(sqs_models, _MOTO_SQS_TIME, system_millis)
        setattr(sqs_models, _MOTO_SQS_SECONDS, system_seconds)
