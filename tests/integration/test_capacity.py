"""Capacity caps: over a route's (or the overall) cap a job waits QUEUED, and queued jobs start in FIFO
order as slots free — the tracker asks through the arrivals queue, the launcher starts them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from emr_dispatch.capacity import Capacity
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome
from moto_helpers import receive_as_lambda_event
from sample_events import load_event

REGION = "us-east-1"
ROUTES = """
version: 1
max_concurrent_jobs: {total}
routes:
  - name: capped
    match: {{prefix: capped/}}
    engine: emr-ec2
    max_concurrent: {per_route}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
  - name: other
    match: {{prefix: other/}}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
"""


def _routes_file(tmp_path: Path, per_route: int, total: int) -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.format(per_route=per_route, total=total), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, overrides: dict[str, str], key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = key  # EventBridge keys are not form-encoded
    time.sleep(0.002)  # distinct arrival times: FIFO is by claim time
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _finish(stack: DeployedStack, overrides: dict[str, str], cluster_id: str) -> list[dict[str, Any]]:
    """Run a cluster to success through the tracker, then hand the launcher, as Lambda's SQS source would,
    what the tracker put on the arrivals queue. Returns the jobs that left QUEUED, in the order they started."""
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    queued_before = {job.job_id for job in ledger.list_jobs() if job.state.value == "QUEUED"}
    for event in EmrEc2Simulator(region=REGION).run(cluster_id, Outcome.SUCCEED):
        stack.invoke("TrackerFunction", event, overrides)
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    for record in messages["Records"]:
        assert json.loads(record["body"])["emr-dispatch"] == "start-queued"
    if messages["Records"]:
        assert stack.invoke("LauncherFunction", messages, overrides) == {"batchItemFailures": []}
    started = [job for job in ledger.list_jobs() if job.job_id in queued_before and job.state.value == "SUBMITTED"]
    started.sort(key=lambda job: job.history[-1]["at"])
    return [{"status": "started", "job_id": job.job_id, "engine_id": job.engine_id} for job in started]


@pytest.fixture
def ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def test_over_the_route_cap_jobs_queue_and_start_in_fifo_order(
    stack: DeployedStack, ledger: Ledger, tmp_path: Path
) -> None:
    # Given a route capped at 2 concurrent jobs and 5 files arriving in order
    overrides = _routes_file(tmp_path, per_route=2, total=100)
    results = [_arrive(stack, overrides, f"capped/file-{n}.csv") for n in range(5)]

    # Then 2 start and 3 wait QUEUED
    assert [r["status"] for r in results] == ["started", "started", "queued", "queued", "queued"]
    queued_ids = [r["job_id"] for r in results[2:]]
    capacity = Capacity(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    assert capacity.active("capped") == 2

    # When running jobs finish one by one
    started_order: list[str] = []
    running = [r["engine_id"] for r in results[:2]]
    while running:
        cluster_id = running.pop(0)
        newly_started = [r for r in _finish(stack, overrides, cluster_id) if r["status"] == "started"]
        started_order += [r["job_id"] for r in newly_started]
        running += [r["engine_id"] for r in newly_started]

    # Then each freed slot started the oldest queued job: FIFO, never more than 2 at once
    assert started_order == queued_ids
    assert capacity.active("capped") == 0
    assert {job.state.value for job in ledger.list_jobs()} == {"SUCCEEDED"}
    for job_id in queued_ids:
        job = ledger.get(job_id)
        assert job is not None
        assert [entry["state"] for entry in job.history][:3] == ["QUEUED", "SUBMITTING", "SUBMITTED"]


def test_the_overall_cap_holds_across_routes(stack: DeployedStack, ledger: Ledger, tmp_path: Path) -> None:
    # Given an overall cap of 1 and arrivals on two routes
    overrides = _routes_file(tmp_path, per_route=5, total=1)
    first = _arrive(stack, overrides, "capped/a.csv")
    second = _arrive(stack, overrides, "other/b.csv")

    # Then the second route's job waits for the first route's
    assert (first["status"], second["status"]) == ("started", "queued")

    # When the first finishes, then the other route's job starts
    started = [r for r in _finish(stack, overrides, first["engine_id"]) if r["status"] == "started"]
    assert [r["job_id"] for r in started] == [second["job_id"]]


def test_a_duplicate_of_a_queued_arrival_is_not_queued_twice(
    stack: DeployedStack, ledger: Ledger, tmp_path: Path
) -> None:
    # Given a full route and a queued arrival
    overrides = _routes_file(tmp_path, per_route=1, total=100)
    assert _arrive(stack, overrides, "capped/a.csv")["status"] == "started"
    queued = _arrive(stack, overrides, "capped/b.csv")
    assert queued["status"] == "queued"

    # When the queued arrival is delivered again, then it is a duplicate
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = "capped/b.csv"
    again = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    assert again["status"] == "duplicate"
    assert len([job for job in ledger.list_jobs() if job.state.value == "QUEUED"]) == 1
