"""A quota is a reason to wait, never to lose an arrival (DESIGN.md invariant 10): a start that EMR throttles or
refuses for a quota waits QUEUED in the ledger, with its reason, and starts when the quota allows."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.quotas import EMR, QuotaMeter, Rate
from moto_helpers import receive_as_lambda_event
from sample_events import load_event

REGION = "us-east-1"


def _arrival(stack: DeployedStack, key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    return event


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def _control_messages(stack: DeployedStack) -> dict[str, Any]:
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    for record in messages["Records"]:
        assert json.loads(record["body"])["emr-dispatch"] == "start-queued"
    return messages


def test_a_throttled_arrival_waits_queued_with_its_reason_and_starts_when_the_quota_allows(
    stack: DeployedStack, quota_meter: QuotaMeter
) -> None:
    # Given an account whose RunJobFlow bucket is empty (burst 1, spent) and refills slowly
    quota_meter.quotas = replace(quota_meter.quotas, api={**quota_meter.quotas.api, (EMR, "RunJobFlow"): Rate(1, 0.01)})
    emr = boto3.client("emr", region_name=REGION)
    someone_else = {"Name": "someone-else", "Instances": {"KeepJobFlowAliveWhenNoSteps": False}}
    emr.run_job_flow(**someone_else, ReleaseLabel="emr-7.5.0")  # type: ignore[arg-type]
    with pytest.raises(emr.exceptions.ClientError, match="ThrottlingException"):
        emr.run_job_flow(**someone_else, ReleaseLabel="emr-7.5.0")  # type: ignore[arg-type]

    # When an arrival is launched
    response = stack.invoke("LauncherFunction", {"Records": [_sqs_record(stack, "raw/orders/2026-11-23/a.csv")]})

    # Then the message succeeds (nothing for SQS to retry or dead-letter) and the job waits QUEUED with its reason
    assert response == {"batchItemFailures": []}
    (job,) = [job for job in _ledger(stack).list_jobs() if job.route == "orders-daily"]
    assert job.state is JobState.QUEUED
    assert job.wait_reason == "throttled by emr-ec2"
    assert job.wait_until is not None
    assert quota_meter.report.throttled[(EMR, "RunJobFlow")] >= 1

    # When the quota has refilled and the start-queued request the launcher scheduled is delivered
    quota_meter.clock.advance(120)
    messages = _control_messages(stack)
    assert messages["Records"], "the launcher asked to be woken when the next start is due"
    assert stack.invoke("LauncherFunction", messages) == {"batchItemFailures": []}

    # Then the job started, once
    started = _ledger(stack).get(job.job_id)
    assert started is not None
    assert started.state is JobState.SUBMITTED
    assert [c["Id"] for c in emr.list_clusters()["Clusters"] if c["Name"] != "someone-else"] == [started.engine_id]


def test_a_start_refused_for_the_active_cluster_quota_waits_instead_of_failing(
    stack: DeployedStack, quota_meter: QuotaMeter
) -> None:
    # Given an account at its active-cluster quota (1 here; 500 by default)
    quota_meter.quotas = replace(quota_meter.quotas, active_clusters=1)
    emr = boto3.client("emr", region_name=REGION)
    other = emr.run_job_flow(
        Name="someone-else", Instances={"KeepJobFlowAliveWhenNoSteps": True}, ReleaseLabel="emr-7.5.0"
    )

    # When an arrival is launched, then it waits QUEUED for the quota (no FAILED, no alert)
    result = stack.invoke("LauncherFunction", _arrival(stack, "raw/orders/2026-11-23/b.csv"))["results"][0]
    assert result["status"] == "queued"
    job = _ledger(stack).get(result["job_id"])
    assert job is not None
    assert job.state is JobState.QUEUED
    assert "quota" in (job.wait_reason or "")
    assert quota_meter.report.refused[(EMR, "RunJobFlow")] == 1

    # When the other cluster ends and the launcher's request comes due, then the job starts
    emr.terminate_job_flows(JobFlowIds=[other["JobFlowId"]])
    quota_meter.clock.advance(120)
    assert stack.invoke("LauncherFunction", _control_messages(stack)) == {"batchItemFailures": []}
    started = _ledger(stack).get(result["job_id"])
    assert started is not None
    assert started.state is JobState.SUBMITTED


def _sqs_record(stack: DeployedStack, key: str) -> dict[str, Any]:
    record: dict[str, Any] = load_event("sqs-s3-batch.json")["Records"][0]
    return {**record, "body": json.dumps(_arrival(stack, key))}
