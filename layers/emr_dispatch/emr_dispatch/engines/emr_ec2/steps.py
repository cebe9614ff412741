"""A cluster's steps and what they mean for the job: the outcome of a route with several steps (pure but for the
ListSteps reader it is given), tested without AWS.

One step (the single-job form): its own event is the job's end, as ever (events.interpret); the cluster's end is
decided on the step list, as for several (a lone CONTINUE step that failed still ends it ALL_STEPS_COMPLETED).
Several: a step that fails
and stops the cluster (TERMINATE_CLUSTER, CANCEL_AND_WAIT) fails the job at once, naming it; one that fails with
CONTINUE lets the next steps run and fails the job when the cluster's steps are over; the job SUCCEEDS only when
every step COMPLETED. Events come out of order, so an end is decided on the list of every step (ListSteps, or the
describe call's list), never on one event alone; while a step is still pending or running (or missing from a
lagging list), nothing is decided but a step already failed: never SUCCEEDED on doubt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from emr_dispatch.aws import THROTTLING_CODES
from emr_dispatch.engines.base import EngineEvent, StepStatus
from emr_dispatch.engines.emr_ec2.events import interpret as interpret_one
from emr_dispatch.engines.emr_ec2.request import NAME
from emr_dispatch.errors import EngineError
from emr_dispatch.job_steps import FAILED_STEP_STATES, ordered_steps
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.observability import logger

CONTINUE = "CONTINUE"
_UNDECIDED = frozenset({"PENDING", "RUNNING", "CANCEL_PENDING"})

ListSteps = Callable[[str], list[dict[str, Any]]]
"""cluster id → every step of the cluster as ListSteps returns them, in the order they were submitted."""


LIST_STEPS_PAGE = 50
"""Steps per ListSteps page ("The CLI automatically paginates results to return a list greater than 50 steps",
botocore's emr model, ListSteps)."""


def list_steps_pages(job: Job) -> int:
    """How many ListSteps calls a describe of the job's cluster makes: one per 50 steps (at least one)."""
    return max(1, -(-len(job.steps) // LIST_STEPS_PAGE))


def step_statuses(steps: list[dict[str, Any]]) -> tuple[StepStatus, ...]:
    """ListSteps' steps as StepStatus (name, state, id, start and end times)."""
    found = []
    for step in steps:
        status = step.get("Status", {})
        timeline = status.get("Timeline", {})
        found.append(
            StepStatus(
                name=str(step.get("Name", "")),
                state=str(status.get("State", "")),
                step_id=str(step.get("Id", "")),
                started_at=_iso(timeline.get("StartDateTime")),
                ended_at=_iso(timeline.get("EndDateTime")),
            )
        )
    return tuple(found)


def _iso(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment) if moment else ""


def interpret_steps(event: EngineEvent, job: Job, list_steps: ListSteps) -> StateUpdate | None:
    """The job state an EMR event implies for a job of steps (``job.steps``): never SUCCEEDED on a cluster's end
    unless every step of the job is known COMPLETED."""
    names = [str(step.get("name", "")) for step in ordered_steps(job)]
    if not names:
        return interpret_one(event)  # an item written before steps were tracked
    if event.kind == "step" and len(names) == 1:
        return interpret_one(event)  # the step's own end is the job's end
    if event.kind == "step":
        if event.state in FAILED_STEP_STATES and event.action_on_failure != CONTINUE:
            update = interpret_one(event)  # it stops the cluster: the job fails now, at this step
            return _naming(update, event.name) if update else None
        last = event.name == names[-1]
        if event.state == "RUNNING" or (event.state == "COMPLETED" and not last):
            return StateUpdate(JobState.RUNNING, f"step {event.state}", detail={"step_id": event.sub_id})
        if last and (event.state == "COMPLETED" or event.state in FAILED_STEP_STATES):
            listed = _statuses(event, job, list_steps)
            return outcome(names, _with_event(listed, event), f"step {event.state}") if listed is not None else None
        return None
    if event.state == "TERMINATED" and event.reason_code == "ALL_STEPS_COMPLETED":
        if len(names) == 1 and _stops_the_cluster_on_failure(job):
            # One step that terminates the cluster if it fails: had it failed, the cluster would have ended
            # TERMINATED_WITH_ERRORS (STEP_FAILURE), so this end means it COMPLETED. No ListSteps: in a burst of
            # cluster ends it would be throttled (docs/decisions.md).
            return interpret_one(event)
        # With CONTINUE, a cluster whose steps are over ends ALL_STEPS_COMPLETED even if one of them failed.
        # Decided on every step's state, even for one step (a lone CONTINUE step that failed ends the cluster so
        # too); a list that decides nothing yet (one lagging behind) leaves the job to the sweeper's next look.
        statuses = _statuses(event, job, list_steps)
        if statuses is None:
            return None
        return outcome(names, statuses, "cluster TERMINATED") or _first_failed(names, statuses, "cluster TERMINATED")
    return interpret_one(event)


def _stops_the_cluster_on_failure(job: Job) -> bool:
    """Whether the job's only step terminates the cluster when it fails: the single-job form, or one step left at
    the default action. Read from the route snapshot the job carries (JSON; no route model in the tracker)."""
    try:
        route = json.loads(job.route_snapshot) if job.route_snapshot else None
    except ValueError:
        return False
    if not isinstance(route, dict):
        return False
    steps = route.get("steps")
    if steps is None:
        return route.get("job") is not None
    return (
        isinstance(steps, list)
        and len(steps) == 1
        and isinstance(steps[0], dict)
        and steps[0].get("action_on_failure", "terminate_cluster") == "terminate_cluster"
    )


def outcome(names: list[str], statuses: tuple[StepStatus, ...], source: str) -> StateUpdate | None:
    """The job's end from every step's state: FAILED at the first step that failed or was cancelled, SUCCEEDED
    when every step COMPLETED, None while one is still pending or running (or missing from the list)."""
    by_name = {status.name: status for status in statuses}
    ordered = [by_name.get(name) for name in names]
    if any(status is None or status.state in _UNDECIDED for status in ordered):
        return None
    for status in ordered:
        if status is not None and status.state != "COMPLETED":
            return _failed_at(status, source)
    return StateUpdate(JobState.SUCCEEDED, source, "ALL_STEPS_COMPLETED", f"all {len(names)} steps completed")


def _first_failed(names: list[str], statuses: tuple[StepStatus, ...], source: str) -> StateUpdate | None:
    """FAILED at the first of the job's steps already failed or cancelled in a list that decides nothing else
    yet; None (never SUCCEEDED) when none did."""
    by_name = {status.name: status for status in statuses}
    ended = (by_name.get(name) for name in names)
    failed = next(
        (s for s in ended if s is not None and (s.state in FAILED_STEP_STATES or s.state == "CANCELLED")), None
    )
    return _failed_at(failed, source) if failed else None


def _failed_at(status: StepStatus, source: str) -> StateUpdate:
    verb = "was cancelled" if status.state == "CANCELLED" else f"ended {status.state}"
    code = "STEP_CANCELLED" if status.state == "CANCELLED" else f"STEP_{status.state}"
    message = f"step {_shown(status.name)} {verb}"
    return StateUpdate(JobState.FAILED, source, code, message, {"step_id": status.step_id, "step_name": status.name})


def describe_steps(cluster_id: str, steps: list[dict[str, Any]], names: list[str]) -> EngineEvent | None:
    """The step event a describe call stands for, from every step of the cluster in submission order: the first
    step that failed and stopped the cluster, else the last step once it ended. None: the steps decide nothing
    yet (the cluster's state says how far it got). Carries every step's status for the ledger."""
    statuses = step_statuses(steps)
    by_name = {status.name: status for status in statuses}
    actions = {str(step.get("Name", "")): str(step.get("ActionOnFailure", "")) for step in steps}
    order = names or [status.name for status in statuses]
    chosen = next(
        (
            by_name[name]
            for name in order
            if name in by_name and by_name[name].state in FAILED_STEP_STATES and actions.get(name) != CONTINUE
        ),
        None,
    )
    last = by_name.get(order[-1]) if order else None
    if chosen is None and last is not None and (last.state == "COMPLETED" or last.state in FAILED_STEP_STATES):
        chosen = last
    if chosen is None:
        return None
    step = next(step for step in steps if step.get("Id") == chosen.step_id)
    reason = step.get("Status", {}).get("StateChangeReason", {}).get("Message")
    return EngineEvent(
        engine=NAME,
        engine_id=cluster_id,
        kind="step",
        state=chosen.state,
        sub_id=chosen.step_id,
        name=chosen.name,
        reason_message=str(reason) if reason else None,
        action_on_failure=actions.get(chosen.name, ""),
        steps=statuses,
    )


def _statuses(event: EngineEvent, job: Job, list_steps: ListSteps) -> tuple[StepStatus, ...] | None:
    """Every step's status: the describe call's list when the event came with one, else ListSteps. None when
    ListSteps is throttled (a burst of clusters ending at once): the job is left undecided for the sweeper, whose
    describes are paced below ListSteps' quota, instead of failing the event's delivery."""
    if len(event.steps) >= len(job.steps):
        return event.steps
    try:
        return step_statuses(list_steps(event.engine_id))
    except EngineError as exc:
        if exc.code not in THROTTLING_CODES:
            raise
        logger.warning("list steps throttled", job_id=job.job_id, cluster_id=event.engine_id, event_state=event.state)
        return None


def _with_event(statuses: tuple[StepStatus, ...], event: EngineEvent) -> tuple[StepStatus, ...]:
    """The list with the event's own step in the event's state (a list read right after may lag behind it)."""
    return tuple(
        StepStatus(s.name, event.state, s.step_id or (event.sub_id or ""), s.started_at, s.ended_at)
        if s.name == event.name
        else s
        for s in statuses
    )


def _naming(update: StateUpdate, name: str) -> StateUpdate:
    message = f"step {_shown(name)} failed" + (f": {update.reason_message}" if update.reason_message else "")
    return StateUpdate(update.state, update.source, update.reason_code, message, {**update.detail, "step_name": name})


def _shown(name: str) -> str:
    from emr_dispatch import NAME_PREFIX

    return repr(name.removeprefix(NAME_PREFIX))
