"""RunJobFlow without an answer (a read timeout), end to end in moto: whether EMR created the cluster or not, one
arrival ends on exactly one cluster, and the launcher neither fails the arrival's message nor calls RunJobFlow
blindly again."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from emr_dispatch import jobs, wiring
from emr_dispatch.control import StartJob
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import clusters
from sample_events import load_event

REGION = "us-east-1"
KEY = "raw/orders/2026-11-23/orders-timeout.csv"


@contextlib.contextmanager
def run_job_flow_times_out(when: str) -> Iterator[list[int]]:
    """RunJobFlow's reply is lost: ``after`` EMR created the cluster, or ``before`` the request reached it."""
    sent = [0]

    def lose(**_: Any) -> None:
        sent[0] += 1
        raise ReadTimeoutError(endpoint_url="https://elasticmapreduce.us-east-1.amazonaws.com/")

    events: Any = boto3._get_default_session().events
    handler: Any = lose
    events.register(f"{when}-call.emr.RunJobFlow", handler, unique_id="test-timeout")
    try:
        yield sent
    finally:
        events.unregister(f"{when}-call.emr.RunJobFlow", unique_id="test-timeout")


def _arrival(stack: DeployedStack) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(KEY, safe="/")
    return event


def test_a_timeout_after_emr_created_the_cluster_adopts_it_at_once(stack: DeployedStack) -> None:
    # Given RunJobFlow's reply is lost after EMR created the cluster
    with run_job_flow_times_out("after") as sent:
        result = stack.invoke("LauncherFunction", _arrival(stack))["results"][0]
    # Then the launcher found the cluster by its name: one call, one cluster, the job on it
    assert sent == [1]
    assert result["status"] == "started"
    (cluster,) = clusters()
    assert result["engine_id"] == cluster["Id"]


def test_a_timeout_before_emr_got_the_request_keeps_the_claim_and_the_sweeper_starts_it_once(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given RunJobFlow's request is lost before EMR created anything
    with run_job_flow_times_out("before"):
        result = stack.invoke("LauncherFunction", _arrival(stack))["results"][0]
    # Then the arrival is done with (no exception, no redelivery), the job waits SUBMITTING with no cluster
    assert result["status"] == "unknown"
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    (job,) = list(ledger.list_jobs())
    assert job.state is JobState.SUBMITTING
    assert job.engine_id is None
    assert clusters() == []
    # When the start is abandoned long enough and the sweeper runs (it asks the launcher to start it again)
    monkeypatch.setattr(jobs, "ABANDONED_START_SECONDS", -1)
    for name, value in stack.function_environment("SweeperFunction").items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    report = wiring.sweeper().sweep()
    wiring.reset()
    assert job.job_id in report.starts_requested
    request = json.loads(StartJob(job.job_id, job.attempt).body())
    assert stack.invoke("LauncherFunction", request)["results"][0]["status"] == "started"
    # Then exactly one cluster runs the job
    (cluster,) = clusters()
    started = ledger.get(job.job_id)
    assert started is not None
    assert started.engine_id == cluster["Id"]
