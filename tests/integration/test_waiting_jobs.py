"""Jobs that wait are never stranded (issue 13): queued jobs drain per route, a job's end and its slot release
are never apart, and a throttled recovery never deletes a job with its attempts (counters: test_capacity_recount)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from faults import InjectedCrashError, crash_at

from capped_routes import arrive, capped_routes
from emr_dispatch import jobs
from emr_dispatch.capacity import Capacity
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.table import job_key
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome
from moto_helpers import receive_as_lambda_event
from sample_events import load_event

REGION = "us-east-1"


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def _capacity(stack: DeployedStack) -> Capacity:
    return Capacity(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def _track_to_success(stack: DeployedStack, overrides: dict[str, str], cluster_id: str) -> None:
    for event in EmrEc2Simulator(region=REGION).run(cluster_id, Outcome.SUCCEED):
        stack.invoke("TrackerFunction", event, overrides)


def test_one_routes_backlog_never_hides_another_routes_queue(stack: DeployedStack, tmp_path: Path) -> None:
    # Given a route at its cap with 26 older jobs queued (more than one read of a queue returns) ...
    overrides = capped_routes(tmp_path, "busy", "quiet")
    busy = [arrive(stack, overrides, f"busy/file-{n}.csv") for n in range(27)]
    assert [r["status"] for r in busy].count("queued") == 26
    # ... and another route with one job running and one queued behind it
    quiet = [arrive(stack, overrides, f"quiet/file-{n}.csv") for n in range(2)]
    assert [r["status"] for r in quiet] == ["started", "queued"]

    # When the quiet route's job ends and the tracker's start-queued request reaches the launcher
    _track_to_success(stack, overrides, quiet[0]["engine_id"])
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    assert [json.loads(r["body"])["emr-dispatch"] for r in messages["Records"]] == ["start-queued"]
    assert stack.invoke("LauncherFunction", messages, overrides) == {"batchItemFailures": []}

    # Then the quiet route's queued job started; the busy route's stay queued behind its own cap
    started = _ledger(stack).get(quiet[1]["job_id"])
    assert started is not None
    assert started.state is JobState.SUBMITTED
    states = [job.state for job in _ledger(stack).list_jobs(route="busy")]
    assert states.count(JobState.QUEUED) == 26


@pytest.mark.parametrize("occurrence", [1, 2, 3])
@pytest.mark.parametrize("operation", ["UpdateItem", "TransactWriteItems"])
def test_a_jobs_end_and_its_slot_release_are_never_apart(
    stack: DeployedStack, tmp_path: Path, operation: str, occurrence: int
) -> None:
    # Given a capped route's running job
    overrides = capped_routes(tmp_path, "capped")
    running = arrive(stack, overrides, "capped/file-0.csv")
    assert _capacity(stack).active("capped") == 1

    # When the tracker dies right after one of its ledger writes while the job ends
    with contextlib.suppress(InjectedCrashError), crash_at("dynamodb", operation, "after", occurrence):
        _track_to_success(stack, overrides, running["engine_id"])

    # Then the job has ended if and only if its slot was given back
    job = _ledger(stack).get(running["job_id"])
    assert job is not None
    assert job.state.is_terminal == (_capacity(stack).active("capped") == 0)


def test_a_throttled_recovery_of_an_abandoned_retry_attempt_keeps_the_job_and_its_attempts(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job at its second attempt (the first one recorded) whose start was abandoned by a dead launcher
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = "raw/orders/2026-11-23/c.csv"
    with crash_at("emr", "RunJobFlow", "before"), pytest.raises(InjectedCrashError):
        stack.invoke("LauncherFunction", event)
    (claimed,) = list(_ledger(stack).list_jobs())
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key=job_key(claimed.job_id),
        UpdateExpression="SET attempt = :two, attempts = :earlier",
        ExpressionAttributeValues={
            ":two": {"N": "2"},
            ":earlier": {"L": [{"M": {"attempt": {"N": "1"}, "state": {"S": "FAILED"}}}]},
        },
    )
    monkeypatch.setattr(jobs, "ABANDONED_START_SECONDS", -1)

    # When the arrival is delivered again and the recovering start is throttled by EMR
    with _emr_throttles_run_job_flow(), contextlib.suppress(Exception):
        stack.invoke("LauncherFunction", event)

    # Then the job item is still there, at its attempt, with the attempt before it
    job = _ledger(stack).get(claimed.job_id)
    assert job is not None, "a throttled recovery deleted the job item"
    assert job.attempt == 2
    assert [attempt["attempt"] for attempt in job.attempts] == [1]


# ---------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _emr_throttles_run_job_flow() -> Iterator[None]:
    """RunJobFlow answers ThrottlingException ("Rate exceeded", HTTP 400), as EMR does past its 0.5/s refill."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

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
