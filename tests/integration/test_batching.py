"""Batching modes: a burst on a batch route becomes ceil(N / max_count) jobs per window over manifests;
a marker object starts one job over its folder; no arrival is lost or counted twice."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import boto3
import pytest

from emr_dispatch.batches import Batches
from emr_dispatch.errors import LedgerError
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import load_event

REGION = "us-east-1"
ROUTES = """
version: 1
routes:
  - name: clicks
    match: {prefix: clicks/}
    engine: emr-ec2
    batching: {mode: batch, window_seconds: 300, max_count: 10}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--inputs-manifest={inputs_manifest_uri}", "--job-id={job_id}"]
  - name: exports
    match: {prefix: exports/}
    engine: emr-ec2
    batching: {mode: marker, marker: _SUCCESS}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}", "--job-id={job_id}"]
"""


@pytest.fixture
def overrides(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, overrides: dict[str, str], key: str, size: int = 100) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"].update(key=key, size=size)  # EventBridge keys are not form-encoded
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _scheduled_closes(stack: DeployedStack) -> list[dict[str, Any]]:
    """close-batch messages waiting (delayed) on the arrivals queue: read from moto's queue directly,
    since SQS hides them until their delay has passed."""
    from moto.sqs.models import sqs_backends

    queue_name = stack.outputs["ArrivalsQueueUrl"].rsplit("/", 1)[1]
    queue = sqs_backends["123456789012"][REGION].queues[queue_name]
    bodies = [json.loads(message.body) for message in queue._messages]
    return [body for body in bodies if body.get("emr-dispatch") == "close-batch"]


def _manifests(stack: DeployedStack) -> list[dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    bucket = stack.outputs["WorkBucketName"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="manifests/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()) for item in listed]


def test_a_burst_becomes_ceil_n_over_max_count_jobs_per_window(stack: DeployedStack, overrides: dict[str, str]) -> None:
    # Given 25 files landing on a batch route (max 10 per batch), 5 of them delivered twice
    keys = [f"clicks/2026-11-23/click-{n:03}.csv" for n in range(25)]
    results = [_arrive(stack, overrides, key) for key in keys]
    duplicates = [_arrive(stack, overrides, key) for key in keys[:5]]

    # Then every file joined a batch once, and the re-deliveries joined none
    assert [r["status"] for r in results] == ["batched"] * 25
    assert [r["status"] for r in duplicates] == ["duplicate"] * 5
    # And the two full batches were closed into jobs at once; the third waits for its window to end
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    assert len(list(ledger.list_jobs())) == 2

    # When the window ends: the delayed close messages (one per batch) reach the launcher
    closes = _scheduled_closes(stack)
    assert len(closes) == 3
    for body in closes:
        stack.invoke("LauncherFunction", body, overrides)

    # Then the burst became ceil(25 / 10) = 3 jobs, each reading a manifest; every file is in exactly one
    jobs = list(ledger.list_jobs())
    assert len(jobs) == math.ceil(25 / 10)
    manifests = _manifests(stack)
    assert sorted(manifest["count"] for manifest in manifests) == [5, 10, 10]
    listed = [item["key"] for manifest in manifests for item in manifest["inputs"]]
    assert sorted(listed) == sorted(keys)
    # And each job's step reads its manifest, never a list of keys
    emr = boto3.client("emr", region_name=REGION)
    for cluster in emr.list_clusters()["Clusters"]:
        args = emr.list_steps(ClusterId=cluster["Id"])["Steps"][0]["Config"]["Args"]
        assert any(arg.startswith("--inputs-manifest=s3://") and arg.endswith(".json") for arg in args)
        assert not any("click-" in arg for arg in args)


def test_arrivals_survive_an_invocation_that_dies_while_closing(
    stack: DeployedStack, overrides: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch filled by the 10th arrival, whose invocation dies while closing it
    for n in range(9):
        _arrive(stack, overrides, f"clicks/file-{n}.csv")

    def crash(self: Batches, batch_id: str) -> None:
        raise LedgerError("injected fault while closing")

    with monkeypatch.context() as fault:
        fault.setattr(Batches, "close", crash)
        with pytest.raises(LedgerError, match="injected fault"):
            _arrive(stack, overrides, "clicks/file-9.csv")
    # When SQS redelivers it, then it is already in the batch (not added twice)
    assert _arrive(stack, overrides, "clicks/file-9.csv")["status"] == "duplicate"

    # When the batch's window ends, then one job runs over all 10 recorded arrivals
    for body in _scheduled_closes(stack):
        stack.invoke("LauncherFunction", body, overrides)
    (manifest,) = _manifests(stack)
    assert sorted(item["key"] for item in manifest["inputs"]) == sorted(f"clicks/file-{n}.csv" for n in range(10))


def test_a_marker_starts_one_job_over_its_folder(stack: DeployedStack, overrides: dict[str, str]) -> None:
    # Given an export's parts landing, then its marker (twice)
    parts = [_arrive(stack, overrides, f"exports/2026-11-23/part-{n}.csv") for n in range(3)]
    marker = _arrive(stack, overrides, "exports/2026-11-23/_SUCCESS", size=0)
    again = _arrive(stack, overrides, "exports/2026-11-23/_SUCCESS", size=0)

    # Then the parts wait (skipped with a reason), the marker starts one job, its re-delivery none
    assert {(r["status"], r["reason"]) for r in parts} == {("skipped", "waiting for the marker object")}
    assert (marker["status"], again["status"]) == ("started", "duplicate")
    emr = boto3.client("emr", region_name=REGION)
    (cluster,) = emr.list_clusters()["Clusters"]
    args = emr.list_steps(ClusterId=cluster["Id"])["Steps"][0]["Config"]["Args"]
    landing = stack.outputs["LandingBucketName"]
    assert f"--input=s3://{landing}/exports/2026-11-23/" in args
