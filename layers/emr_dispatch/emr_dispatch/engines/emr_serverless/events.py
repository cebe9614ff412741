"""EMR Serverless' job-run events: what EventBridge sends about a job run, and the job state each one means."""

from __future__ import annotations

from typing import Any

from emr_dispatch.engines.base import EngineEvent, text_field
from emr_dispatch.errors import MalformedEventError
from emr_dispatch.jobs import JobState, StateUpdate

NAME = "emr-serverless"
STATE_EVENT = "EMR Serverless Job Run State Change"
RETRY_EVENT = "EMR Serverless Job Run Retry"
_STATES = {
    "RUNNING": JobState.RUNNING,
    "SUCCESS": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
}


def parse_event(event: dict[str, Any]) -> EngineEvent | None:
    """A job-run state change or retry event as an EngineEvent; None for other detail-types."""
    detail_type = event.get("detail-type")
    if detail_type not in (STATE_EVENT, RETRY_EVENT):
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError(f"{detail_type}: detail is missing or not an object")
    application_id = text_field(detail, "applicationId")
    job_run_id = text_field(detail, "jobRunId", "id")
    state = text_field(detail, "state") or ""
    if not application_id or not job_run_id or (detail_type == STATE_EVENT and not state):
        raise MalformedEventError(f"{detail_type}: applicationId, jobRunId or state is missing")
    return EngineEvent(
        engine=NAME,
        engine_id=f"{application_id}/{job_run_id}",
        kind="retry" if detail_type == RETRY_EVENT else "job-run",
        state=state,
        name=text_field(detail, "jobRunName", "name") or "",
        reason_message=text_field(detail, "stateDetails", "message"),
        time=str(event.get("time", "")),
    )


def interpret(event: EngineEvent) -> StateUpdate | None:
    """The job state an event means, or None for states that change nothing (SUBMITTED, PENDING, SCHEDULED,
    QUEUED, CANCELLING)."""
    if event.kind == "retry":
        # The engine retries the run itself: the job is (again) running; the ledger records it.
        return StateUpdate(JobState.RUNNING, "job-run RETRY", "ENGINE_RETRY", event.reason_message)
    target = _STATES.get(event.state)
    if target is None:
        return None
    code = f"JOB_RUN_{event.state}" if target.is_terminal else None
    return StateUpdate(target, f"job-run {event.state}", code, event.reason_message)
