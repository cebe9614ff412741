"""What operators do to jobs, beside what arrives and what engines report: cancel a job, and explain what an
object would start. (An ended job's next attempt is the launcher's: ``Launcher.retry``.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emr_dispatch.arrivals import Arrival
from emr_dispatch.engines.base import Engine
from emr_dispatch.errors import EngineError, JobNotFoundError, JobStateError
from emr_dispatch.jobs import Job, JobState, StateUpdate, job_id_for
from emr_dispatch.ledger import Ledger
from emr_dispatch.locations import manifest_key
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
    """The launcher's decisions for an object at ``s3://bucket/key`` (see ``Launcher.launch``), without any
    AWS call. With ``landed`` (the object version as HeadObject describes it) the job id is that version's;
    without, it is the one an object with no version, etag or size would get (each real version gets its own)."""
    arrival = landed or Arrival(bucket, key, 1, "", "", "", now_iso(), "explain")
    uri = arrival.uri
    if key.endswith("/"):
        return Explanation(uri, "skip", "folder marker (when empty)")
    decision = routes.decide(bucket, key, work_bucket)
    route = decision.route
    if route is None:
        return Explanation(uri, "skip", decision.reason)
    inputs: list[dict[str, Any]] = [arrival.to_record()]
    outcome, reason, identity = "start", "one job per object", arrival.identity()
    if route.batching.mode == "marker":
        if key.rsplit("/", 1)[-1] != route.batching.marker:
            return Explanation(uri, "skip", "waiting for the marker object", route.name, route.engine)
        prefix = key[: -len(route.batching.marker)]
        inputs = [{**arrival.to_record(), "key": prefix, "marker": key}]
        reason = f"marker object: one job over s3://{bucket}/{prefix}"
    elif route.batching.mode == "batch":
        work, manifest = "<work bucket>", manifest_key(route.name, "<batch id>")
        inputs = [{"bucket": work, "key": manifest, "manifest": f"s3://{work}/{manifest}", "count": 1, "size": 1}]
        outcome, identity = "batch", "batch\x00<batch id>"
        reason = f"joins the route's {route.batching.window_seconds} s batch; the batch's job would send this"
    now = now_iso()
    job = Job(job_id_for(route.name, identity), route.name, route.engine, JobState.SUBMITTING, 1, inputs, now, now)
    try:
        request = engines[route.engine].build_request(job, route)
    except EngineError as exc:
        return Explanation(uri, "fail", f"the engine would refuse it: {exc}", route.name, route.engine, job.job_id)
    return Explanation(uri, outcome, reason, route.name, route.engine, job.job_id, request)
