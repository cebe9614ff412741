"""EMR on EC2's state-change events (cluster, step) and what each means for a job: pure, tested without AWS."""

from __future__ import annotations

from typing import Any

from emr_dispatch.engines.base import EngineEvent, StepStatus, parse_reason
from emr_dispatch.engines.emr_ec2.request import NAME
from emr_dispatch.errors import MalformedEventError
from emr_dispatch.jobs import JobState, StateUpdate

CLUSTER_EVENT = "EMR Cluster State Change"
STEP_EVENT = "EMR Step Status Change"
ALIVE_STATES = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"})
_RUNNING_CLUSTER_STATES = frozenset({"RUNNING", "WAITING"})
FAILED_STEP_STATES = {"FAILED": JobState.FAILED, "INTERRUPTED": JobState.FAILED}
# A CANCELLED step decides nothing: EMR cancels the pending step of a cluster that fails to start (bootstrap,
# capacity), and the cluster's own end, which always follows, carries the real reason: TERMINATED_WITH_ERRORS
# → FAILED, TERMINATED by USER_REQUEST → CANCELLED.


def parse_event(event: dict[str, Any]) -> EngineEvent | None:
    detail_type = event.get("detail-type")
    if detail_type not in (CLUSTER_EVENT, STEP_EVENT):
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError(f"{detail_type}: detail is missing or not an object")
    cluster_id = detail.get("clusterId")
    state = detail.get("state")
    if not isinstance(cluster_id, str) or not cluster_id or not isinstance(state, str):
        raise MalformedEventError(f"{detail_type}: clusterId or state is missing")
    if detail_type == CLUSTER_EVENT:
        code, message = parse_reason(detail.get("stateChangeReason"))
        return EngineEvent(
            engine=NAME,
            engine_id=cluster_id,
            kind="cluster",
            state=state,
            name=str(detail.get("name", "")),
            reason_code=code,
            reason_message=message or text(detail.get("message")),
            time=str(event.get("time", "")),
        )
    step_id = detail.get("stepId")
    if not isinstance(step_id, str) or not step_id:
        raise MalformedEventError(f"{detail_type}: stepId is missing")
    name, time = str(detail.get("name", "")), str(event.get("time", ""))
    ended = state in ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
    status = StepStatus(
        name, state, step_id, started_at=time if state == "RUNNING" else "", ended_at=time if ended else ""
    )
    return EngineEvent(
        engine=NAME,
        engine_id=cluster_id,
        kind="step",
        state=state,
        sub_id=step_id,
        name=name,
        reason_message=text(detail.get("message")),
        time=time,
        action_on_failure=str(detail.get("actionOnFailure", "")),
        steps=(status,),
    )


def interpret(event: EngineEvent) -> StateUpdate | None:
    source = f"{event.kind} {event.state}"
    if event.kind == "step":
        detail = {"step_id": event.sub_id}
        if event.state == "RUNNING":
            return StateUpdate(JobState.RUNNING, source, detail=detail)
        if event.state == "COMPLETED":
            # A job's cluster runs exactly one step: its completion is the job's success.
            return StateUpdate(JobState.SUCCEEDED, source, "STEP_COMPLETED", event.reason_message, detail)
        if event.state in FAILED_STEP_STATES:
            return StateUpdate(
                FAILED_STEP_STATES[event.state], source, f"STEP_{event.state}", event.reason_message, detail
            )
        return None
    if event.state in _RUNNING_CLUSTER_STATES:
        return StateUpdate(JobState.RUNNING, source)
    if event.state == "TERMINATED_WITH_ERRORS":
        return StateUpdate(JobState.FAILED, source, event.reason_code or "TERMINATED_WITH_ERRORS", event.reason_message)
    if event.state == "TERMINATED":
        code = event.reason_code or "TERMINATED"
        if code == "ALL_STEPS_COMPLETED":
            return StateUpdate(JobState.SUCCEEDED, source, code, event.reason_message)
        if code == "USER_REQUEST":
            return StateUpdate(JobState.CANCELLED, source, code, event.reason_message)
        return StateUpdate(JobState.FAILED, source, code, event.reason_message)
    return None  # STARTING, BOOTSTRAPPING, TERMINATING: nothing the ledger does not know


def s3_uri(uri: str) -> str:
    """EMR reports log locations as s3n://; people and the console use s3://."""
    if uri.startswith("s3n://") or uri.startswith("s3a://"):
        uri = "s3://" + uri[6:]
    return uri if not uri or uri.endswith("/") or uri.endswith(".gz") else uri + "/"


def text(value: Any) -> str | None:
    return str(value) if value else None
