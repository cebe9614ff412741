"""What a cluster's steps mean for a job of several steps (engines/emr_ec2/steps.py), from EMR's event and ListSteps
shapes: a step that stops the cluster fails the job at once, a CONTINUE failure fails it when the steps are over,
success needs every step COMPLETED, and nothing is decided while a step is pending or running."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from builders import job as build_job
from emr_dispatch.engines.base import EngineEvent
from emr_dispatch.engines.emr_ec2.events import parse_event
from emr_dispatch.engines.emr_ec2.steps import describe_steps, interpret_steps
from emr_dispatch.job_steps import initial_steps
from emr_dispatch.jobs import Job, JobState
from emr_dispatch_tools.render import step_lines
from sample_events import STEP_EVENT_FILES, load_event

NAMES = ("emr-dispatch-clean", "emr-dispatch-load", "emr-dispatch-publish")


def _job() -> Job:
    job = build_job()
    job.engine_id = "j-CLUSTER"
    job.steps = initial_steps(NAMES)
    return job


def _listed(*states: str, actions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """ListSteps' Steps (botocore emr StepSummary), in submission order."""
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    return [
        {
            "Id": f"s-{index}",
            "Name": name,
            "ActionOnFailure": (actions[index] if actions else "TERMINATE_CLUSTER"),
            "Status": {"State": state, "StateChangeReason": {}, "Timeline": {"StartDateTime": at}},
        }
        for index, (name, state) in enumerate(zip(NAMES, states, strict=True))
    ]


def _step_event(name: str, state: str, action: str = "TERMINATE_CLUSTER") -> EngineEvent:
    event = load_event("emr-step-failed.json")
    event["detail"].update(name=name, state=state, actionOnFailure=action, clusterId="j-CLUSTER")
    parsed = parse_event(event)
    assert parsed is not None
    return parsed


def _never(cluster_id: str) -> list[dict[str, Any]]:
    raise AssertionError("ListSteps is not needed here")


def test_the_first_step_completing_does_not_end_a_job_of_three() -> None:
    # Given the first of three steps completed
    update = interpret_steps(_step_event(NAMES[0], "COMPLETED"), _job(), _never)
    # Then the job is running, not done
    assert update is not None
    assert update.state is JobState.RUNNING


def test_a_step_that_stops_the_cluster_fails_the_job_at_once_naming_it() -> None:
    # Given the Hive step failed with TERMINATE_CLUSTER
    update = interpret_steps(_step_event(NAMES[1], "FAILED"), _job(), _never)
    # Then the job fails at that step (no ListSteps needed: the cluster stops)
    assert update is not None
    assert update.state is JobState.FAILED
    assert update.detail["step_name"] == NAMES[1]
    assert "'load'" in (update.reason_message or "")


def test_a_continue_failure_decides_nothing_until_the_last_step_ends() -> None:
    # Given the Hive step failed with CONTINUE, the command step still to run
    assert interpret_steps(_step_event(NAMES[1], "FAILED", "CONTINUE"), _job(), _never) is None
    # When the last step completes (ListSteps shows the earlier failure)
    listed = _listed("COMPLETED", "FAILED", "COMPLETED", actions=("TERMINATE_CLUSTER", "CONTINUE", "TERMINATE_CLUSTER"))
    update = interpret_steps(_step_event(NAMES[2], "COMPLETED"), _job(), lambda cluster: listed[::-1])
    # Then the job fails, naming the step that failed
    assert update is not None
    assert update.state is JobState.FAILED
    assert update.detail["step_name"] == NAMES[1]


def test_the_last_steps_completion_succeeds_only_when_every_step_completed() -> None:
    # Given the last step's COMPLETED event, and a ListSteps that lags behind it (still RUNNING)
    listed = _listed("COMPLETED", "COMPLETED", "RUNNING")
    update = interpret_steps(_step_event(NAMES[2], "COMPLETED"), _job(), lambda cluster: listed[::-1])
    # Then the event's own state counts: every step completed
    assert update is not None
    assert update.state is JobState.SUCCEEDED
    # But an earlier step still pending decides nothing yet
    listed = _listed("COMPLETED", "PENDING", "RUNNING")
    assert interpret_steps(_step_event(NAMES[2], "COMPLETED"), _job(), lambda cluster: listed[::-1]) is None


def test_a_cluster_that_ended_all_steps_completed_fails_a_job_whose_continue_step_failed() -> None:
    # Given the cluster's TERMINATED / ALL_STEPS_COMPLETED (EMR's end after a CONTINUE failure too)
    event = EngineEvent("emr-ec2", "j-CLUSTER", "cluster", "TERMINATED", reason_code="ALL_STEPS_COMPLETED")
    listed = _listed("COMPLETED", "FAILED", "COMPLETED", actions=("TERMINATE_CLUSTER", "CONTINUE", "TERMINATE_CLUSTER"))
    update = interpret_steps(event, _job(), lambda cluster: listed[::-1])
    # Then the job FAILED at the step that failed
    assert update is not None
    assert (update.state, update.detail["step_name"]) == (JobState.FAILED, NAMES[1])


def test_describe_reads_the_first_stopping_failure_or_the_last_steps_end() -> None:
    # Given ListSteps of a cluster whose Hive step failed and stopped it
    failed = describe_steps("j-CLUSTER", _listed("COMPLETED", "FAILED", "CANCELLED"), list(NAMES))
    assert failed is not None
    assert (failed.kind, failed.name, failed.state) == ("step", NAMES[1], "FAILED")
    assert [status.state for status in failed.steps] == ["COMPLETED", "FAILED", "CANCELLED"]
    # And one still running decides nothing
    assert describe_steps("j-CLUSTER", _listed("COMPLETED", "RUNNING", "PENDING"), list(NAMES)) is None


def test_jobs_show_lists_each_step_with_its_state_and_times() -> None:
    # Given a job whose first step ran and second runs
    job = _job()
    job.steps["s0"].update(state="COMPLETED", started_at="2026-11-23T09:00:00Z", ended_at="2026-11-23T09:01:30Z")
    job.steps["s1"].update(state="RUNNING", started_at="2026-11-23T09:01:31Z", step_id="s-2")
    # Then each step is one line, in order, without emr-dispatch's prefix
    assert step_lines(job) == [
        "1. clean  COMPLETED  2026-11-23T09:00:00Z → 2026-11-23T09:01:30Z (90s)",
        "2. load  RUNNING  2026-11-23T09:01:31Z → -  s-2",
        "3. publish  PENDING",
    ]


def test_the_step_samples_mean_what_they_say_for_a_job_of_three_steps() -> None:
    # Given events/ samples of the orders-warehouse route's steps (real Step Status Change shapes)
    parsed = {name: parse_event(load_event(name)) for name in STEP_EVENT_FILES}
    assert all(event is not None and event.kind == "step" for event in parsed.values())
    hive_failed, cancelled = parsed["emr-step-hive-failed.json"], parsed["emr-step-cancelled.json"]
    assert hive_failed is not None
    assert cancelled is not None
    # Then the Hive step's failure (TERMINATE_CLUSTER) fails the job at once, naming it
    update = interpret_steps(hive_failed, _job(), _never)
    assert update is not None
    assert (update.state, update.detail["step_name"]) == (JobState.FAILED, NAMES[1])
    # And the step cancelled after it decides nothing (the failure already did)
    assert interpret_steps(cancelled, _job(), _never) is None
    # And the last step failing with CONTINUE fails the job once ListSteps shows the steps are over
    continued = parsed["emr-step-failed-continue.json"]
    assert continued is not None
    assert continued.action_on_failure == "CONTINUE"
    listed = _listed("COMPLETED", "COMPLETED", "FAILED")
    update = interpret_steps(continued, _job(), lambda cluster: listed[::-1])
    assert update is not None
    assert (update.state, update.detail["step_name"]) == (JobState.FAILED, NAMES[2])


def test_a_lone_step_that_terminates_the_cluster_is_decided_by_the_clusters_end_without_list_steps() -> None:
    # Given a one-step job of the single-job form (its step terminates the cluster if it fails) and one whose only
    # step is CONTINUE, both on a cluster that ended TERMINATED / ALL_STEPS_COMPLETED
    event = EngineEvent("emr-ec2", "j-CLUSTER", "cluster", "TERMINATED", reason_code="ALL_STEPS_COMPLETED")
    single = build_job()
    single.engine_id = "j-CLUSTER"
    single.steps = initial_steps(("emr-dispatch-orders",))
    single.route_snapshot = json.dumps({"name": "orders", "job": {"entry_point": "s3://b/a.py"}, "steps": None})
    lone_continue = build_job()
    lone_continue.engine_id = "j-CLUSTER"
    lone_continue.steps = initial_steps(("emr-dispatch-only",))
    lone_continue.route_snapshot = json.dumps(
        {"name": "steps", "job": None, "steps": [{"name": "only", "action_on_failure": "continue"}]}
    )
    listed: list[str] = []

    def list_steps(cluster_id: str) -> list[dict[str, Any]]:
        listed.append(cluster_id)
        return [{"Id": "s-1", "Name": "emr-dispatch-only", "Status": {"State": "FAILED", "StateChangeReason": {}}}]

    # When each cluster end is interpreted
    decided = interpret_steps(event, single, _never)
    continued = interpret_steps(event, lone_continue, list_steps)
    # Then the single-job form SUCCEEDS on the event alone (a failed TERMINATE_CLUSTER step would have ended the
    # cluster TERMINATED_WITH_ERRORS), while the CONTINUE step is read from ListSteps and fails the job
    assert decided is not None
    assert decided.state is JobState.SUCCEEDED
    assert listed == ["j-CLUSTER"]
    assert continued is not None
    assert continued.state is JobState.FAILED
