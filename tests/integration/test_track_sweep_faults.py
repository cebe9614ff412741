"""Crash safety of the tracker and the sweeper: the invocation dies before or after each AWS call of its
path; once the event is delivered again (EventBridge and Lambda retry) and the next sweep runs, the job
holds its true final state, nothing it started is left running, and ops got the one alert of its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from faults import InjectedCrashError, crash_at, recording_calls, with_occurrences

from emr_dispatch import outbox as outbox_module
from emr_dispatch import wiring
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.sweep import SweepReport
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import Launched, Published, launch_classic, set_step_state, subscribe_queue
from sample_events import for_cluster

REGION = "us-east-1"
LATER = datetime.now(UTC) + timedelta(days=1)  # every job is past its route's timeout

# The tracker on a step failure while the cluster is still up: find the job, inspect, record FAILED,
# terminate the cluster, record that, alert, clear the outbox.
TRACK_PATH = [
    ("dynamodb", "Query"),
    ("dynamodb", "UpdateItem"),  # the step's own state and end time (job_steps.py)
    ("emr", "DescribeCluster"),
    ("emr", "DescribeStep"),
    ("dynamodb", "TransactWriteItems"),  # FAILED and the capacity slots given back, in one transaction
    ("dynamodb", "GetItem"),
    ("emr", "TerminateJobFlows"),
    ("dynamodb", "UpdateItem"),
    ("sqs", "SendMessage"),  # the route's queue may start its next job
    ("sns", "Publish"),
    ("dynamodb", "UpdateItem"),
]
# The sweeper on a job past its timeout whose events were lost: list the active jobs, and the overdue one first:
# describe (still running), record TIMED_OUT (inspecting it; its slots given back in the same transaction),
# terminate, record, ask for queued jobs, alert, clear; search orphans; look for lost alerts (a sparse index) and
# lost starts; count the slot items of the capped counters; look for queued jobs.
SWEEP_PATH = [
    ("dynamodb", "Query"),
    ("dynamodb", "Query"),
    ("emr", "DescribeCluster"),
    ("emr", "ListSteps"),
    ("dynamodb", "UpdateItem"),  # the step RUNNING, as ListSteps says (job_steps.py)
    ("emr", "DescribeCluster"),
    ("emr", "ListSteps"),
    ("dynamodb", "TransactWriteItems"),
    ("dynamodb", "GetItem"),
    ("emr", "TerminateJobFlows"),
    ("dynamodb", "UpdateItem"),
    ("sqs", "SendMessage"),
    ("sns", "Publish"),
    ("dynamodb", "UpdateItem"),
    # pending alerts, overdue batches (OPEN, CLOSING), SUBMITTING
    *[("dynamodb", "Query")] * 4,
    # the counters of orders-daily, orders-warehouse, clicks-batch and all routes, in one read: each agrees with the
    # slots of the jobs the sweep listed, so none is counted (sweep.py _audit)
    ("dynamodb", "BatchGetItem"),
    # queued jobs: the queue names item, absent in a new ledger, so every QUEUED job is read and the read recorded
    ("dynamodb", "GetItem"),
    ("dynamodb", "Query"),
    ("dynamodb", "UpdateItem"),
    ("dynamodb", "Query"),  # pending input tags (by_pending_tags)
    ("dynamodb", "GetItem"),  # the orphan search's marks: where the last search was cut (F9), after the recovery work
    ("emr", "ListClusters"),
]


_READS = ("Query", "GetItem", "Describe", "List")


def _crash_points(path: list[tuple[str, str]]) -> list[tuple[str, str, int, str]]:
    """Before every call, and after every call that changed something: dying after a read leaves the world
    exactly as dying before the next call does."""
    points = []
    for service, operation, occurrence in with_occurrences(path):
        points.append((service, operation, occurrence, "before"))
        if not operation.startswith(_READS):
            points.append((service, operation, occurrence, "after"))
    return points


def _between_publish_and_outbox_cleared(path: list[tuple[str, str]], point: tuple[str, str, int, str]) -> bool:
    """The one window where an alert can go out twice: SNS took it, the ledger's outbox was not cleared."""
    publish = path.index(("sns", "Publish"))
    crash = [(s, o, n) for s, o, n in with_occurrences(path)].index(point[:3])
    return (crash, point[3]) in ((publish, "after"), (publish + 1, "before"))


def _step_failed(launched: Launched) -> dict[str, Any]:
    set_step_state(launched.cluster_id, "FAILED")
    return for_cluster("emr-step-failed.json", launched.cluster_id, launched.step_id, launched.cluster_name)


def _sweep(stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> SweepReport:
    for name, value in stack.function_environment("SweeperFunction").items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    try:
        return wiring.sweeper().sweep(LATER)
    finally:
        wiring.reset()


def _aws_calls(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [call for call in calls if call[0] != "lambda"]  # the harness reads the function's configuration


def _alive_clusters() -> list[str]:
    clusters = boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]
    return [c["Id"] for c in clusters if not c["Status"]["State"].startswith("TERMINAT")]


def _alerts_of(inbox: list[Published], state: str) -> list[Published]:
    return [alert for alert in inbox if alert.attributes["state"]["Value"] == state]


def test_the_fault_tests_cover_every_call_of_the_track_and_sweep_paths(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a failed step, and a job past its timeout / When tracked and swept / Then these are the calls
    event = _step_failed(launch_classic(stack))
    with recording_calls() as calls:
        stack.invoke("TrackerFunction", event)
    assert _aws_calls(calls) == TRACK_PATH
    launch_classic_again = _relaunch(stack)
    with recording_calls() as calls:
        _sweep(stack, monkeypatch)
    assert _aws_calls(calls) == SWEEP_PATH, launch_classic_again


def _relaunch(stack: DeployedStack) -> str:
    """A second job (another object) for the sweep: the first one has ended."""
    from sample_events import load_event, with_bucket

    event = with_bucket(load_event("s3-put-classic.json"), stack.outputs["LandingBucketName"])
    event["Records"][0]["s3"]["object"]["key"] = "raw/orders/2026-11-23/orders-0002.csv"
    result: dict[str, Any] = stack.invoke("LauncherFunction", event)["results"][0]
    assert result["status"] == "started", result
    return str(result["job_id"])


@pytest.mark.parametrize(("service", "operation", "occurrence", "when"), _crash_points(TRACK_PATH))
def test_a_tracker_crash_at_any_call_is_healed_by_redelivery_and_one_sweep(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch, service: str, operation: str, occurrence: int, when: str
) -> None:
    # Given a failed step whose tracker invocation dies at this point
    inbox = subscribe_queue(stack.outputs["AlertsTopicArn"], "fault-alerts")
    launched = launch_classic(stack)
    event = _step_failed(launched)
    with crash_at(service, operation, when, occurrence), pytest.raises(InjectedCrashError):
        stack.invoke("TrackerFunction", event)

    # When EventBridge delivers the event again, a minute or more later, and the next sweep runs
    monkeypatch.setattr(outbox_module, "ALERT_LEASE_SECONDS", -1)
    stack.invoke("TrackerFunction", event)
    _sweep(stack, monkeypatch)

    # Then the job ended FAILED, its cluster is gone, and the failure was alerted once (twice only if
    # the crash fell between SNS accepting the alert and the ledger clearing its outbox)
    job = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION)).get(launched.job_id)
    assert job is not None
    assert job.state is JobState.FAILED
    assert not job.alert_pending
    assert _alive_clusters() == []
    failures = _alerts_of(inbox(), "FAILED")
    twice = _between_publish_and_outbox_cleared(TRACK_PATH, (service, operation, occurrence, when))
    assert len(failures) == (2 if twice else 1)
    assert len({alert.message.split("--- machine-readable ---")[0] for alert in failures}) == 1


@pytest.mark.parametrize(("service", "operation", "occurrence", "when"), _crash_points(SWEEP_PATH))
def test_a_sweeper_crash_at_any_call_is_healed_by_the_next_sweep(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch, service: str, operation: str, occurrence: int, when: str
) -> None:
    # Given a job past its timeout whose events were all lost, and a sweep that dies at this point
    inbox = subscribe_queue(stack.outputs["AlertsTopicArn"], "fault-alerts")
    launched = launch_classic(stack)
    with crash_at(service, operation, when, occurrence), pytest.raises(InjectedCrashError):
        _sweep(stack, monkeypatch)

    # When the next scheduled sweep runs (past the alert lease)
    monkeypatch.setattr(outbox_module, "ALERT_LEASE_SECONDS", -1)
    _sweep(stack, monkeypatch)

    # Then the job is TIMED_OUT, its cluster is gone, and the timeout was alerted once (see above)
    job = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION)).get(launched.job_id)
    assert job is not None
    assert job.state is JobState.TIMED_OUT
    assert not job.alert_pending
    assert _alive_clusters() == []
    timeouts = _alerts_of(inbox(), "TIMED_OUT")
    twice = _between_publish_and_outbox_cleared(SWEEP_PATH, (service, operation, occurrence, when))
    assert len(timeouts) == (2 if twice else 1)
