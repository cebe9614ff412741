"""Invariant 5 and crash safety: the launcher dies before or after each AWS call of the launch path; once
SQS redelivers the arrival (after its visibility timeout) and one sweep runs, there is exactly one cluster,
owned by its job, the job is not stuck, and the arrival is not lost."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from faults import InjectedCrashError, crash_at, recording_calls, with_occurrences

from emr_dispatch import jobs, wiring
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import load_event

REGION = "us-east-1"
LAUNCH_PATH = [
    ("dynamodb", "TransactWriteItems"),
    ("dynamodb", "UpdateItem"),
    ("emr", "RunJobFlow"),
    ("dynamodb", "UpdateItem"),
]
"""Claim (with the route's pause check), start token (pacing.py), start, record the engine id."""
FAULTED = with_occurrences(LAUNCH_PATH)
pytestmark = pytest.mark.usefixtures("paced_starts")  # the start-rate write is part of the path under test
KEY = "raw/orders/2026-11-23/orders-faults.csv"


def _arrival(stack: DeployedStack) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = KEY  # EventBridge keys are not form-encoded
    return event


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize(("service", "operation", "occurrence"), FAULTED)
def test_a_crash_at_any_launch_call_leaves_one_owned_cluster_after_redelivery_and_a_sweep(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch, service: str, operation: str, occurrence: int, when: str
) -> None:
    # Given an arrival whose first launcher invocation dies at this point of the launch path
    event = _arrival(stack)
    with crash_at(service, operation, when, occurrence), pytest.raises(InjectedCrashError):
        stack.invoke("LauncherFunction", event)

    # When SQS redelivers it after its visibility timeout (longer than any live invocation's claim)
    monkeypatch.setattr(jobs, "ABANDONED_START_SECONDS", -1)
    redelivered = stack.invoke("LauncherFunction", event)["results"][0]
    # ... and the sweeper runs once
    for name, value in stack.function_environment("SweeperFunction").items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    report = wiring.sweeper().sweep()
    wiring.reset()

    # Then the arrival has exactly one job, not stuck, on exactly one cluster, which it owns
    recorded_before_crash = (operation, occurrence, when) == ("UpdateItem", 2, "after")
    expected = {"duplicate"} if recorded_before_crash else {"started", "recovered"}
    assert redelivered["status"] in expected
    if (operation, when) == ("RunJobFlow", "after"):
        assert redelivered["status"] == "recovered"  # found by name: RunJobFlow was not sent twice
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    (job,) = list(ledger.list_jobs())
    assert job.state in (JobState.SUBMITTED, JobState.RUNNING)
    clusters = boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]
    alive = [c["Id"] for c in clusters if not c["Status"]["State"].startswith("TERMINAT")]
    assert alive == [job.engine_id]
    assert report.orphans == []


def test_the_fault_tests_cover_every_call_of_the_launch_path(stack: DeployedStack) -> None:
    # Given an arrival / When it is launched / Then these are its AWS calls, each one faulted above
    with recording_calls() as calls:
        stack.invoke("LauncherFunction", _arrival(stack))
    assert [call for call in calls if call[0] != "lambda"] == LAUNCH_PATH
