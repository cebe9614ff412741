"""Business metrics of emr-dispatch: CloudWatch embedded metric format through Powertools, one namespace.

Counted where they happen with one-line calls (``metrics.count("JobsStarted", route=..., engine=...)``),
gathered while a handler runs and written once when it returns (``@metrics.flushed``): one EMF record per
dimension set, each also counted in the namespace-wide set ``{service}`` that the alarms watch. Outside a
handler (CLI, demo, benchmarks) nothing is gathered and nothing is printed.

The namespace is POWERTOOLS_METRICS_NAMESPACE, set once in template.yaml's Globals.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

SERVICE = "emr-dispatch"
"""The ``service`` dimension of every metric (the alarms' dimension)."""

ARRIVALS = "Arrivals"
ARRIVALS_SKIPPED = "ArrivalsSkipped"  # by reason
DUPLICATE_ARRIVALS = "DuplicateArrivals"
JOBS_STARTED = "JobsStarted"
JOBS_QUEUED = "JobsQueued"
JOBS_SUCCEEDED = "JobsSucceeded"
JOBS_FAILED = "JobsFailed"
JOBS_TIMED_OUT = "JobsTimedOut"
JOBS_CANCELLED = "JobsCancelled"
JOBS_RETRIED = "JobsRetried"  # attempts that failed for a retriable cause: the next one is scheduled
QUEUE_WAIT = "QueueWaitSeconds"  # how long a job waited QUEUED for a capacity slot
JOB_DURATION = "JobDurationSeconds"  # from submission to the engine until the job's end
ENGINE_THROTTLES = "EngineThrottles"  # engine API calls throttled beyond the SDK's retries
STARTS_PACED = "StartsPaced"  # starts that waited for their engine's start rate (pacing.py), not throttled
BATCHES_OVERDUE = "BatchesOverdue"  # OPEN/CLOSING batches past their deadline whose close the sweeper asked for
SWEEP_ITEM_FAILURES = "SweepItemFailures"  # sweep items (a job, an orphan, an alert...) that failed, by item

ENDED_METRICS = {
    "SUCCEEDED": JOBS_SUCCEEDED,
    "FAILED": JOBS_FAILED,
    "TIMED_OUT": JOBS_TIMED_OUT,
    "CANCELLED": JOBS_CANCELLED,
}

_Dimensions = tuple[tuple[str, str], ...]
_counts: dict[_Dimensions, dict[str, float]] = defaultdict(lambda: defaultdict(float))
_timings: dict[_Dimensions, list[tuple[str, float]]] = defaultdict(list)
_collecting = False

P = ParamSpec("P")
R = TypeVar("R")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Add to a counter (summed per invocation: one value per name and dimension set)."""
    if _collecting:
        _counts[_key(dimensions)][name] += value


def seconds(name: str, value: float, **dimensions: str) -> None:
    """Record one duration in seconds (each kept, so CloudWatch has the distribution)."""
    if _collecting and value >= 0:
        _timings[_key(dimensions)].append((name, value))


_SKIP_REASONS = frozenset({"s3 test event", "folder marker", "no route matches", "waiting for the marker object"})
_SKIP_CATEGORIES = (
    ("own writes", "own output"),
    ("control character", "unsafe key"),
    ("would be an option", "unsafe key"),
    ("refused", "unsafe key"),
)


def skip_reason(reason: str) -> str:
    """A skip reason as a dimension value: a few fixed categories, never the key or location it may name
    (every distinct value is a metric CloudWatch bills)."""
    if reason in _SKIP_REASONS:
        return reason
    return next((category for needle, category in _SKIP_CATEGORIES if needle in reason), "other")


def engine_error(engine: str, code: str) -> None:
    """Count an engine call that failed, if it failed because the engine throttled it."""
    from emr_dispatch.aws import THROTTLING_CODES

    if code in THROTTLING_CODES:
        count(ENGINE_THROTTLES, engine=engine)


def flushed(handler: Callable[P, R]) -> Callable[P, R]:
    """Gather metrics while the handler runs; write them when it returns or raises."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collecting():
            return handler(*args, **kwargs)

    return wrapper


@contextmanager
def collecting() -> Iterator[None]:
    global _collecting  # one invocation at a time per Lambda container
    _collecting = True
    try:
        yield
    finally:
        _collecting = False
        flush()


def flush() -> None:
    """Write what was gathered: one EMF record per dimension set (Powertools prints it to stdout)."""
    if not _counts and not _timings:
        return
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    try:
        for dimensions in {*_counts, *_timings}:
            emf = EphemeralMetrics(service=SERVICE)
            for dimension, label in dimensions:
                emf.add_dimension(name=dimension, value=label)
            if dimensions:
                emf.add_dimensions(service=SERVICE)  # the namespace-wide total, as the alarms see it
            for name, total in _counts.get(dimensions, {}).items():
                emf.add_metric(name=name, unit=MetricUnit.Count, value=total)
            for name, duration in _timings.get(dimensions, []):
                emf.add_metric(name=name, unit=MetricUnit.Seconds, value=duration)
            emf.flush_metrics()
    finally:
        _counts.clear()
        _timings.clear()


def _key(dimensions: dict[str, Any]) -> _Dimensions:
    return tuple(sorted((name, str(value)) for name, value in dimensions.items() if value))
