"""Editing routes never strands work (invariant 8): a job carries a snapshot of its route, so it is started,
tracked and timed out without it; the waiting work of a removed route ends FAILED ROUTE_REMOVED, alerted once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from emr_dispatch import wiring
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.sweep import SweepReport
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome
from moto_helpers import receive_as_lambda_event, subscribe_queue
from sample_events import load_event

REGION = "us-east-1"
EC2 = """
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}"""
SERVERLESS = """
    engine: emr-serverless
    emr_serverless: {}"""
CAPPED = """
  - name: capped
    match: {{prefix: capped/}}
    max_concurrent: 1
    timeout_minutes: 30{engine}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]"""
OTHER = """
  - name: other
    match: {prefix: other/}
    timeout_minutes: 600
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}"]"""


def _routes(tmp_path: Path, name: str, *routes: str) -> dict[str, str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text("version: 1\nroutes:" + "".join(routes) + "\n", encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, routes: dict[str, str], key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, routes)["results"][0]
    return result


def _sweep(
    stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime | None = None
) -> SweepReport:
    for name, value in {**stack.function_environment("SweeperFunction"), **routes}.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    try:
        return wiring.sweeper().sweep(now)
    finally:
        wiring.reset()


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def _job(stack: DeployedStack, job_id: str) -> Job:
    job = _ledger(stack).get(job_id)
    assert job is not None, job_id
    return job


def _machine_readable(message: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.split("--- machine-readable ---", 1)[1])
    return body


def test_a_queued_job_of_a_removed_route_ends_route_removed_with_one_alert(
    engines_stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a route at its cap of one job: a second arrival waits QUEUED
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "route-removed-alerts")
    before = _routes(tmp_path, "before", CAPPED.format(engine=EC2), OTHER)
    assert _arrive(engines_stack, before, "capped/a.csv")["status"] == "started"
    queued = _arrive(engines_stack, before, "capped/b.csv")
    assert queued["status"] == "queued"

    # When the route is removed from the routes file and two sweeps run
    after = _routes(tmp_path, "after", OTHER)
    first = _sweep(engines_stack, after, monkeypatch)
    second = _sweep(engines_stack, after, monkeypatch)

    # Then the queued job ended FAILED with reason ROUTE_REMOVED, by the first sweep, and nothing was started for it
    job = _job(engines_stack, queued["job_id"])
    assert (job.state, job.reason_code, job.engine_id) == (JobState.FAILED, "ROUTE_REMOVED", None)
    assert (first.route_removed, second.route_removed) == ([queued["job_id"]], [])
    # And ops got exactly one alert, naming the reason
    alerts = [alert for alert in inbox() if _machine_readable(alert.message)["job_id"] == queued["job_id"]]
    assert len(alerts) == 1
    assert "ROUTE_REMOVED" in alerts[0].subject


def test_a_start_request_for_a_queued_job_of_a_removed_route_ends_it_route_removed(
    engines_stack: DeployedStack, tmp_path: Path
) -> None:
    # Given a queued job of a route that was then removed
    before = _routes(tmp_path, "before", CAPPED.format(engine=EC2), OTHER)
    assert _arrive(engines_stack, before, "capped/a.csv")["status"] == "started"
    queued = _arrive(engines_stack, before, "capped/b.csv")["job_id"]
    after = _routes(tmp_path, "after", OTHER)

    # When the launcher is asked to start queued jobs
    (result,) = engines_stack.invoke("LauncherFunction", {"emr-dispatch": "start-queued", "route": "*"}, after)[
        "results"
    ]

    # Then the job is not skipped forever: it ended FAILED ROUTE_REMOVED
    assert (result["status"], result["reason"]) == ("failed", "ROUTE_REMOVED")
    assert (_job(engines_stack, queued).state, _job(engines_stack, queued).reason_code) == (
        JobState.FAILED,
        "ROUTE_REMOVED",
    )


def test_a_running_job_of_a_removed_route_keeps_its_own_deadline(
    engines_stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running job of a route with a 30-minute timeout, then the route removed from the routes file
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "removed-timeout-alerts")
    before = _routes(tmp_path, "before", CAPPED.format(engine=EC2), OTHER)
    started = _arrive(engines_stack, before, "capped/a.csv")
    after = _routes(tmp_path, "after", OTHER)
    submitted = datetime.fromisoformat(str(_job(engines_stack, started["job_id"]).submitted_at).replace("Z", "+00:00"))

    # When sweeps run within, then past its own 30 minutes (the remaining route's timeout is 600)
    within = _sweep(engines_stack, after, monkeypatch, submitted + timedelta(minutes=29))
    past = _sweep(engines_stack, after, monkeypatch, submitted + timedelta(minutes=31))

    # Then it was left running, then recorded TIMED_OUT, its cluster terminated, and ops alerted once
    assert (within.timed_out, past.timed_out) == ([], [started["job_id"]])
    job = _job(engines_stack, started["job_id"])
    assert (job.state, job.reason_code) == (JobState.TIMED_OUT, "TIMEOUT")
    cluster = boto3.client("emr", region_name=REGION).describe_cluster(ClusterId=started["engine_id"])["Cluster"]
    assert cluster["Status"]["State"].startswith("TERMINAT")
    assert [_machine_readable(alert.message)["state"] for alert in inbox()] == ["TIMED_OUT"]


def test_a_job_queued_before_its_route_changed_engine_starts_on_its_snapshot(
    engines_stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job QUEUED behind the cap of an EMR on EC2 route
    before = _routes(tmp_path, "before", CAPPED.format(engine=EC2), OTHER)
    first = _arrive(engines_stack, before, "capped/a.csv")
    queued = _arrive(engines_stack, before, "capped/b.csv")["job_id"]
    # And the route then moved to EMR Serverless
    after = _routes(tmp_path, "after", CAPPED.format(engine=SERVERLESS), OTHER)

    # When the running job ends (tracked under the new routes file) and the launcher starts the queued one
    for event in EmrEc2Simulator(region=REGION).run(first["engine_id"], Outcome.SUCCEED):
        engines_stack.invoke("TrackerFunction", event, after)
    engines_stack.invoke("LauncherFunction", receive_as_lambda_event(engines_stack.outputs["ArrivalsQueueUrl"]), after)

    # Then it started as it was accepted, on EMR on EC2 (its snapshot), and its record names that engine
    job = _job(engines_stack, queued)
    assert job.state is JobState.SUBMITTED
    assert (job.engine, str(job.engine_id)[:2]) == ("emr-ec2", "j-")
    # And sweeps reconcile it without an error (moto answers ListJobRuns on an application that never ran a job
    # with ResourceNotFoundException: the orphan search of EMR Serverless is not this job's)
    report = _sweep(engines_stack, after, monkeypatch)
    assert [error for error in report.errors if not error.startswith("orphans emr-serverless")] == []
    assert report.examined == 1


def test_an_arrival_delivered_again_after_a_rename_starts_nothing_and_a_new_version_starts_on_the_new_name(
    stack: DeployedStack, tmp_path: Path
) -> None:
    # Given an object version whose arrival started a job on route "capped"
    before = _routes(tmp_path, "before", CAPPED.format(engine=EC2))
    first = _arrive(stack, before, "capped/orders.csv")
    assert first["status"] == "started", first
    # ... and routes deployed since with that route renamed (same match, same job)
    after = _routes(tmp_path, "after", CAPPED.format(engine=EC2).replace("name: capped", "name: renamed"))

    # When S3 delivers the same arrival again (same version)
    again = _arrive(stack, after, "capped/orders.csv")

    # Then it starts nothing: the object version's job is the first one, whatever its route is named now
    assert again["status"] == "duplicate", again
    assert again["job_id"] == first["job_id"]
    clusters = boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]
    assert len(clusters) == 1
    # When the file is uploaded again (a new version), then that is a new arrival, started on the renamed route
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=stack.outputs["LandingBucketName"], Key="capped/orders.csv", Body=b"id\n2\n"
    )
    newer = load_event("s3-object-created-eventbridge.json")
    newer["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    newer["detail"]["object"]["key"] = "capped/orders.csv"
    newer["detail"]["object"]["version-id"] = "a-newer-version"
    started = stack.invoke("LauncherFunction", newer, after)["results"][0]
    assert started["status"] == "started", started
    assert started["job_id"].startswith("renamed-")
