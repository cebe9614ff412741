"""A start that EMR throttles beyond the SDK's retries is retried later, never lost."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from emr_dispatch.errors import EngineThrottledError
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import receive_as_lambda_event
from sample_events import load_event, with_bucket

REGION = "us-east-1"


@contextlib.contextmanager
def _emr_throttles_run_job_flow() -> Iterator[None]:
    """RunJobFlow answers ThrottlingException, as EMR does past its 0.5/s refill, on every client created
    meanwhile (the launcher creates its clients inside the invocation)."""

    def throttled(**_: Any) -> tuple[Any, dict[str, Any]]:
        response = AWSResponse("https://elasticmapreduce.us-east-1.amazonaws.com", 400, HTTPHeaders(), None)
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}, "ResponseMetadata": {}}
        return response, error

    events = boto3._get_default_session().events
    handler: Any = throttled  # a before-call handler may answer in place of AWS
    events.register("before-call.emr.RunJobFlow", handler, unique_id="test-throttle")
    try:
        yield
    finally:
        events.unregister("before-call.emr.RunJobFlow", unique_id="test-throttle")


def test_a_throttled_arrival_goes_back_to_sqs_and_starts_on_redelivery(stack: DeployedStack) -> None:
    # Given an arrival on the queue and an EMR that throttles RunJobFlow
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = stack.outputs["ArrivalsQueueUrl"]
    body = with_bucket(load_event("s3-object-created-eventbridge.json"), stack.outputs["LandingBucketName"])
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    batch = receive_as_lambda_event(queue_url)
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))

    # When the launcher handles it while throttled
    with _emr_throttles_run_job_flow():
        response = stack.invoke("LauncherFunction", batch)

    # Then the message is reported failed (SQS delivers it again) and its claim is dropped
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [batch["Records"][0]["messageId"]]
    assert list(ledger.list_jobs()) == []

    # When SQS redelivers it and EMR has capacity again, then the job starts
    retried = stack.invoke("LauncherFunction", batch)
    assert retried == {"batchItemFailures": []}
    (job,) = list(ledger.list_jobs())
    assert job.state is JobState.SUBMITTED


def test_a_throttled_queued_job_keeps_its_place(stack: DeployedStack, tmp_path: Path) -> None:
    # Given a route capped at 1 with one running and one queued job
    routes = tmp_path / "routes.yaml"
    shipped = (Path(__file__).resolve().parents[2] / "config" / "routes.yaml").read_text(encoding="utf-8")
    routes.write_text(
        shipped.replace("    timeout_minutes: 120\n", "    timeout_minutes: 120\n    max_concurrent: 1\n", 1)
    )
    overrides = {"ROUTES_FILE": str(routes)}
    landing = stack.outputs["LandingBucketName"]
    first = load_event("s3-object-created-eventbridge.json")
    first["detail"]["bucket"]["name"] = landing
    second = json_copy(first)
    second["detail"]["object"]["key"] = "raw/orders/2026-11-23/orders-0003.csv"
    started = stack.invoke("LauncherFunction", first, overrides)["results"][0]
    queued = stack.invoke("LauncherFunction", second, overrides)["results"][0]
    assert (started["status"], queued["status"]) == ("started", "queued")
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))

    # When the slot frees but EMR throttles the queued job's start
    boto3.client("emr", region_name=REGION).terminate_job_flows(JobFlowIds=[started["engine_id"]])
    ledger_job = ledger.get(started["job_id"])
    assert ledger_job is not None
    from emr_dispatch.capacity import Capacity

    Capacity(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION)).release(ledger_job)
    with _emr_throttles_run_job_flow(), pytest.raises(EngineThrottledError, match="throttled"):
        stack.invoke("LauncherFunction", {"emr-dispatch": "start-queued"}, overrides)

    # Then the job is QUEUED again, not lost, and starts when asked again
    waiting = ledger.get(queued["job_id"])
    assert waiting is not None
    assert waiting.state is JobState.QUEUED
    results = stack.invoke("LauncherFunction", {"emr-dispatch": "start-queued"}, overrides)["results"]
    assert [(r["job_id"], r["status"]) for r in results] == [(queued["job_id"], "started")]


def json_copy(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied
