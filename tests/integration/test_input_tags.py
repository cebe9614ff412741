"""Input outcome tags (on_end.tag_inputs) through the deployed template in moto, with the strict contract and IAM
checks: each input version gets emr-dispatch-state and emr-dispatch-job merged with its own tags when its job
ends; an object without room, a version that is gone, an invocation that dies and a throttle are recorded and
finished by their owner, never a crash or a redelivery loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from faults import InjectedCrashError, crash_at, refusing

from emr_dispatch import tagging
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.lambda_events import scheduled_event
from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import for_cluster, load_event

REGION = "us-east-1"
ROUTES = """
version: 1
routes:
  - name: orders
    match: {prefix: orders/}
    engine: emr-ec2
    on_end: {tag_inputs: true}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}"]
  - name: plain
    match: {prefix: plain/}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}"]
  - name: clicks
    match: {prefix: clicks/}
    engine: emr-ec2
    on_end: {tag_inputs: true}
    batching: {mode: batch, window_seconds: 300, max_count: 5}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--inputs-manifest={inputs_manifest_uri}"]
  - name: exports
    match: {prefix: exports/}
    engine: emr-ec2
    on_end: {tag_inputs: true}
    batching: {mode: marker, marker: _SUCCESS}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}"]
"""
STATE, JOB = tagging.STATE_TAG, tagging.JOB_TAG


@pytest.fixture
def overrides(tmp_path: Path, stack: DeployedStack) -> dict[str, str]:
    # As template.yaml sets it (moto's CloudFormation skips the landing bucket's VersioningConfiguration)
    boto3.client("s3", region_name=REGION).put_bucket_versioning(
        Bucket=stack.outputs["LandingBucketName"], VersioningConfiguration={"Status": "Enabled"}
    )
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _put(stack: DeployedStack, key: str, tags: int = 0, body: bytes = b"a,b\n1,2\n") -> str:
    """A real object version in the landing bucket with ``tags`` tags of its own; its version id."""
    s3 = boto3.client("s3", region_name=REGION)
    tagging_header = "&".join(f"team-{n}=t{n}" for n in range(tags))  # the x-amz-tagging form, "" for none
    response = s3.put_object(Bucket=stack.outputs["LandingBucketName"], Key=key, Body=body, Tagging=tagging_header)
    return str(response["VersionId"])


def _arrive(stack: DeployedStack, overrides: dict[str, str], key: str, version_id: str, size: int = 8) -> Any:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"].update({"key": key, "size": size, "version-id": version_id})
    return stack.invoke("LauncherFunction", event, overrides)["results"][0]


def _tags(stack: DeployedStack, key: str, version_id: str) -> dict[str, str]:
    s3 = boto3.client("s3", region_name=REGION)
    tag_set = s3.get_object_tagging(Bucket=stack.outputs["LandingBucketName"], Key=key, VersionId=version_id)
    return {tag["Key"]: tag["Value"] for tag in tag_set["TagSet"]}


def _end(stack: DeployedStack, overrides: dict[str, str], job: Job, event: str = "emr-step-completed.json") -> Any:
    """EMR says the job's step ended: the tracker records the end."""
    assert job.engine_id is not None
    emr = boto3.client("emr", region_name=REGION)
    (step,) = emr.list_steps(ClusterId=job.engine_id)["Steps"]
    name = emr.describe_cluster(ClusterId=job.engine_id)["Cluster"]["Name"]
    return stack.invoke("TrackerFunction", for_cluster(event, job.engine_id, step["Id"], name), overrides)


def _job(ledger: Ledger, job_id: str) -> Job:
    job = ledger.get(job_id)
    assert job is not None
    return job


def _sweep(stack: DeployedStack, overrides: dict[str, str]) -> Any:
    return stack.invoke("SweeperFunction", scheduled_event(REGION), overrides)


def _age_claim(stack: DeployedStack, job_id: str) -> None:
    """Time passes beyond the claim's lease (the owner that took it is long gone)."""
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
        UpdateExpression="SET tags_claimed_at = :old",
        ExpressionAttributeValues={":old": {"S": "2026-01-01T00:00:00.000Z"}},
    )


def _batch_job(stack: DeployedStack, overrides: dict[str, str], versions: dict[str, str], ledger: Ledger) -> Job:
    """A full batch of the clicks route closes into a job at once (max_count 5)."""
    results = [_arrive(stack, overrides, key, version) for key, version in versions.items()]
    assert {result["status"] for result in results} == {"batched"}, results
    (cluster,) = boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]
    job = ledger.find_by_engine_id(cluster["Id"])
    assert job is not None
    return job


def test_an_ended_job_tags_its_input_merged_with_the_objects_own_tags(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger
) -> None:
    # Given an object with two tags of its own, started as a job of a route with on_end.tag_inputs
    key = "orders/2026-12-01/orders-1.csv"
    version = _put(stack, key, tags=2)
    started = _arrive(stack, overrides, key, version)
    assert started["status"] == "started", started

    # When EMR says its step completed
    result = _end(stack, overrides, _job(ledger, started["job_id"]))

    # Then the job SUCCEEDED and the input version carries its own two tags and ours, nothing replaced
    assert result["state"] == "SUCCEEDED"
    assert _tags(stack, key, version) == {"team-0": "t0", "team-1": "t1", STATE: "SUCCEEDED", JOB: started["job_id"]}
    # And the job says so, with no tagging left waiting
    job = _job(ledger, started["job_id"])
    assert "input tags: 1 tagged" in job.actions
    assert job.tags_due is None
    assert job.tags_claimed_at is None


def test_a_route_without_on_end_leaves_its_inputs_untagged(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger
) -> None:
    # Given an object with one tag of its own on a route that did not ask for tags
    key = "plain/2026-12-01/p.csv"
    version = _put(stack, key, tags=1)
    started = _arrive(stack, overrides, key, version)

    # When its job fails
    _end(stack, overrides, _job(ledger, started["job_id"]), "emr-step-failed.json")

    # Then the object's tags are as they were and no tagging waits on the job
    assert _tags(stack, key, version) == {"team-0": "t0"}
    job = _job(ledger, started["job_id"])
    assert job.state is JobState.FAILED
    assert job.tags_due is None


def test_a_batch_tags_every_member_and_records_full_objects_and_gone_versions(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger
) -> None:
    # Given five members of one batch: ordinary, 9 tags of their own, 10 tags (S3's limit), one untagged,
    # and one whose version is deleted before the job ends
    keys = {n: f"clicks/2026-12-01/c-{n}.csv" for n in range(5)}
    own = {0: 1, 1: 9, 2: 10, 3: 0, 4: 0}
    versions = {keys[n]: _put(stack, keys[n], tags=own[n]) for n in range(5)}
    job = _batch_job(stack, overrides, versions, ledger)
    s3 = boto3.client("s3", region_name=REGION)
    s3.delete_object(Bucket=stack.outputs["LandingBucketName"], Key=keys[4], VersionId=versions[keys[4]])

    # When its step fails
    result = _end(stack, overrides, job, "emr-step-failed.json")

    # Then every remaining member carries what fitted: both tags, the state tag only beside 9, none beside 10
    assert result["state"] == "FAILED"
    assert _tags(stack, keys[0], versions[keys[0]]) == {"team-0": "t0", STATE: "FAILED", JOB: job.job_id}
    nine = _tags(stack, keys[1], versions[keys[1]])
    assert (len(nine), nine[STATE], JOB in nine) == (10, "FAILED", False)
    assert _tags(stack, keys[2], versions[keys[2]]) == {f"team-{n}": f"t{n}" for n in range(10)}
    assert _tags(stack, keys[3], versions[keys[3]]) == {STATE: "FAILED", JOB: job.job_id}
    # And the job records each outcome, the gone version included; nothing waits
    ended = _job(ledger, job.job_id)
    assert "input tags: 2 tagged, 1 partial, 1 no_room, 1 gone" in ended.actions
    assert ended.tags_counts == {"tagged": 2, "partial": 1, "no_room": 1, "gone": 1}
    assert ended.tags_due is None


def test_a_batch_is_tagged_in_chunks_and_the_sweeper_continues_from_the_cursor(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given chunks of two inputs and no time for more than one chunk in the invocation that ends the job
    monkeypatch.setattr(tagging, "CHUNK", 2)
    monkeypatch.setattr(tagging, "INLINE_SECONDS", 0.0)
    keys = [f"clicks/2026-12-01/d-{n}.csv" for n in range(5)]
    versions = {key: _put(stack, key) for key in keys}
    job = _batch_job(stack, overrides, versions, ledger)

    # When the job succeeds
    _end(stack, overrides, job)

    # Then the tracker tagged the first chunk, saved the cursor and released the rest to the sweeper
    waiting = _job(ledger, job.job_id)
    assert (waiting.tags_due, waiting.tags_cursor, waiting.tags_claimed_at) == ("PENDING", 2, tagging.RELEASED_CLAIM)
    assert sum(STATE in _tags(stack, key, versions[key]) for key in keys) == 2  # in the manifest's order

    # When the sweeper runs (given the time for all of it)
    monkeypatch.setattr(tagging, "SWEEP_SECONDS", 60.0)
    report = _sweep(stack, overrides)

    # Then it continued from the cursor: every input tagged once, counted once, nothing waits
    assert job.job_id in report["tags_resumed"]
    assert all(_tags(stack, key, versions[key])[STATE] == "SUCCEEDED" for key in keys)
    done = _job(ledger, job.job_id)
    assert done.tags_counts == {"tagged": 5}
    assert done.tags_due is None
    assert "input tags: 5 tagged" in done.actions


def test_tagging_left_by_a_dead_invocation_is_finished_by_the_sweeper_after_the_lease(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger
) -> None:
    # Given a job whose end was recorded by a tracker that died before its first tag was written
    key = "orders/2026-12-01/orders-2.csv"
    version = _put(stack, key, tags=3)
    started = _arrive(stack, overrides, key, version)
    with crash_at("s3", "PutObjectTagging", "before"), pytest.raises(InjectedCrashError):
        _end(stack, overrides, _job(ledger, started["job_id"]))
    job = _job(ledger, started["job_id"])
    assert job.state is JobState.SUCCEEDED
    assert job.tags_due == "PENDING"

    # When the sweeper runs within the claim's lease, then after it
    early = _sweep(stack, overrides)
    _age_claim(stack, job.job_id)
    late = _sweep(stack, overrides)

    # Then the first sweep left the claim to its holder, the second wrote the tags, merged
    assert early["tags_resumed"] == []
    assert late["tags_resumed"] == [job.job_id]
    tags = _tags(stack, key, version)
    assert (len(tags), tags[STATE], tags[JOB]) == (5, "SUCCEEDED", job.job_id)
    assert _job(ledger, job.job_id).tags_due is None


def test_a_throttled_tag_write_is_kept_for_the_sweeper_without_failing_the_end(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger
) -> None:
    # Given a job whose input's tag write S3 throttles (after the SDK's retries)
    key = "orders/2026-12-01/orders-3.csv"
    version = _put(stack, key)
    started = _arrive(stack, overrides, key, version)

    # When its end is delivered
    with refusing("s3", "PutObjectTagging", "SlowDown", times=1):
        result = _end(stack, overrides, _job(ledger, started["job_id"]))

    # Then the end is recorded (no failed delivery, no redelivery loop) and the tagging released to the sweeper
    assert (result["status"], result["state"]) == ("moved", "SUCCEEDED")
    job = _job(ledger, started["job_id"])
    assert (job.tags_due, job.tags_claimed_at, job.tags_cursor) == ("PENDING", tagging.RELEASED_CLAIM, 0)

    # When the sweeper runs / Then it writes the tags
    _sweep(stack, overrides)
    assert _tags(stack, key, version)[STATE] == "SUCCEEDED"
    assert _job(ledger, started["job_id"]).tags_due is None


def test_a_marker_job_tags_every_object_under_its_prefix_and_the_marker(
    stack: DeployedStack, overrides: dict[str, str], ledger: Ledger
) -> None:
    # Given three parts and their marker object under one prefix
    prefix = "exports/2026-12-01/"
    parts = {f"{prefix}part-{n}.csv": _put(stack, f"{prefix}part-{n}.csv", tags=1) for n in range(3)}
    for key, version in parts.items():
        assert _arrive(stack, overrides, key, version)["status"] == "skipped"
    marker_version = _put(stack, f"{prefix}_SUCCESS", body=b"")
    started = _arrive(stack, overrides, f"{prefix}_SUCCESS", marker_version, size=0)
    assert started["status"] == "started", started

    # When the job succeeds
    _end(stack, overrides, _job(ledger, started["job_id"]))

    # Then each part keeps its tag and gains ours, and the marker object is tagged too
    for key, version in parts.items():
        assert _tags(stack, key, version) == {"team-0": "t0", STATE: "SUCCEEDED", JOB: started["job_id"]}
    assert _tags(stack, f"{prefix}_SUCCESS", marker_version) == {STATE: "SUCCEEDED", JOB: started["job_id"]}
    assert "input tags: 4 tagged" in _job(ledger, started["job_id"]).actions
