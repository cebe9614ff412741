"""Invariants 2 and 3: every job reaches its true terminal state even when every engine event is lost,
and nothing outlives its route's timeout by more than one sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from emr_dispatch import wiring
from emr_dispatch.jobs import Job
from emr_dispatch.ledger import Ledger
from emr_dispatch.sweep import SweepReport
from emr_dispatch_tools.demo import DEMO_KEYS as ALL_DEMO_KEYS
from emr_dispatch_tools.demo import Simulators
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrEc2Simulator, EmrEksSimulator, EmrServerlessSimulator, Outcome
from moto_helpers import Published, subscribe_queue
from sample_events import load_event

REGION = "us-east-1"
DEMO_KEYS = {key: outcome for key, outcome in ALL_DEMO_KEYS.items() if outcome != "capacity-failure"}
"""The demo's jobs whose first attempt is final (the retried one is followed through sweeps by test_demo)."""


def _arrive(stack: DeployedStack, key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = key  # EventBridge keys are not form-encoded
    result: dict[str, Any] = stack.invoke("LauncherFunction", event)["results"][0]
    return result


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


@pytest.fixture
def sweep(engines_stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the sweeper in this process with its deployed environment, at a chosen time."""
    for name, value in engines_stack.function_environment("SweeperFunction").items():
        monkeypatch.setenv(name, value)

    def run(now: datetime | None = None) -> SweepReport:
        wiring.reset()
        try:
            return wiring.sweeper().sweep(now)
        finally:
            wiring.reset()

    return run


def test_with_every_engine_event_lost_one_sweep_records_the_truth(engines_stack: DeployedStack, sweep: Any) -> None:
    # Given a success and a failure on each engine, whose lifecycles run while every event is lost
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "sweep-alerts")
    for key in DEMO_KEYS:
        assert _arrive(engines_stack, key)["status"] == "started"
    ledger = _ledger(engines_stack)
    simulators = Simulators(EmrEc2Simulator(), EmrServerlessSimulator(), EmrEksSimulator())
    for job in ledger.list_jobs():
        for _lost_event in simulators.lifecycle(job, Outcome(DEMO_KEYS[job.inputs[0].key])):
            pass
    assert {job.state.value for job in ledger.list_jobs()} == {"SUBMITTED"}

    # When one sweep runs
    report = sweep()

    # Then every job holds the state its engine ended in, and each failure was alerted once
    expected = {"succeed": "SUCCEEDED", "step-failure": "FAILED"}
    for job in ledger.list_jobs():
        assert job.state.value == expected[DEMO_KEYS[job.inputs[0].key]], job.job_id
        assert any(entry["source"].startswith("sweeper") for entry in job.history)
    assert len(report.moved) == len(DEMO_KEYS)
    alerts: list[Published] = inbox()
    failures = list(DEMO_KEYS.values()).count("step-failure")
    assert len(alerts) == failures
    # And a second sweep changes nothing and alerts no more
    assert sweep().moved == []
    assert len(inbox()) == failures  # every alert received so far: still the same ones


def test_a_job_past_its_timeout_is_recorded_then_stopped(engines_stack: DeployedStack, sweep: Any) -> None:
    # Given an EMR on EC2 job (route timeout 120 min) whose cluster is still running
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "timeout-alerts")
    started = _arrive(engines_stack, "raw/orders/2026-11-23/slow.csv")
    ledger = _ledger(engines_stack)
    job = ledger.get(started["job_id"])
    assert job is not None

    # When a sweep runs within the timeout, then the job is left running
    assert sweep(_at(job, minutes=119)).timed_out == []

    # When a sweep runs past the timeout
    report = sweep(_at(job, minutes=121))

    # Then the job is TIMED_OUT with its reason recorded before the cluster was terminated, and ops alerted
    assert report.timed_out == [job.job_id]
    ended = ledger.get(job.job_id)
    assert ended is not None
    assert (ended.state.value, ended.reason_code) == ("TIMED_OUT", "TIMEOUT")
    assert ended.actions[0].startswith(f"terminating {started['engine_id']}: job TIMED_OUT")
    assert ended.actions[1] == f"terminated {started['engine_id']}"
    cluster = boto3.client("emr", region_name=REGION).describe_cluster(ClusterId=started["engine_id"])["Cluster"]
    assert cluster["Status"]["State"] in ("TERMINATING", "TERMINATED")
    (alert,) = inbox()
    assert "TIMED_OUT" in alert.subject


def _at(job: Job, minutes: int) -> datetime:
    assert job.submitted_at is not None
    return datetime.fromisoformat(job.submitted_at.replace("Z", "+00:00")).astimezone(UTC) + timedelta(minutes=minutes)


def test_a_cluster_the_ledger_does_not_know_is_stopped_and_alerted_once(
    engines_stack: DeployedStack, sweep: Any
) -> None:
    # Given a cluster named as emr-dispatch's whose job the ledger never recorded (a lost record)
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "orphan-alerts")
    emr = boto3.client("emr", region_name=REGION)
    orphan = emr.run_job_flow(
        Name="emr-dispatch-orders-daily-00000000deadbeef-a1",
        ReleaseLabel="emr-7.5.0",
        Instances={"MasterInstanceType": "m7g.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        Tags=[{"Key": "managed-by", "Value": "emr-dispatch"}],
    )["JobFlowId"]
    # And someone else's cluster, which is none of emr-dispatch's business
    theirs = emr.run_job_flow(
        Name="team-b-adhoc",
        ReleaseLabel="emr-7.5.0",
        Instances={"MasterInstanceType": "m7g.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]

    # When sweeps run
    first, second = sweep(), sweep()

    # Then the orphan is terminated and alerted once; the other team's cluster is untouched
    assert (first.orphans, second.orphans) == ([orphan], [])
    assert emr.describe_cluster(ClusterId=orphan)["Cluster"]["Status"]["State"].startswith("TERMINAT")
    assert emr.describe_cluster(ClusterId=theirs)["Cluster"]["Status"]["State"] == "WAITING"
    (alert,) = inbox()
    assert alert.subject.startswith("[emr-dispatch] ORPHAN")
    assert "the ledger has no job of this name" in alert.message
    assert alert.attributes["severity"]["Value"] == "WARNING"


def test_a_cluster_left_running_after_its_job_succeeded_is_cleaned_up(engines_stack: DeployedStack, sweep: Any) -> None:
    # Given a job whose step completed, every event of it lost, and whose cluster lingers
    started = _arrive(engines_stack, "raw/orders/2026-11-23/lingering.csv")
    ledger = _ledger(engines_stack)
    job = ledger.get(started["job_id"])
    assert job is not None
    from moto.emr.models import emr_backends

    cluster = emr_backends["123456789012"][REGION].clusters[started["engine_id"]]
    cluster.steps[0].state = "COMPLETED"  # moto keeps the cluster WAITING: it lingers

    # When one sweep runs
    report = sweep()

    # Then it records the success and, in the same run, stops the cluster as an orphan of an ended job
    assert (ledger_job := ledger.get(job.job_id)) is not None
    assert ledger_job.state.value == "SUCCEEDED"
    assert report.orphans == [started["engine_id"]]
    state = boto3.client("emr", region_name=REGION).describe_cluster(ClusterId=started["engine_id"])["Cluster"]
    assert state["Status"]["State"].startswith("TERMINAT")
