"""What operators do to jobs, beside what arrives and what engines report: cancel a job, and explain what an
object would start. (An ended job's next attempt is the launcher's: ``Launcher.retry``.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emr_dispatch.arrivals import Arrival
from emr_dispatch.engines.base import Engine
from emr_dispatch.errors import EngineError, JobNotFoundError, JobStateError
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.launch_plan import BATCH, SKIP, plan_arrival
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import correlate, logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import RoutesFile
from emr_dispatch.timeutil import now_iso

CANCELLED_BY_OPERATOR = "CANCELLED_BY_OPERATOR"


def cancel_job(
    job_id: str, reason: str, requested_by: str, ledger: Ledger, engines: dict[str, Engine], outcomes: OutcomeRecorder
) -> Job:
    """Record CANCELLED and why, then stop the job's cluster or job run (the engine will only say USER_REQUEST).

    The record comes first, through the same conditional transition the tracker uses, so an engine event
    racing the cancel can neither undo it nor be undone; a job that already ended is left as it is."""
    correlate(job_id)
    job = ledger.get(job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id}")
    if job.state.is_terminal:
        raise JobStateError(f"job {job_id} already ended {job.state.value}: nothing to cancel")
    update = StateUpdate(JobState.CANCELLED, f"operator: {requested_by}", CANCELLED_BY_OPERATOR, reason)
    applied = outcomes.apply(job, update, engines[job.engine], None, stop=job.engine_id is not None)
    if applied.status != "moved":
        raise JobStateError(f"job {job_id} moved while being cancelled: look again with jobs show")
    logger.warning("job cancelled by operator", job_id=job_id, requested_by=requested_by, reason=reason)
    return applied.job


@dataclass(frozen=True)
class Explanation:
    """What the launcher would do with one object, and the engine request it would send."""

    uri: str
    outcome: str  # start | batch | skip | fail
    reason: str = ""
    route: str | None = None
    engine: str | None = None
    job_id: str | None = None
    request: dict[str, Any] | None = None


def explain(
    routes: RoutesFile,
    engines: dict[str, Engine],
    bucket: str,
    key: str,
    work_bucket: str,
    landed: Arrival | None = None,
) -> Explanation:
    """The launcher's decision for an object at ``s3://bucket/key`` (its launch plan: launch_plan.py, the very
    function the launcher calls), and the request its engine would get, without any AWS call. With ``landed``
    (the object version as HeadObject describes it) the job id is that version's; without, it is the one an
    object with no version or etag, of size 1, would get (each real version gets its own)."""
    arrival = landed or Arrival(bucket, key, 1, "", "", "", now_iso(), "explain")
    plan = plan_arrival(arrival, routes, work_bucket)
    route, job = plan.route, plan.preview()
    if route is None or job is None:
        return Explanation(plan.uri, SKIP, plan.reason, route.name if route else None, route.engine if route else None)
    reason = plan.reason + ("; the batch's job would send this" if plan.outcome == BATCH else "")
    try:
        request = plan.request(engines)
    except EngineError as exc:
        return Explanation(plan.uri, "fail", f"the engine would refuse it: {exc}", route.name, route.engine, job.job_id)
    return Explanation(plan.uri, plan.outcome, reason, route.name, route.engine, job.job_id, request)
