"""Invariant 1 on every path: S3 re-delivery, `replay`, `dlq redrive arrivals`, `jobs retry` and their
interleavings with the job queued, in flight, dead-lettered or ended start at most one job (and one engine
resource per attempt) per object version, through template.yaml deployed into moto and its launcher.

S3 delivers the arrival itself (S3 → EventBridge → the stack's rule → the arrivals queue, sequencer included); replay
builds its notification from HeadObject (no sequencer); the DLQ holds the very message S3 sent. The arrivals
queue is drained into the launcher as Lambda's event source mapping would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from emr_dispatch import wiring
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.cli import app
from moto_helpers import receive_as_lambda_event

STACK = "emr-dispatch-once"
REGION = "us-east-1"
KEY = "raw/orders/2026-11-23/orders once.csv"
runner = CliRunner()


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[moto_stack.DeployedStack]:
    """template.yaml in moto, its landing bucket versioned and notifying the arrivals queue (as S3 would)."""
    for name in ("EMR_DISPATCH_TABLE", "EMR_DISPATCH_STACK"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        wiring.reset()
        try:
            deployed = moto_stack.deploy(STACK, region=REGION)
            s3 = boto3.client("s3", region_name=REGION)
            landing = deployed.outputs["LandingBucketName"]
            s3.put_bucket_versioning(Bucket=landing, VersioningConfiguration={"Status": "Enabled"})
            # As template.yaml sets it (moto's CloudFormation skips it): S3 → EventBridge → the stack's rule →
            # the arrivals queue. moto's classic notifications carry no versionId, which real S3 sends.
            s3.put_bucket_notification_configuration(
                Bucket=landing, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
            yield deployed
        finally:
            wiring.reset()


def _cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--stack", STACK, "--output", "json"])
    json.loads(result.stdout)  # -o json: whatever happened, one JSON document
    return result


def _take(queue_url: str) -> list[dict[str, Any]]:
    """Every message waiting in a queue, removed from it."""
    sqs = boto3.client("sqs", region_name=REGION)
    taken = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            taken.append(dict(message))
    return taken


def _launch(stack: moto_stack.DeployedStack) -> None:
    """The event source mapping: everything on the arrivals queue to the launcher in one batch."""
    event = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    if event["Records"]:
        assert stack.invoke("LauncherFunction", event)["batchItemFailures"] == []


def _land(stack: moto_stack.DeployedStack, body: bytes = b"order_id\n1\n") -> str:
    """The object lands; S3's notification waits on the arrivals queue. Its version id."""
    put = boto3.client("s3", region_name=REGION).put_object(
        Bucket=stack.outputs["LandingBucketName"], Key=KEY, Body=body
    )
    return str(put["VersionId"])


def _dead_letter(stack: moto_stack.DeployedStack) -> None:
    """What SQS does after 5 failed receives: S3's message moves, as it is, to the arrivals DLQ."""
    sqs = boto3.client("sqs", region_name=REGION)
    for message in _take(stack.outputs["ArrivalsQueueUrl"]):
        sqs.send_message(QueueUrl=stack.outputs["ArrivalsDeadLetterQueueUrl"], MessageBody=message["Body"])


def _copy_to_dlq(stack: moto_stack.DeployedStack) -> None:
    """S3 delivered the arrival twice: one copy is processed, the other failed its way into the DLQ."""
    sqs = boto3.client("sqs", region_name=REGION)
    messages = _take(stack.outputs["ArrivalsQueueUrl"])
    for message in messages:
        sqs.send_message(QueueUrl=stack.outputs["ArrivalsQueueUrl"], MessageBody=message["Body"])
        sqs.send_message(QueueUrl=stack.outputs["ArrivalsDeadLetterQueueUrl"], MessageBody=message["Body"])


def _jobs(stack: moto_stack.DeployedStack) -> list[Job]:
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    return list(ledger.list_jobs())


def _clusters_of(job: Job) -> list[str]:
    emr = boto3.client("emr", region_name=REGION)
    return [c["Id"] for c in emr.list_clusters()["Clusters"] if job.job_id in c["Name"]]


def _one_job(stack: moto_stack.DeployedStack) -> Job:
    (job,) = _jobs(stack)
    return job


def test_in_flight_then_replay_redrive_and_redelivery_start_nothing_twice(stack: moto_stack.DeployedStack) -> None:
    # Given an arrival whose job is in flight, and a second copy of S3's message dead-lettered
    _land(stack)
    _copy_to_dlq(stack)
    _launch(stack)
    job = _one_job(stack)
    assert job.state is JobState.SUBMITTED
    # When on-call replays the object and redrives the DLQ, and S3 delivers it once more
    replayed = _cli("replay", f"s3://{stack.outputs['LandingBucketName']}/{KEY}")
    redriven = _cli("dlq", "redrive", "arrivals")
    _launch(stack)
    # Then the replay said it would do nothing (the ledger knows the version), the redrive moved its message,
    # and there is still one job on one cluster
    assert replayed.exit_code == 8, replayed.output
    assert json.loads(replayed.stdout)[0]["action"] == "skipped"
    assert redriven.exit_code == 0, redriven.output
    assert json.loads(redriven.stdout)["moved"] == 1
    job = _one_job(stack)
    assert (job.attempt, len(_clusters_of(job))) == (1, 1)


def test_dead_lettered_then_replayed_then_redriven_starts_once(stack: moto_stack.DeployedStack) -> None:
    # Given an arrival that never got through: S3's message is in the arrivals DLQ, no job exists
    _land(stack)
    _dead_letter(stack)
    assert _jobs(stack) == []
    # When on-call replays the object (no sequencer), then redrives the DLQ (S3's own message, with one)
    replayed = _cli("replay", f"s3://{stack.outputs['LandingBucketName']}/{KEY}")
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout)[0]["action"] == "sent"
    _launch(stack)
    assert _cli("dlq", "redrive", "arrivals").exit_code == 0
    _launch(stack)
    # Then one job, one cluster: the replay and S3's event name the same object version
    job = _one_job(stack)
    assert (job.attempt, len(_clusters_of(job))) == (1, 1)


def test_redrive_and_replay_both_waiting_on_the_queue_start_once(stack: moto_stack.DeployedStack) -> None:
    # Given a dead-lettered arrival, redriven and replayed before the launcher ran at all
    _land(stack)
    _dead_letter(stack)
    assert _cli("dlq", "redrive", "arrivals").exit_code == 0
    assert _cli("replay", f"s3://{stack.outputs['LandingBucketName']}/{KEY}").exit_code == 0
    # When the launcher gets both in one batch
    _launch(stack)
    # Then one job on one cluster
    job = _one_job(stack)
    assert len(_clusters_of(job)) == 1


def test_queued_while_paused_then_replay_and_redrive_then_resume_starts_once(
    stack: moto_stack.DeployedStack,
) -> None:
    # Given a paused route and an arrival for it (a copy of S3's message also dead-lettered)
    assert _cli("routes", "pause", "orders-daily", "--reason", "partner re-sending").exit_code == 0
    _land(stack)
    _copy_to_dlq(stack)
    _launch(stack)
    job = _one_job(stack)
    assert job.state is JobState.QUEUED  # waits, not lost
    # When on-call replays it and redrives the DLQ while it waits
    _cli("replay", f"s3://{stack.outputs['LandingBucketName']}/{KEY}")
    _cli("dlq", "redrive", "arrivals")
    _launch(stack)
    assert _one_job(stack).state is JobState.QUEUED
    # ... then resumes the route
    resumed = _cli("routes", "resume", "orders-daily")
    assert resumed.exit_code == 0, resumed.output
    _launch(stack)
    # Then the one job started once
    job = _one_job(stack)
    assert job.state is JobState.SUBMITTED
    assert len(_clusters_of(job)) == 1


def test_operator_retry_with_replay_force_and_redrive_adds_one_attempt(stack: moto_stack.DeployedStack) -> None:
    # Given a job that ended (cancelled) and a copy of its arrival dead-lettered
    _land(stack)
    _copy_to_dlq(stack)
    _launch(stack)
    job = _one_job(stack)
    assert _cli("jobs", "cancel", job.job_id, "--reason", "wrong file").exit_code == 0
    # When on-call asks for a retry, replays with --force and redrives the DLQ, all before the launcher runs
    assert _cli("jobs", "retry", job.job_id, "--wait", "0").exit_code == 0
    forced = _cli("replay", f"s3://{stack.outputs['LandingBucketName']}/{KEY}", "--force")
    assert json.loads(forced.stdout)[0]["action"] == "retry-requested"
    assert _cli("dlq", "redrive", "arrivals").exit_code == 0
    _launch(stack)
    # Then exactly one new attempt started (one cluster per attempt), on the same job
    job = _one_job(stack)
    assert job.attempt == 2
    assert job.state is JobState.SUBMITTED
    assert len(_clusters_of(job)) == 2
    # ... and a replay --force now (attempt 2 in flight) starts nothing
    again = _cli("replay", f"s3://{stack.outputs['LandingBucketName']}/{KEY}", "--force")
    assert again.exit_code == 8
    assert "never started twice" in json.loads(again.stdout)[0]["detail"]


def test_a_new_version_is_a_new_arrival(stack: moto_stack.DeployedStack) -> None:
    # Given an object version with its job
    first = _land(stack)
    _launch(stack)
    # When the file is uploaded again (a new version) and S3 notifies it
    second = _land(stack, b"order_id\n1\n2\n")
    _launch(stack)
    # Then it has a job of its own, and jobs find tells the two versions apart
    assert first != second
    assert len(_jobs(stack)) == 2
    found = _cli("jobs", "find", f"s3://{stack.outputs['LandingBucketName']}/{KEY}")
    assert found.exit_code == 0, found.output
    assert {row["version"] for row in json.loads(found.stdout)} == {first, second}
    one = json.loads(
        _cli("jobs", "find", f"s3://{stack.outputs['LandingBucketName']}/{KEY}", "--version", second).stdout
    )
    assert [row["version"] for row in one] == [second]


def test_unversioned_bucket_dead_lettered_replayed_and_redriven_starts_once(
    stack: moto_stack.DeployedStack,
) -> None:
    # Given an unversioned bucket notifying the arrivals queue the classic way (no version id: etag + size name
    # the object version) and an arrival dead-lettered there
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    bucket, queue = "partner-drop-unversioned", stack.outputs["ArrivalsQueueUrl"]
    s3.create_bucket(Bucket=bucket)
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    _take(queue)  # S3's s3:TestEvent
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"order_id\n1\n")
    _dead_letter(stack)
    # When it is replayed, then redriven
    assert _cli("replay", f"s3://{bucket}/{KEY}").exit_code == 0
    assert _cli("dlq", "redrive", "arrivals").exit_code == 0
    event = receive_as_lambda_event(queue)
    results = [stack.invoke("LauncherFunction", json.loads(r["body"])) for r in event["Records"]]
    # Then the shipped routes (any bucket, prefix raw/orders/) start one job for both
    statuses = sorted(result["results"][0]["status"] for result in results)
    assert statuses == ["duplicate", "started"]
    assert len(_jobs(stack)) == 1
