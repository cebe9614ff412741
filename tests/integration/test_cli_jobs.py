"""emr-dispatch jobs cancel / retry / list --since against template.yaml deployed into moto: exit codes and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from capped_routes import arrive, capped_routes
from emr_dispatch.control import retry_body
from emr_dispatch.jobs import JobState, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.cli import EXIT_NO_STACK, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, app
from emr_dispatch_tools.cli import jobs as jobs_command
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline import iam
from moto_helpers import cluster_state, clusters, launch_classic, receive_as_lambda_event

STACK = "emr-dispatch-test"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMR_DISPATCH_TABLE", "EMR_DISPATCH_STACK"):
        monkeypatch.delenv(name, raising=False)


def _cli(*args: str) -> Any:
    return runner.invoke(app, [*args, "--stack", STACK, "--output", "json"])


def _deliver_arrivals_queue(stack: DeployedStack) -> dict[str, Any]:
    """What the CLI put on the arrivals queue, delivered to the launcher as its SQS trigger would."""
    event = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    result: dict[str, Any] = stack.invoke("LauncherFunction", event)
    return result


def test_cancel_records_then_terminates_and_retry_starts_attempt_two(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a job running on its own cluster
    launched = launch_classic(stack)

    # When an operator cancels it with a reason
    result = _cli("jobs", "cancel", launched.job_id, "--reason", "wrong partner file")

    # Then the job is CANCELLED with the operator's reason recorded first, and its cluster is terminated
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["state"] == "CANCELLED"
    assert shown["reason_code"] == "CANCELLED_BY_OPERATOR"
    assert shown["reason_message"] == "wrong partner file"
    assert shown["actions"][0].startswith(f"terminating {launched.cluster_id}: job CANCELLED")
    assert f"terminated {launched.cluster_id}" in shown["actions"]
    assert cluster_state(launched.cluster_id) == "TERMINATED"
    assert shown["history"][-1]["source"].startswith("operator: arn:aws:")
    # ... and cancelling it again is refused: it already ended
    assert _cli("jobs", "cancel", launched.job_id).exit_code == EXIT_REFUSED

    # When the operator asks for a new attempt
    result = _cli("jobs", "retry", launched.job_id, "--wait", "0")
    assert result.exit_code == 0, result.output
    asked = json.loads(result.stdout)
    assert (asked["job_id"], asked["attempt"], asked["previous_state"]) == (launched.job_id, 2, "CANCELLED")
    # ... and the launcher receives the request (nothing fails)
    assert _deliver_arrivals_queue(stack) == {"batchItemFailures": []}

    # Then attempt 2 of the same job, same inputs, runs on a new cluster named for attempt 2
    job = ledger.get(launched.job_id)
    assert job is not None
    assert (job.state, job.attempt) == (JobState.SUBMITTED, 2)
    assert job.engine_id not in (None, launched.cluster_id)
    assert job.input_uris == [launched.result["uri"]]
    assert job.reason_code is None
    # ... the cancelled attempt kept among the job's attempts, and no automatic retry after this one
    assert [(item["attempt"], item["state"], item["engine_id"]) for item in job.attempts] == [
        (1, "CANCELLED", launched.cluster_id)
    ]
    assert job.max_attempts == 2
    names = {cluster["Id"]: cluster["Name"] for cluster in clusters()}
    assert names[str(job.engine_id)].endswith("-a2")
    assert [entry["state"] for entry in job.history][-3:] == ["QUEUED", "SUBMITTING", "SUBMITTED"]
    # ... and a running job is not retried
    assert _cli("jobs", "retry", launched.job_id, "--wait", "0").exit_code == EXIT_REFUSED


def test_exit_codes_say_what_is_missing(stack: DeployedStack) -> None:
    # When a job does not exist, then retry and cancel exit "not found", naming it
    for command in ("retry", "cancel"):
        result = _cli("jobs", command, "no-such-job")
        assert result.exit_code == EXIT_NOT_FOUND, result.output
        assert "no job no-such-job" in json.loads(result.stdout)["error"]  # -o json: the error is the document
    # When the stack does not exist, then the exit code says so
    result = runner.invoke(app, ["jobs", "list", "--stack", "not-deployed", "-o", "json"])
    assert result.exit_code == EXIT_NO_STACK, result.output
    # When the table named does not exist, then the same
    result = runner.invoke(app, ["jobs", "list", "--table", "no-such-table", "-o", "json"])
    assert result.exit_code == EXIT_NO_STACK, result.output
    # ... and nothing was created meanwhile
    assert "no-such-table" not in boto3.client("dynamodb", region_name=stack.region).list_tables()["TableNames"]


def test_jobs_list_since(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a job launched just now
    launched = launch_classic(stack)
    # When jobs created in the last hour are listed, then it is there; since a later time, it is not
    recent = json.loads(_cli("jobs", "list", "--since", "1h").stdout)
    assert [job["job_id"] for job in recent] == [launched.job_id]
    assert json.loads(_cli("jobs", "list", "--since", "2999-01-01T00:00:00Z").stdout) == []
    # ... and a since that is neither an age nor a time is a usage error
    assert _cli("jobs", "list", "--since", "yesterday").exit_code == EXIT_USAGE


def test_a_failed_job_whose_alert_is_unpublished_is_not_retried_yet(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a job that ended FAILED and whose alert is still in the outbox (SNS refused it, say)
    launched = launch_classic(stack)
    job = ledger.get(launched.job_id)
    assert job is not None
    failed = ledger.transition(job, StateUpdate(JobState.FAILED, "test", "STEP_FAILURE", "x"), alert=True)
    assert failed is not None
    assert failed.alert_pending

    # When an operator asks for a retry, from the CLI or straight through the launcher
    refused = _cli("jobs", "retry", launched.job_id, "--wait", "0")
    direct = stack.invoke("LauncherFunction", json.loads(retry_body(launched.job_id, "test")))

    # Then both refuse (the new attempt would clear the outbox, and the alert would never go out)
    assert refused.exit_code == EXIT_REFUSED, refused.output
    assert "not yet published" in refused.output
    assert direct["results"][0]["status"] == "skipped"
    after = ledger.get(launched.job_id)
    assert after is not None
    assert (after.attempt, after.alert_pending) == (1, True)


def test_time_filters_and_a_cancel_from_anywhere(
    stack: DeployedStack, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Given a job created long ago that ended just now (as a timed-out job does), and an operator in a folder
    # with no routes file, the region given only as AWS_REGION
    launched = launch_classic(stack)
    table = stack.outputs["LedgerTableName"]
    boto3.client("dynamodb", region_name=stack.region).update_item(
        TableName=table,
        Key={"pk": {"S": f"JOB#{launched.job_id}"}, "sk": {"S": "JOB"}},
        UpdateExpression="SET created_at = :old",
        ExpressionAttributeValues={":old": {"S": "2026-01-01T00:00:00.000Z"}},
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", stack.region)
    # When it is cancelled there (no config/routes.yaml)
    cancelled = _cli("jobs", "cancel", launched.job_id, "--reason", "stuck")
    assert cancelled.exit_code == 0, cancelled.output

    # Then --since (last change) and --ended-since find it, --created-since 1h does not
    def listed(*options: str) -> list[str]:
        result = _cli("jobs", "list", "--state", "CANCELLED", *options)
        assert result.exit_code == 0, result.output
        return [row["job_id"] for row in json.loads(result.stdout)]

    assert listed("--since", "1h") == [launched.job_id]
    assert listed("--ended-since", "1h") == [launched.job_id]
    assert listed("--created-since", "1h") == []


def test_retry_of_a_job_whose_route_was_removed_says_the_launcher_refused_it(
    stack: DeployedStack, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job of route "alpha" that ended (cancelled by an operator)
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    with_alpha = capped_routes(tmp_path / "before", "alpha", cap=5)
    launched = arrive(stack, with_alpha, "alpha/orders.csv")
    assert launched["status"] == "started", launched
    assert _cli("jobs", "cancel", launched["job_id"], "--reason", "wrong file").exit_code == 0
    # ... and routes deployed since then that no longer have "alpha"
    without_alpha = capped_routes(tmp_path / "after", "beta", cap=5)
    delivered: list[dict[str, Any]] = []

    def launcher_runs(_: float) -> None:  # while the CLI waits, the launcher's SQS trigger delivers the request
        with iam.acting_as(None):  # Lambda's event source mapping, not the operator
            event = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
            if event["Records"]:
                delivered.append(stack.invoke("LauncherFunction", event, without_alpha))

    monkeypatch.setattr(jobs_command, "_pause", launcher_runs)

    # When on-call asks for a new attempt
    result = _cli("jobs", "retry", launched["job_id"], "--wait", "30")

    # Then the command says the launcher refused it and why, and exits "refused" (nothing will start)
    assert result.exit_code == EXIT_REFUSED, result.output
    error = json.loads(result.stdout)["error"]
    assert "refused attempt 2" in error
    assert "route alpha is not in the routes file" in error
    assert delivered
    assert delivered[0]["batchItemFailures"] == []
    # ... and the job is as it was: attempt 1, CANCELLED, no new cluster
    job = ledger.get(launched["job_id"])
    assert job is not None
    assert (job.attempt, job.state) == (1, JobState.CANCELLED)
    assert len(clusters()) == 1


def test_retry_waits_for_the_launcher_and_says_which_attempt_started(
    stack: DeployedStack, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an ended job
    launched = launch_classic(stack)
    assert _cli("jobs", "cancel", launched.job_id, "--reason", "wrong file").exit_code == 0

    def launcher_runs(_: float) -> None:  # while the CLI waits, the launcher's SQS trigger delivers the request
        with iam.acting_as(None):  # Lambda's event source mapping, not the operator
            _deliver_arrivals_queue(stack)

    monkeypatch.setattr(jobs_command, "_pause", launcher_runs)

    # When on-call asks for a new attempt and the launcher takes the request while the command waits
    result = _cli("jobs", "retry", launched.job_id)

    # Then the command reports the attempt the launcher recorded, with its state
    assert result.exit_code == 0, result.output
    answered = json.loads(result.stdout)
    assert (answered["attempt"], answered["answer"], answered["state"]) == (2, "started", "SUBMITTED")
