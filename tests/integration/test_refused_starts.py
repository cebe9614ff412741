"""A start refused for a reason no retry can fix — botocore's own validation (ParamValidationError), or an
argument that renders empty — ends the job FAILED with a clear reason and exactly one alert, in the same
invocation: the arrival's message is not redelivered until its DLQ."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import boto3

from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.lambda_events import sqs_event_of
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline import contracts
from moto_helpers import Published
from sample_events import load_event

REGION = "us-east-1"
RETURNS_KEY = "raw/returns/2026-11-23/returns-0001.csv"  # the shipped emr-serverless route


def _arrival(stack: DeployedStack, key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    return event


def test_a_request_botocore_refuses_ends_the_job_failed_with_one_alert_and_no_redelivery(
    stack: DeployedStack, alerts: Callable[[], list[Published]]
) -> None:
    # Given a stack deployed without an EMR Serverless job role (EmrServerlessJobRoleName empty) whose
    # application is set: StartJobRun's executionRoleArn is empty, which botocore refuses before sending
    overrides = {"EMR_SERVERLESS_APPLICATION_ID": "00fabc123serverless"}
    # When an arrival for the EMR Serverless route comes through the arrivals queue (the harness refuses the
    # request as botocore does, and is told that this test expects it)
    with contracts.refusals_expected() as refused:
        response = stack.invoke("LauncherFunction", sqs_event_of([_arrival(stack, RETURNS_KEY)], REGION), overrides)
    assert {violation.path for violation in refused} == {"executionRoleArn"}
    # Then the message is done with (not reported for redelivery) ...
    assert response == {"batchItemFailures": []}
    # ... the job is FAILED with a reason that says what was invalid ...
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    (job,) = list(ledger.list_jobs())
    assert job.state is JobState.FAILED
    assert job.reason_code == "START_InvalidRequest"
    assert "executionRoleArn" in (job.reason_message or "")
    # ... and exactly one alert went out, even when the same arrival is delivered again
    with contracts.refusals_expected():
        stack.invoke("LauncherFunction", sqs_event_of([_arrival(stack, RETURNS_KEY)], REGION), overrides)
    published = alerts()
    assert len(published) == 1
    assert "FAILED" in published[0].subject
