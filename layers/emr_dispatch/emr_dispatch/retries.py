"""Retries: whether a failed attempt is tried again, when, and how.

A retry is only worth it when the cause can go away on its own: capacity or instance failures, Spot
capacity lost, internal errors of the engine. Validation errors, user-code failures (a failed step, a
failed application, a bootstrap script), timeouts and cancellations are final at the first attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from emr_dispatch.engines import DECLARATIONS, declaration
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.timeutil import to_iso, utc_now

if TYPE_CHECKING:
    from emr_dispatch.routes import RetryCause, Route

# The engines' own reason codes come from their declarations (FailureCauses); a start refused by a service fault
# or for capacity is the same on every engine (START_ + the API's error code).
_INTERNAL_CODES = frozenset(
    {
        "START_InternalServerError",
        "START_InternalServerException",
        "START_InternalFailure",
        "START_ServiceUnavailable",
        "START_ServiceUnavailableException",
    }
).union(*(declared.failure_causes.internal for declared in DECLARATIONS))
_CAPACITY_CODES = frozenset({"START_InsufficientCapacityException"}).union(
    *(declared.failure_causes.capacity for declared in DECLARATIONS)
)
_SPOT_CODES = frozenset().union(*(declared.failure_causes.spot for declared in DECLARATIONS))
_SPOT_IF_SPOT_USED = frozenset().union(*(declared.failure_causes.spot_if_route_uses_spot for declared in DECLARATIONS))
_READ_MESSAGE_OF = tuple(
    dict.fromkeys(prefix for declared in DECLARATIONS for prefix in declared.failure_causes.internal_if_message_says)
)
_CAPACITY_WORDS = ("insufficient capacity", "insufficientinstancecapacity", "out of capacity", "capacity exceeded")
_INTERNAL_WORDS = ("internal error", "internalerror", "internal server error", "service unavailable")


def failure_cause(update: StateUpdate, *, uses_spot: bool = False) -> RetryCause | None:
    """The retriable cause of a failure, or None when a second try would fail the same way."""
    if update.state is not JobState.FAILED:
        return None
    code = update.reason_code or ""
    message = (update.reason_message or "").lower()
    if code in _SPOT_CODES or (code in _SPOT_IF_SPOT_USED and (uses_spot or "spot" in message)):
        return "spot"
    if code in _CAPACITY_CODES or any(words in message for words in _CAPACITY_WORDS):
        return "capacity"
    if code in _INTERNAL_CODES or (code.startswith(_READ_MESSAGE_OF) and any(w in message for w in _INTERNAL_WORDS)):
        # An engine that reports no failure code (declared internal_if_message_says): only its message can say
        # it was the service's fault.
        return "internal"
    return None


@dataclass(frozen=True)
class Retry:
    """A decision to try a job again."""

    attempt: int  # the attempt to start
    max_attempts: int
    cause: RetryCause
    delay_seconds: int
    retry_at: str
    launch_options: dict[str, str]
    engine: str = ""

    def describe(self, failed: Job) -> str:
        how = declaration(self.engine).retry.describe(self.launch_options) if self.engine else ""
        return (
            f"attempt {failed.attempt} of {self.max_attempts} failed ({self.cause}): "
            f"retrying as attempt {self.attempt} of {self.max_attempts} in {self.delay_seconds} s{how}"
        )


def decide(job: Job, update: StateUpdate, route: Route | None, now: datetime | None = None) -> Retry | None:
    """Whether this failure of ``job`` is retried under its route's policy (None: it is final)."""
    if route is None or job.attempt >= job.max_attempts:
        return None
    cause = failure_cause(update, uses_spot=_uses_spot(route))
    if cause is None or cause not in route.retry.causes:
        return None
    attempt = job.attempt + 1
    delay = route.retry.delay_before(attempt)
    # What a retry changes is the engine's to say (EMR on EC2: Spot capacity lost → the same capacity on-demand).
    options = {**job.launch_options, **declaration(route.engine).retry.launch_options(route.engine_settings(), cause)}
    at = (now or utc_now()) + timedelta(seconds=delay)
    return Retry(
        attempt=attempt,
        max_attempts=job.max_attempts,
        cause=cause,
        delay_seconds=delay,
        retry_at=to_iso(at),
        launch_options=options,
        engine=route.engine,
    )


def _uses_spot(route: Route) -> bool:
    """Whether the route asks its engine for Spot capacity (the engine's declaration knows how to tell)."""
    return declaration(route.engine).retry.uses_spot(route.engine_settings())


def final_words(job: Job, update: StateUpdate, route: Route | None) -> str | None:
    """What the alert of a final failure says about retrying (None when retrying was never on the table)."""
    if update.state is not JobState.FAILED or job.max_attempts <= 1 or update.reason_code == "ROUTE_REMOVED":
        return None
    if route is None:
        return "not retried: its route is no longer in the routes file (renamed or removed)"
    cause = failure_cause(update, uses_spot=_uses_spot(route) if route else False)
    if job.attempt >= job.max_attempts and cause is not None:
        return f"gave up: attempt {job.attempt} of {job.max_attempts} failed ({cause})"
    if cause is None:
        return f"not retried: {update.reason_code or 'this failure'} is not a cause a second attempt can fix"
    return f"not retried: the route does not retry {cause} failures"
