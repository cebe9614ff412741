"""Ordered steps on EMR on EC2 against the real template in moto: a cluster runs Spark, then Hive, then a command;
the job SUCCEEDS when every step completed and FAILS naming the step that failed (alert with its reason, failure
details and log); the ledger keeps each step's state and times, from events (out of order, duplicated) and from
the sweeper's ListSteps when every event is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from capped_routes import arrive
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.lambda_events import scheduled_event
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline import contracts, iam
from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome
from moto_helpers import REGION, Published, cluster_state

Alerts = Callable[[], list[Published]]

ROUTE = """
version: 1
routes:
  - name: nightly
    match: {{prefix: nightly/}}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      applications: [Spark, Hive]
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    output: s3://{{work_bucket}}/output/{{route}}/{{job_id}}/
    retry: {{max_attempts: 1}}
    steps:
      - name: clean
        spark: {{entry_point: "s3://{{work_bucket}}/jobs/clean_csv.py", arguments: ["--input={{input_uri}}"]}}
      - name: load
        action_on_failure: {hive_action}
        hive:
          script: s3://{{work_bucket}}/hive/load.q
          variables: {{INPUT: "{{input_uri}}", OUT: "{{output_uri}}"}}
      - name: publish
        command: {{command: [aws, s3, cp, "{{input_uri}}", "{{output_uri}}_SOURCE"]}}
"""


def _routes(tmp_path: Path, hive_action: str = "terminate_cluster") -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTE.format(hive_action=hive_action), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _job(ledger: Ledger, job_id: str) -> Job:
    job = ledger.get(job_id)
    assert job is not None
    return job


def _steps(job: Job) -> list[tuple[str, str]]:
    return [(job.steps[f"s{i}"]["name"], job.steps[f"s{i}"]["state"]) for i in range(len(job.steps))]


def _launch(stack: DeployedStack, routes: dict[str, str]) -> tuple[str, str]:
    result = arrive(stack, routes, "nightly/orders.csv")
    assert result["status"] == "started", result
    return str(result["job_id"]), str(result["engine_id"])


def _track(stack: DeployedStack, events: list[dict[str, Any]]) -> list[Any]:
    return [stack.invoke("TrackerFunction", event) for event in events]


def test_a_three_step_cluster_succeeds_when_every_step_completed(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts, tmp_path: Path
) -> None:
    # Given a job of a route with a Spark, a Hive and a command step
    routes = _routes(tmp_path)
    job_id, cluster_id = _launch(stack, routes)
    # Then its cluster has the three steps, in order, and the ledger tracks each, PENDING
    listed = boto3.client("emr", region_name=REGION).list_steps(ClusterId=cluster_id)["Steps"]
    names = ["emr-dispatch-clean", "emr-dispatch-load", "emr-dispatch-publish"]
    assert sorted(step["Name"] for step in listed) == names
    assert _steps(_job(ledger, job_id)) == [
        ("emr-dispatch-clean", "PENDING"),
        ("emr-dispatch-load", "PENDING"),
        ("emr-dispatch-publish", "PENDING"),
    ]
    # When EMR runs them all
    events = list(EmrEc2Simulator().run(cluster_id))
    listed_before = contracts.LEDGER.operations["emr.ListSteps"]
    tracker_calls = iam.LEDGER.by_principal["TrackerFunction"]
    results = _track(stack, events)
    # Then the first step's completion does not end the job: the last one's does
    job = _job(ledger, job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.reason_code == "ALL_STEPS_COMPLETED"
    assert [r["state"] for r in results].index("SUCCEEDED") == len(events) - 2  # the last step's COMPLETED
    assert [state for _, state in _steps(job)] == ["COMPLETED"] * 3
    assert all(job.steps[f"s{i}"].get("started_at") and job.steps[f"s{i}"].get("ended_at") for i in range(3))
    assert alerts() == []
    # And the tracker's ListSteps (the end of a job of several steps) was checked against EMR's model and the
    # tracker's role (a violation or a denial would have failed this test through the offline checks' plugin)
    assert contracts.LEDGER.operations["emr.ListSteps"] > listed_before
    assert iam.LEDGER.by_principal["TrackerFunction"] > tracker_calls
    assert "elasticmapreduce:ListSteps" in iam.LEDGER.actions


def test_events_out_of_order_and_twice_never_move_a_step_back_nor_end_the_job_early(
    stack: DeployedStack, ledger: Ledger, tmp_path: Path
) -> None:
    # Given a three-step job whose events arrive last first, each twice
    routes = _routes(tmp_path)
    job_id, cluster_id = _launch(stack, routes)
    events = list(EmrEc2Simulator().run(cluster_id))
    step_events = [event for event in events if event["detail-type"] == "EMR Step Status Change"]
    # When the last step's COMPLETED arrives first (ListSteps says every step completed by then) ...
    _track(stack, [step_events[-1], step_events[-1]])
    assert _job(ledger, job_id).state is JobState.SUCCEEDED
    # ... and the earlier RUNNING events arrive after it
    _track(stack, [event for event in reversed(step_events) for _ in range(2)])
    # Then no step went back to RUNNING
    assert [state for _, state in _steps(_job(ledger, job_id))] == ["COMPLETED"] * 3


def test_a_failed_hive_step_fails_the_job_naming_it_with_its_details_and_log(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts, tmp_path: Path
) -> None:
    # Given a three-step job whose Hive step fails (terminate_cluster)
    routes = _routes(tmp_path)
    job_id, cluster_id = _launch(stack, routes)
    # When EMR runs it
    _track(stack, list(EmrEc2Simulator().run(cluster_id, Outcome.STEP_FAILURE, fail_at="emr-dispatch-load")))
    # Then the job FAILED at that step, the steps after it are CANCELLED
    job = _job(ledger, job_id)
    assert job.state is JobState.FAILED
    assert "'load'" in (job.reason_message or "")
    assert [state for _, state in _steps(job)] == ["COMPLETED", "FAILED", "CANCELLED"]
    # And one alert names the step, its failure details and its log
    (alert,) = alerts()
    assert "Step name:  load" in alert.message
    assert "Malformed CSV record" in alert.message
    assert f"{cluster_id}/steps/" in alert.message
    assert "stderr.gz" in alert.message


def test_with_continue_a_failed_step_lets_the_next_run_and_fails_the_job_at_the_end(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts, tmp_path: Path
) -> None:
    # Given a job whose Hive step continues on failure, and fails
    routes = _routes(tmp_path, hive_action="continue")
    job_id, cluster_id = _launch(stack, routes)
    events = list(EmrEc2Simulator().run(cluster_id, Outcome.STEP_FAILURE, fail_at="emr-dispatch-load"))
    failed_at = next(i for i, e in enumerate(events) if e["detail"].get("state") == "FAILED")
    # When EMR reports the failure
    _track(stack, events[: failed_at + 1])
    # Then the job still runs (the cluster goes on to the next step; emr-dispatch does not stop it)
    running = _job(ledger, job_id)
    assert running.state is JobState.RUNNING
    assert running.actions == []
    # When the rest of the steps and the cluster's end arrive
    _track(stack, events[failed_at + 1 :])
    # Then the job FAILED naming the step that failed, and one alert says so
    job = _job(ledger, job_id)
    assert job.state is JobState.FAILED
    assert job.reason_code == "STEP_FAILED"
    assert "'load'" in (job.reason_message or "")
    assert [state for _, state in _steps(job)] == ["COMPLETED", "FAILED", "COMPLETED"]
    (alert,) = alerts()
    assert "Step name:  load" in alert.message


@pytest.mark.parametrize("outcome", [Outcome.SUCCEED, Outcome.STEP_FAILURE])
def test_with_every_event_lost_the_sweeper_reads_the_steps_and_ends_the_job(
    stack: DeployedStack, ledger: Ledger, tmp_path: Path, outcome: Outcome
) -> None:
    # Given a three-step job whose cluster ran to its end with no event delivered
    routes = _routes(tmp_path)
    job_id, cluster_id = _launch(stack, routes)
    list(EmrEc2Simulator().run(cluster_id, outcome, fail_at="emr-dispatch-load"))
    # When the sweeper reconciles
    stack.invoke("SweeperFunction", scheduled_event(REGION), routes)
    # Then the job ended as the steps did, and each step's state is in the ledger
    job = _job(ledger, job_id)
    if outcome is Outcome.SUCCEED:
        assert job.state is JobState.SUCCEEDED
        assert [state for _, state in _steps(job)] == ["COMPLETED"] * 3
    else:
        assert job.state is JobState.FAILED
        assert [state for _, state in _steps(job)] == ["COMPLETED", "FAILED", "CANCELLED"]


def test_cancel_and_wait_fails_the_job_at_the_step_and_emr_dispatch_ends_the_waiting_cluster(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts, tmp_path: Path
) -> None:
    # Given a job whose Hive step fails with cancel_and_wait (EMR cancels the steps after it and the cluster WAITS)
    routes = _routes(tmp_path, hive_action="cancel_and_wait")
    job_id, cluster_id = _launch(stack, routes)
    # When EMR runs it
    _track(stack, list(EmrEc2Simulator().run(cluster_id, Outcome.STEP_FAILURE)))
    # Then the job FAILED at that step, and the cluster left waiting was terminated by emr-dispatch
    job = _job(ledger, job_id)
    assert job.state is JobState.FAILED
    assert [state for _, state in _steps(job)] == ["COMPLETED", "FAILED", "CANCELLED"]
    assert cluster_state(cluster_id) in ("TERMINATING", "TERMINATED")
    assert any("terminat" in action for action in job.actions)
    (alert,) = alerts()
    assert "Step name:  load" in alert.message
