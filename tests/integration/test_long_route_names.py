"""A route name as long as the routes file allows (40) on EMR on EKS: its job-run name is shortened to the
API's 64 characters around the job's digest, and the sweeper still knows whose run it is (no false orphan),
while a run of an ended job under such a name is still found and stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
import yaml

from emr_dispatch import wiring
from emr_dispatch.jobs import JobState, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import load_event

REGION = "us-east-1"
ROUTES = Path(__file__).resolve().parents[2] / "config" / "routes.yaml"
LONG_NAME = "payments-card-settlements-eu-west-nightly"[:40]


@pytest.fixture
def long_routes(engines_stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    raw = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))
    eks = next(route for route in raw["routes"] if route["engine"] == "emr-eks")
    eks["name"] = LONG_NAME
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    overrides = {"ROUTES_FILE": str(path)}
    for name, value in {**engines_stack.function_environment("SweeperFunction"), **overrides}.items():
        monkeypatch.setenv(name, value)
    return overrides


def _arrive(stack: DeployedStack, overrides: dict[str, str]) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus("raw/payments/2026-11-23/payments-0001.csv", safe="/")
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _sweep() -> Any:
    wiring.reset()
    try:
        return wiring.sweeper().sweep()
    finally:
        wiring.reset()


def test_a_long_eks_route_name_starts_a_valid_run_the_sweeper_recognises(
    engines_stack: DeployedStack, long_routes: dict[str, str]
) -> None:
    # Given an arrival for the EMR on EKS route whose name has 40 characters
    started = _arrive(engines_stack, long_routes)
    assert started["status"] == "started"
    virtual_cluster_id, _, run_id = started["engine_id"].partition("/")
    containers = boto3.client("emr-containers", region_name=REGION)
    run = containers.describe_job_run(virtualClusterId=virtual_cluster_id, id=run_id)["jobRun"]
    # Then the run's name fits the API (64) and keeps the job's digest and attempt
    assert len(run["name"]) <= 64
    assert run["name"].endswith(started["job_id"].rsplit("-", 1)[1] + "-a1")
    # When the sweeper looks for orphans
    report = _sweep()
    # Then the run is its job's, not an orphan
    assert report.orphans == []
    assert containers.describe_job_run(virtualClusterId=virtual_cluster_id, id=run_id)["jobRun"]["state"] == "RUNNING"

    # And when the job has ended in the ledger while its run still runs, the same lookup finds the job
    ledger = Ledger(engines_stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    job = ledger.get(started["job_id"])
    assert job is not None
    ledger.transition(job, StateUpdate(JobState.CANCELLED, "test", "USER_REQUEST"), alert=False)
    report = _sweep()
    assert report.orphans == [started["engine_id"]]
