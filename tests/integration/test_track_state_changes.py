"""The tracker against the real template in moto: EMR events → job outcome, cleanup and exactly one alert."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from emr_dispatch.errors import AlertPublishError, MalformedEventError
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import Launched, Published, cluster_state, clusters, launch_classic, set_step_state, subscribe_queue
from sample_events import EXAMPLE_CLUSTER_ID, for_cluster

Alerts = Callable[[], list[Published]]

STEP_FAILED = "emr-step-failed.json"
CLUSTER_FAILED = "emr-cluster-terminated-with-errors.json"


def _deliver(stack: DeployedStack, launched: Launched, *names: str) -> list[dict[str, object]]:
    """Send EMR event files, re-addressed to the launched cluster and its step, to the tracker."""
    results = []
    for name in names:
        event = for_cluster(name, launched.cluster_id, launched.step_id, launched.cluster_name)
        results.append(stack.invoke("TrackerFunction", event))
    return results


def _job(ledger: Ledger, launched: Launched) -> Job:
    job = ledger.get(launched.job_id)
    assert job is not None
    return job


def test_success_path_ends_succeeded_without_alert(stack: DeployedStack, ledger: Ledger, alerts: Alerts) -> None:
    # Given a launched job
    launched = launch_classic(stack)

    # When EMR reports the cluster running, the step completed, then the cluster terminated
    results = _deliver(
        stack,
        launched,
        "emr-cluster-running.json",
        "emr-step-completed.json",
        "emr-cluster-terminated-completed.json",
    )

    # Then the job moved RUNNING → SUCCEEDED, the last event changed nothing, and nobody was paged
    assert [(r["status"], r["state"]) for r in results] == [
        ("moved", "RUNNING"),
        ("moved", "SUCCEEDED"),
        ("ignored", "SUCCEEDED"),
    ]
    job = _job(ledger, launched)
    assert job.state is JobState.SUCCEEDED
    assert job.ended_at is not None
    assert not job.alert_pending
    assert job.alerted_at is None
    assert [entry["state"] for entry in job.history] == ["SUBMITTING", "SUBMITTED", "RUNNING", "SUCCEEDED"]
    assert alerts() == []


def test_failure_records_terminates_and_alerts_once(stack: DeployedStack, ledger: Ledger, alerts: Alerts) -> None:
    # Given a launched job whose step failed (as AWS would show it: the step FAILED, the cluster still up)
    launched = launch_classic(stack)
    set_step_state(launched.cluster_id, "FAILED")

    # When EMR reports the step failure, then the cluster's termination with errors
    results = _deliver(stack, launched, STEP_FAILED, CLUSTER_FAILED)

    # Then the job FAILED on the first event; the second changed nothing
    assert [(r["status"], r["state"]) for r in results] == [("moved", "FAILED"), ("ignored", "FAILED")]
    job = _job(ledger, launched)
    assert job.state is JobState.FAILED
    assert job.failure is not None
    assert job.failure["step_id"] == launched.step_id
    assert job.failure["cluster_id"] == launched.cluster_id
    # ... the lingering cluster (moto keeps it WAITING) was terminated, and the job says so
    assert cluster_state(launched.cluster_id) == "TERMINATED"
    assert f"terminated {launched.cluster_id}" in job.actions
    assert any(action.startswith(f"terminating {launched.cluster_id}") for action in job.actions)
    # ... and exactly one alert says what failed, where and why
    (alert,) = alerts()
    for text in (alert.subject, alert.message):
        assert "orders-daily" in text
        assert "FAILED" in text
    assert launched.cluster_id in alert.message
    assert launched.step_id in alert.message
    assert job.reason_code is not None
    assert job.reason_code in alert.subject
    assert job.reason_code in alert.message
    assert f"terminated {launched.cluster_id}" in alert.message
    assert f"emr-dispatch jobs show {launched.job_id}" in alert.message
    assert alert.attributes["route"]["Value"] == "orders-daily"
    assert not job.alert_pending
    assert job.alerted_at is not None


def _final_view(job: Job) -> dict[str, object]:
    """What must not depend on delivery order (the reason code names whichever event came first)."""
    failure = job.failure or {}
    return {
        "state": job.state,
        "engine_id": job.engine_id,
        "step_id": failure.get("step_id"),
        "cluster_id": failure.get("cluster_id"),
        "terminal_entries": sum(1 for entry in job.history if entry["state"] == "FAILED"),
        "history_length": len(job.history),
        "terminated": [action for action in job.actions if action.startswith("terminated ")],
        "action_count": len(job.actions),
        "alert_pending": job.alert_pending,
        "alerted": job.alerted_at is not None,
    }


def _run_failure(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts, order: list[str]
) -> tuple[dict[str, object], int]:
    launched = launch_classic(stack)
    set_step_state(launched.cluster_id, "FAILED")
    _deliver(stack, launched, *order)
    job = _job(ledger, launched)
    assert job.reason_code in {"STEP_FAILED", "STEP_FAILURE"}
    assert cluster_state(launched.cluster_id) == "TERMINATED"
    view = _final_view(job)
    # Cluster ids differ per test; compare their role, not their value.
    assert view["engine_id"] == launched.cluster_id == view["cluster_id"]
    assert view["step_id"] == launched.step_id
    assert view["terminated"] == [f"terminated {launched.cluster_id}"]
    view.update(engine_id="<cluster>", cluster_id="<cluster>", step_id="<step>", terminated=["<terminated>"])
    return view, len(alerts())


EXPECTED_FAILURE_VIEW: dict[str, object] = {
    "state": JobState.FAILED,
    "engine_id": "<cluster>",
    "step_id": "<step>",
    "cluster_id": "<cluster>",
    "terminal_entries": 1,
    "history_length": 3,  # SUBMITTING, SUBMITTED, FAILED
    "terminated": ["<terminated>"],
    "action_count": 3,  # "not retried: ...", "terminating ... (reason)" recorded before, "terminated ..." after
    "alert_pending": False,
    "alerted": True,
}


@pytest.mark.parametrize(
    "order",
    [
        pytest.param([STEP_FAILED, CLUSTER_FAILED], id="in-order"),
        pytest.param([STEP_FAILED, STEP_FAILED, CLUSTER_FAILED, CLUSTER_FAILED], id="each-twice"),
        pytest.param([CLUSTER_FAILED, CLUSTER_FAILED, STEP_FAILED, STEP_FAILED], id="reversed-each-twice"),
        pytest.param([CLUSTER_FAILED, STEP_FAILED, CLUSTER_FAILED, STEP_FAILED], id="reversed-interleaved"),
    ],
)
def test_failure_outcome_does_not_depend_on_duplicates_or_order(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts, order: list[str]
) -> None:
    # Given a launched job whose step failed
    # When the failure events arrive duplicated and in this order
    view, alert_count = _run_failure(stack, ledger, alerts, order)

    # Then the ledger ends in the same state, the cluster was terminated once, and one alert went out
    assert view == EXPECTED_FAILURE_VIEW
    assert alert_count == 1


def test_success_events_after_a_failure_do_not_resurrect_the_job(
    stack: DeployedStack, ledger: Ledger, alerts: Alerts
) -> None:
    # Given a job that already FAILED
    launched = launch_classic(stack)
    set_step_state(launched.cluster_id, "FAILED")
    _deliver(stack, launched, STEP_FAILED)

    # When late, contradicting and earlier-state events arrive
    results = _deliver(
        stack, launched, "emr-cluster-running.json", "emr-step-completed.json", "emr-cluster-terminated-completed.json"
    )

    # Then nothing moves: terminal states are sticky
    assert {r["status"] for r in results} == {"ignored"}
    assert _job(ledger, launched).state is JobState.FAILED
    assert len(alerts()) == 1


def test_running_event_delivered_late_never_moves_a_job_back(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a job that already SUCCEEDED
    launched = launch_classic(stack)
    _deliver(stack, launched, "emr-step-completed.json")

    # When the RUNNING event arrives late, twice
    results = _deliver(stack, launched, "emr-cluster-running.json", "emr-cluster-running.json")

    # Then
    assert [r["status"] for r in results] == ["ignored", "ignored"]
    assert _job(ledger, launched).state is JobState.SUCCEEDED


def test_event_of_an_unknown_cluster_is_skipped(stack: DeployedStack, ledger: Ledger, alerts: Alerts) -> None:
    # Given a stack with one launched job
    launched = launch_classic(stack)

    # When an event names a cluster the ledger does not know (someone else's, or started before the claim)
    results = [
        stack.invoke("TrackerFunction", for_cluster(name, EXAMPLE_CLUSTER_ID))
        for name in ("emr-cluster-running.json", STEP_FAILED, CLUSTER_FAILED)
    ]

    # Then each is skipped without error, and nothing changes
    assert {(r["status"], r["reason"]) for r in results} == {("skipped", "unknown engine resource")}
    assert _job(ledger, launched).state is JobState.SUBMITTED
    assert len(clusters()) == 1
    assert cluster_state(launched.cluster_id) == "WAITING"
    assert alerts() == []


def test_malformed_emr_event_raises_so_lambda_retries_then_dead_letters(stack: DeployedStack) -> None:
    # Given an EMR event without a cluster id
    launched = launch_classic(stack)
    event = for_cluster(STEP_FAILED, launched.cluster_id, launched.step_id)
    del event["detail"]["clusterId"]

    # When / Then the invocation fails (the function's on-failure destination keeps it)
    with pytest.raises(MalformedEventError):
        stack.invoke("TrackerFunction", event)


def test_alert_refused_by_sns_is_sent_by_the_retried_delivery(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a launched job whose step failed, and an alerts topic that is briefly unavailable
    launched = launch_classic(stack)
    set_step_state(launched.cluster_id, "FAILED")
    topic_arn = stack.outputs["AlertsTopicArn"]
    sns = boto3.client("sns", region_name=stack.region)
    sns.delete_topic(TopicArn=topic_arn)
    event = for_cluster(STEP_FAILED, launched.cluster_id, launched.step_id)

    # When the failure is delivered: the publish fails, so the invocation fails (Lambda will retry it)
    with pytest.raises(AlertPublishError):
        stack.invoke("TrackerFunction", event)
    job = _job(ledger, launched)
    assert job.state is JobState.FAILED
    assert job.alert_pending
    # ... SNS is back, and Lambda retries the same event
    assert sns.create_topic(Name=topic_arn.rsplit(":", 1)[1])["TopicArn"] == topic_arn
    inbox = subscribe_queue(topic_arn, "alerts-after-outage")
    try:
        stack.invoke("TrackerFunction", event)
        retry_failed = False
    except AlertPublishError:
        retry_failed = True

    # Then the retry either sends the alert, or fails again so the event is not acknowledged without one
    assert retry_failed or len(inbox()) == 1
