"""Invariant 1: one object version starts at most one job, however often and however concurrently its
event arrives — and a crash between the engine call and the ledger write leaves no second cluster."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from emr_dispatch import jobs, wiring
from emr_dispatch.errors import LedgerError
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import load_event

REGION = "us-east-1"
KEYS = {
    "emr-ec2": "raw/orders/2026-11-23/orders 1+2 café.csv",
    "emr-serverless": "raw/returns/2026-11-23/returns-0001.csv",
    "emr-eks": "raw/payments/2026-11-23/payments-0001.csv",
}


def _arrival(bucket: str, key: str) -> dict[str, Any]:
    """The EventBridge "Object Created" sample of events/, for this object."""

    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key  # EventBridge keys are not form-encoded
    return event


def _engine_resources() -> dict[str, int]:
    """Clusters and job runs the engines hold (read from moto's backends: its ListJobRuns raises for an
    application that has none yet)."""
    from moto.emr.models import emr_backends
    from moto.emrcontainers.models import emrcontainers_backends
    from moto.emrserverless.models import emrserverless_backends

    account = "123456789012"
    return {
        "emr-ec2": len(emr_backends[account][REGION].clusters),
        "emr-serverless": sum(len(runs) for runs in emrserverless_backends[account][REGION].job_runs.values()),
        "emr-eks": len(emrcontainers_backends[account][REGION].job_runs),
    }


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional write atomically; moto checks and writes without a lock, so two
    threads can both pass the same condition. Serialise moto's writes so the test sees DynamoDB's semantics."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, serialised)


@pytest.mark.parametrize("engine", sorted(KEYS))
def test_concurrent_duplicate_deliveries_start_one_job(
    engines_stack: DeployedStack, atomic_dynamodb: None, engine: str
) -> None:
    # Given one arrival delivered 8 times at once, as 8 concurrent launcher containers would receive it
    event = _arrival(engines_stack.outputs["LandingBucketName"], KEYS[engine])
    environment = engines_stack.function_environment("LauncherFunction")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        wiring.reset()
        launcher = wiring.launcher()  # clients are created here, before the threads start
        barrier = threading.Barrier(8)
        results: list[str] = []

        def deliver() -> None:
            barrier.wait()
            results.extend(result.status for result in launcher.handle_event(event))

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wiring.reset()

    # Then exactly one delivery started a job and the seven others were recognised as duplicates
    assert sorted(results) == ["duplicate"] * 7 + ["started"]
    # And the engine holds exactly one resource for it
    assert _engine_resources()[engine] == 1


def test_crash_between_cluster_start_and_ledger_write_leaves_no_second_cluster(
    engines_stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an invocation that dies right after RunJobFlow, before recording the cluster id
    event = _arrival(engines_stack.outputs["LandingBucketName"], KEYS["emr-ec2"])

    def crash(*args: object, **kwargs: object) -> None:
        raise LedgerError("injected fault: the invocation died after RunJobFlow")

    with monkeypatch.context() as fault:
        fault.setattr(Ledger, "record_submitted", crash)
        with pytest.raises(LedgerError, match="injected fault"):
            engines_stack.invoke("LauncherFunction", event)
    assert _engine_resources()["emr-ec2"] == 1

    # When the arrival is delivered again once the dead invocation's claim has expired
    monkeypatch.setattr(jobs, "ABANDONED_START_SECONDS", -1)
    result = engines_stack.invoke("LauncherFunction", event)["results"][0]

    # Then the cluster the first invocation started is adopted: no second cluster, the job is SUBMITTED on it
    assert result["status"] == "recovered"
    clusters = boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]
    assert len(clusters) == 1
    job = Ledger(engines_stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION)).get(
        result["job_id"]
    )
    assert job is not None
    assert job.state.value == "SUBMITTED"
    assert job.engine_id == clusters[0]["Id"]


def test_fresh_claim_of_a_running_invocation_is_not_taken_over(engines_stack: DeployedStack) -> None:
    # Given a delivery that claimed the job moments ago and is still working (no engine id yet)
    event = _arrival(engines_stack.outputs["LandingBucketName"], KEYS["emr-ec2"])
    ledger = Ledger(engines_stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    first = engines_stack.invoke("LauncherFunction", event)["results"][0]
    assert first["status"] == "started"
    # When the same arrival comes again at once (claim fresh, now with an engine id)
    again = engines_stack.invoke("LauncherFunction", event)["results"][0]
    # Then it is a duplicate and nothing else starts
    assert again["status"] == "duplicate"
    assert _engine_resources()["emr-ec2"] == 1
    job = ledger.get(first["job_id"])
    assert job is not None
    assert [entry["state"] for entry in job.history] == ["SUBMITTING", "SUBMITTED"]
