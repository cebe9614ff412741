"""emr-dispatch replay against template.yaml deployed into moto: objects re-driven through the launcher."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from emr_dispatch.arrivals import Arrival, parse_s3_event
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.cli import EXIT_NOT_FOUND, app
from emr_dispatch_tools.cli.replay import notification_for
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import receive_as_lambda_event

STACK = "emr-dispatch-test"
KEYS = ("raw/orders/2026-11-23/a b+c.csv", "raw/orders/2026-11-23/second.csv")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMR_DISPATCH_TABLE", "EMR_DISPATCH_STACK"):
        monkeypatch.delenv(name, raising=False)


def _replay(*args: str) -> Any:
    return runner.invoke(app, ["replay", *args, "--stack", STACK, "--output", "json"])


def _launch_queued(stack: DeployedStack) -> list[dict[str, Any]]:
    """Deliver what waits on the arrivals queue to the launcher, one message per invocation (results kept)."""
    event = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    results = []
    for record in event["Records"]:
        results += stack.invoke("LauncherFunction", json.loads(record["body"]))["results"]
    return results


@pytest.fixture
def landed(stack: DeployedStack) -> str:
    """Two objects in the stack's (versioned) landing bucket whose events never reached emr-dispatch."""
    bucket = stack.outputs["LandingBucketName"]
    s3 = boto3.client("s3", region_name=stack.region)
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":  # template.yaml versions it; moto may not
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"order_id\n1\n")
    return bucket


def test_replay_of_a_prefix_starts_each_object_once(stack: DeployedStack, ledger: Ledger, landed: str) -> None:
    # When the prefix is replayed
    result = _replay(f"s3://{landed}/raw/orders/2026-11-23/")
    # Then each object was sent to the arrivals queue, and the launcher starts one job per object
    assert result.exit_code == 0, result.output
    assert [item["action"] for item in json.loads(result.stdout)] == ["sent", "sent"]
    started = _launch_queued(stack)
    assert sorted(item["uri"] for item in started) == [f"s3://{landed}/{key}" for key in KEYS]
    assert {item["status"] for item in started} == {"started"}

    # When it is replayed again, then nothing is sent: each object already has its job
    again = json.loads(_replay(f"s3://{landed}/raw/orders/2026-11-23/").stdout)
    assert [item["action"] for item in again] == ["skipped", "skipped"]
    assert {item["job_id"] for item in again} == {item["job_id"] for item in started}
    assert receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"]) == {"Records": []}


def test_replay_force_starts_a_new_attempt_of_an_ended_job(stack: DeployedStack, ledger: Ledger, landed: str) -> None:
    # Given one object replayed and started, whose job then failed (the step reported FAILED)
    uri = f"s3://{landed}/{KEYS[0]}"
    assert _replay(uri).exit_code == 0
    (started,) = _launch_queued(stack)
    job = ledger.get(started["job_id"])
    assert job is not None
    runner_result = runner.invoke(app, ["jobs", "cancel", job.job_id, "--stack", STACK, "-o", "json"])
    assert runner_result.exit_code == 0, runner_result.output

    # When it is replayed with --force
    result = _replay(uri, "--force")

    # Then a new attempt of the same job was asked for, and the launcher starts it
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)
    assert (item["action"], item["job_id"]) == ("retry-requested", job.job_id)
    (retried,) = _launch_queued(stack)
    assert (retried["status"], retried["job_id"]) == ("started", job.job_id)
    again = ledger.get(job.job_id)
    assert again is not None
    assert (again.state, again.attempt) == (JobState.SUBMITTED, 2)

    # When it is replayed with --force while attempt 2 runs, then nothing starts twice
    (item,) = json.loads(_replay(uri, "--force").stdout)
    assert item["action"] == "skipped"


def test_replayed_notification_decodes_to_the_object(stack: DeployedStack, landed: str) -> None:
    # Given the notification replay builds for a key with a space and a plus
    s3 = boto3.client("s3", region_name=stack.region)
    head: dict[str, Any] = dict(s3.head_object(Bucket=landed, Key=KEYS[0]))
    event = notification_for(landed, KEYS[0], head, stack.region)
    # When the launcher's parser reads it, then it is exactly that object version
    (arrival,) = parse_s3_event(event)
    assert isinstance(arrival, Arrival)
    assert (arrival.bucket, arrival.key, arrival.version_id) == (landed, KEYS[0], head["VersionId"])
    # ... and a replay of a prefix that holds nothing exits "not found"
    result = _replay(f"s3://{landed}/raw/nothing-here/")
    assert result.exit_code == EXIT_NOT_FOUND
    assert "no object" in json.loads(result.stdout)["error"]  # -o json: the error is the document
