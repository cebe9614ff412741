"""The sweeper owns deadlines (invariant 3) and outlives its own failures: timeouts are decided from the ledger for
every active job, the most overdue first, whatever the budget and whatever the engine answers; one failing item
(SNS, an engine) is logged, counted and never stops the rest; an orphan is alerted once, not on every sweep; a
run EMR Serverless cancelled past the job's deadline is TIMED_OUT, alerted and counted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from faults import refusing

from emr_dispatch import wiring
from emr_dispatch.control import QueueSignal
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.routes import load_routes
from emr_dispatch.settings import get_settings
from emr_dispatch.sweep import Sweeper, SweepReport
from emr_dispatch.table import job_key, orphan_key
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrServerlessSimulator, Outcome
from moto_helpers import Published, subscribe_queue
from sample_events import load_event

REGION = "us-east-1"
ROUTES = """
version: 1
routes:
  - name: week-long
    match: {prefix: long/}
    timeout_minutes: 10080
    engine: emr-ec2
    emr_ec2: {release_label: emr-7.5.0, instances: {primary: {instance_type: m7g.xlarge}}}
    job: {entry_point: "s3://{work_bucket}/jobs/clean_csv.py", arguments: ["--input={input_uri}"]}
  - name: short
    match: {prefix: short/}
    timeout_minutes: 30
    engine: emr-ec2
    emr_ec2: {release_label: emr-7.5.0, instances: {primary: {instance_type: m7g.xlarge}}}
    job: {entry_point: "s3://{work_bucket}/jobs/clean_csv.py", arguments: ["--input={input_uri}"]}
"""


@pytest.fixture
def routes(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, routes: dict[str, str], key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, routes)["results"][0]
    assert result["status"] == "started", result
    return result


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def _job(stack: DeployedStack, job_id: str) -> Job:
    job = _ledger(stack).get(job_id)
    assert job is not None
    return job


def _submitted_ago(stack: DeployedStack, job_id: str, minutes: int) -> None:
    """The job was submitted this long ago (its record says so, as after that much time)."""
    when = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key=job_key(job_id),
        UpdateExpression="SET submitted_at = :at, created_at = :at",
        ExpressionAttributeValues={":at": {"S": when}},
    )


def _sweeper(stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch, budget: int) -> Sweeper:
    """The deployed sweeper's parts, with a chosen budget of jobs described per run."""
    for name, value in {**stack.function_environment("SweeperFunction"), **routes}.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    deployed = wiring.sweeper()
    settings = get_settings()
    return Sweeper(
        load_routes(settings.routes_file),
        wiring._ledger(),
        wiring._engines(),
        wiring._outcomes(),
        QueueSignal(settings.arrivals_queue_url),
        wiring._capacity(),
        budget=budget,
        orphans=deployed.orphan_memory,
    )


def _sweep(stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> SweepReport:
    for name, value in {**stack.function_environment("SweeperFunction"), **routes}.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    try:
        return wiring.sweeper().sweep()
    finally:
        wiring.reset()


def _states(alerts: list[Published]) -> list[tuple[str, str]]:
    bodies = [json.loads(alert.message.split("--- machine-readable ---", 1)[1]) for alert in alerts]
    return sorted((body["job_id"], body["state"]) for body in bodies)


def _alive(cluster_id: str) -> bool:
    state = boto3.client("emr", region_name=REGION).describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    return not str(state["State"]).startswith("TERMINAT")


def test_the_budget_never_hides_an_overdue_job(
    stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an older week-long job well within its timeout, and a younger one past its 30 minutes
    old = _arrive(stack, routes, "long/a.csv")
    young = _arrive(stack, routes, "short/b.csv")
    _submitted_ago(stack, old["job_id"], 120)
    _submitted_ago(stack, young["job_id"], 60)

    # When a sweep with a budget of one described job runs
    report = _sweeper(stack, routes, monkeypatch, budget=1).sweep()

    # Then the overdue job was timed out and stopped; the budget went to the other
    assert report.timed_out == [young["job_id"]]
    assert _job(stack, young["job_id"]).state is JobState.TIMED_OUT
    assert not _alive(young["engine_id"])
    assert (_job(stack, old["job_id"]).state.is_terminal, report.examined) == (False, 1)


def test_the_most_overdue_job_is_timed_out_first(
    stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three jobs past their 30 minutes, by 40, 90 and 10 minutes
    started = [_arrive(stack, routes, f"short/{n}.csv") for n in range(3)]
    for job, minutes in zip(started, (70, 120, 40), strict=True):
        _submitted_ago(stack, job["job_id"], minutes)

    # When a sweep runs
    report = _sweeper(stack, routes, monkeypatch, budget=0).sweep()

    # Then all three were timed out, the most overdue first
    assert report.timed_out == [started[1]["job_id"], started[0]["job_id"], started[2]["job_id"]]


def test_an_overdue_job_whose_describe_always_fails_is_timed_out(
    stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job past its timeout, and EMR refusing every DescribeCluster
    inbox = subscribe_queue(stack.outputs["AlertsTopicArn"], "describe-fails-alerts")
    started = _arrive(stack, routes, "short/a.csv")
    _submitted_ago(stack, started["job_id"], 45)

    # When a sweep runs
    with refusing("emr", "DescribeCluster", "InternalServerError"):
        report = _sweep(stack, routes, monkeypatch)

    # Then the job is TIMED_OUT all the same, its cluster terminated and ops alerted once
    assert report.timed_out == [started["job_id"]]
    assert (_job(stack, started["job_id"]).state, _alive(started["engine_id"])) == (JobState.TIMED_OUT, False)
    assert _states(inbox()) == [(started["job_id"], "TIMED_OUT")]


def test_a_refused_alert_does_not_stop_the_sweep(
    stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two jobs past their timeout, and SNS refusing the first alert of the sweep
    inbox = subscribe_queue(stack.outputs["AlertsTopicArn"], "refused-alerts")
    first, second = _arrive(stack, routes, "short/a.csv"), _arrive(stack, routes, "short/b.csv")
    _submitted_ago(stack, first["job_id"], 50)
    _submitted_ago(stack, second["job_id"], 40)

    # When the deployed sweeper runs
    with refusing("sns", "Publish", "InternalError", times=1):
        stack.invoke("SweeperFunction", {"source": "aws.events", "detail-type": "Scheduled Event"}, routes)

    # Then both jobs were timed out and stopped; the refused alert was counted (metric), given back to the outbox
    # and resent by the same sweep's look for pending alerts: one alert per timeout
    assert [_job(stack, job["job_id"]).state for job in (first, second)] == [JobState.TIMED_OUT] * 2
    assert not _alive(first["engine_id"])
    assert not _alive(second["engine_id"])
    assert sum(stack.metric_values("SweepItemFailures")) == 1
    both = sorted([(first["job_id"], "TIMED_OUT"), (second["job_id"], "TIMED_OUT")])
    assert _states(inbox()) == both
    assert not _job(stack, first["job_id"]).alert_pending
    # And the next sweep sends nothing more
    _sweep(stack, routes, monkeypatch)
    assert _states(inbox()) == both


def test_an_orphan_that_cannot_be_stopped_is_alerted_once_and_remembered_with_an_expiry(
    stack: DeployedStack, routes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cluster named as emr-dispatch's that the ledger does not know, and EMR refusing to terminate it
    inbox = subscribe_queue(stack.outputs["AlertsTopicArn"], "orphan-once-alerts")
    orphan = boto3.client("emr", region_name=REGION).run_job_flow(
        Name="emr-dispatch-short-00000000deadbeef-a1",
        ReleaseLabel="emr-7.5.0",
        Instances={"MasterInstanceType": "m7g.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]

    # When three sweeps run
    with refusing("emr", "TerminateJobFlows", "AccessDeniedException"):
        reports = [_sweep(stack, routes, monkeypatch) for _ in range(3)]

    # Then each sweep tried to stop it (and said so), but ops got one alert, saying it could not be stopped
    assert [report.orphans for report in reports] == [[orphan]] * 3
    assert all(any(error.startswith(f"orphan-stop {orphan}") for error in report.errors) for report in reports)
    (alert,) = inbox()
    assert "could not stop" in alert.message
    # And the ledger remembers the alert until an expiry (its TTL attribute)
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=stack.outputs["LedgerTableName"], Key=orphan_key(orphan)
    )["Item"]
    assert int(item["expires_at"]["N"]) > datetime.now(UTC).timestamp()
    assert "alerted_at" in item


def test_a_run_emr_serverless_cancelled_past_the_deadline_is_timed_out(engines_stack: DeployedStack) -> None:
    # Given an EMR Serverless job (returns-serverless, timeout 60 min) submitted 75 minutes ago
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "engine-timeout-alerts")
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = engines_stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = "raw/returns/2026-11-23/returns-0001.csv"
    (started,) = engines_stack.invoke("LauncherFunction", event)["results"]
    _submitted_ago(engines_stack, started["job_id"], 75)
    job = _job(engines_stack, started["job_id"])

    # When EMR Serverless cancels the run itself (CANCELLING → CANCELLED) and the tracker gets its events
    details = job.engine_details
    for change in EmrServerlessSimulator().run(
        details["application_id"], details["job_run_id"], Outcome.ENGINE_TIMEOUT
    ):
        engines_stack.invoke("TrackerFunction", change)

    # Then the job is TIMED_OUT, not a quiet CANCELLED: alerted once and counted in JobsTimedOut
    ended = _job(engines_stack, started["job_id"])
    assert (ended.state, ended.reason_code) == (JobState.TIMED_OUT, "TIMEOUT")
    assert "cancelled the run" in str(ended.reason_message)
    assert _states(inbox()) == [(started["job_id"], "TIMED_OUT")]
    assert sum(engines_stack.metric_values("JobsTimedOut")) == 1
    assert sum(engines_stack.metric_values("JobsCancelled")) == 0
