"""Waits longer than SQS can delay a message (DelaySeconds: at most 900 s, the SQS API reference): the launcher wakes
early and asks again for the rest of the wait, so a queued job or a retry starts on time without the sweeper.
Given/When/Then, the real template deployed into moto, on a virtual clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3

from emr_dispatch.control import StartJob
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.timeutil import seconds_between
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.clock import VirtualClock
from emr_dispatch_tools.offline.drive import QueueDriver
from emr_dispatch_tools.offline.quotas import QuotaMeter
from sample_events import load_event

REGION = "us-east-1"

ROUTE = """routes:
  - name: alpha
    match: {{prefix: alpha/}}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
{retry}"""


def _routes(tmp_path: Path, header: str, retry: str = "") -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\n" + header + ROUTE.format(retry=retry), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, overrides: dict[str, str], meter: QuotaMeter, key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    meter.clock.advance(0.01)
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _job(stack: DeployedStack, job_id: str) -> Job:
    job = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION)).get(job_id)
    assert job is not None
    return job


def _driver(stack: DeployedStack, meter: QuotaMeter, overrides: dict[str, str]) -> QueueDriver:
    """The arrivals queue delivered to the launcher as messages fall due; no sweeper (it would hide a lost wake)."""
    assert isinstance(meter.clock, VirtualClock)
    return QueueDriver(
        stack.outputs["ArrivalsQueueUrl"],
        meter.clock,
        lambda event: stack.invoke("LauncherFunction", event, overrides),
    )


def test_a_queued_job_whose_start_is_due_after_sqss_longest_delay_starts_when_due(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given a start rate of one EMR on EC2 start per 1,000 s (longer than the 900 s an SQS message can be delayed)
    overrides = _routes(tmp_path, "start_rates:\n  emr-ec2: {per_second: 0.001, burst: 1}\n")
    # ... one job started (the rate's one token) and the next one waiting QUEUED for the next token
    assert _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")["status"] == "started"
    waiting = _arrive(stack, overrides, quota_meter, "alpha/file-1.csv")
    assert waiting["status"] == "queued"
    assert waiting["retry_after"] > 900

    # When the launcher's own start-queued requests are delivered as they fall due (no sweeper)
    _driver(stack, quota_meter, overrides).run(until_quiet_for=1200)

    # Then the job started once its token was due: the early wake-up at 900 s asked again for the rest of the wait
    job = _job(stack, waiting["job_id"])
    assert job.state is JobState.SUBMITTED
    assert seconds_between(job.created_at, job.submitted_at or "") >= waiting["retry_after"] - 1


def test_a_retry_whose_start_request_comes_before_its_backoff_ends_starts_when_due(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome

    # Given a route that retries Spot loss after 600 s, and a job whose first attempt lost its Spot capacity
    retry = "    retry: {max_attempts: 2, backoff_seconds: 600, causes: [spot]}\n"
    overrides = _routes(tmp_path, "", retry)
    first = _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")
    assert first["status"] == "started"
    for event in EmrEc2Simulator(region=REGION).run(first["engine_id"], Outcome.CAPACITY_FAILURE):
        stack.invoke("TrackerFunction", event, overrides)
    job = _job(stack, first["job_id"])
    assert (job.state, job.attempt) == (JobState.SUBMITTING, 2)
    assert job.retry_at is not None
    # ... whose delayed start request was lost (nothing left on the arrivals queue)
    boto3.client("sqs", region_name=REGION).purge_queue(QueueUrl=stack.outputs["ArrivalsQueueUrl"])

    # When a start request for the attempt is delivered before its backoff ends (SQS delivers at least once, and
    # another host's clock may run ahead of the tracker's)
    request = json.loads(StartJob(job.job_id, job.attempt).body())
    answer = stack.invoke("LauncherFunction", request, overrides)["results"][0]
    assert (answer["status"], answer["reason"]) == ("skipped", "retry not due yet")
    # ... and the launcher's own requests are delivered as they fall due (no sweeper)
    _driver(stack, quota_meter, overrides).run(until_quiet_for=1200)

    # Then the retry started once due, on one new cluster
    retried = _job(stack, job.job_id)
    assert (retried.state, retried.attempt) == (JobState.SUBMITTED, 2)
    assert (retried.submitted_at or "") >= job.retry_at
    assert retried.engine_id != first["engine_id"]
