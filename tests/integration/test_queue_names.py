"""The QUEUED jobs of removed routes are found in proportion to the routes, not to the backlog (issue 14): one
ledger item names every route that ever queued a job (queue_names.py), and each job is QUEUED under a name the
item already holds. A ledger older than the item is read in full until that is known to be complete."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from emr_dispatch import timeutil
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.ledger_reads import LedgerReads
from emr_dispatch.queue_names import FULL_READ_WINDOW_SECONDS
from emr_dispatch.table import SORT_KEY, queue_names_key
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.quotas import EMR, QuotaMeter, Rate
from moto_helpers import subscribe_queue
from sample_events import load_event

REGION = "us-east-1"
CAPPED = """
  - name: capped
    match: {prefix: capped/}
    max_concurrent: 1
    timeout_minutes: 600
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}"]"""
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
SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event"}


@pytest.fixture
def clock() -> Iterator[list[float]]:
    """emr-dispatch's clock on a number the test moves on (epoch seconds), from now."""
    now = [time.time()]
    timeutil.use_clock(lambda: datetime.fromtimestamp(now[0], UTC))
    try:
        yield now
    finally:
        timeutil.use_clock(None)


@pytest.fixture
def queued_reads(monkeypatch: pytest.MonkeyPatch) -> list[JobState | None]:
    """The states every ``list_jobs`` call of the ledger asked for (a full read of QUEUED shows as QUEUED)."""
    asked: list[JobState | None] = []
    original = LedgerReads.list_jobs

    def spy(self: LedgerReads, state: JobState | None = None, route: str | None = None) -> Iterator[Job]:
        asked.append(state)
        return original(self, state, route)

    monkeypatch.setattr(LedgerReads, "list_jobs", spy)
    return asked


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


def _sweep(stack: DeployedStack, routes: dict[str, str]) -> None:
    stack.invoke("SweeperFunction", SCHEDULED, routes)


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def _names_item(stack: DeployedStack) -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name=REGION)
    item = client.get_item(TableName=stack.outputs["LedgerTableName"], Key=queue_names_key()).get("Item")
    return dict(item or {})


def _alerts_for(inbox: Any, job_id: str) -> list[Any]:
    return [
        alert
        for alert in inbox()
        if json.loads(alert.message.split("--- machine-readable ---", 1)[1])["job_id"] == job_id
    ]


def test_a_job_queued_under_a_name_only_an_old_routes_file_knew_after_the_sweepers_last_pass_ends_route_removed(
    engines_stack: DeployedStack, tmp_path: Path, clock: list[float], queued_reads: list[JobState | None]
) -> None:
    # Given sweepers that already run the new routes file (route "capped" removed), an hour apart, so the ledger's
    # queue names are known complete, and a launcher that still holds the old file, its route at its cap
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "queue-names-alerts")
    old, new = _routes(tmp_path, "old", CAPPED, OTHER), _routes(tmp_path, "new", OTHER)
    assert _arrive(engines_stack, old, "capped/a.csv")["status"] == "started"
    _sweep(engines_stack, new)
    clock[0] += FULL_READ_WINDOW_SECONDS + 60
    _sweep(engines_stack, new)
    queued_reads.clear()

    # When, after the sweeper's last pass, the old launcher queues a job under "capped", and the sweeper runs again
    queued = _arrive(engines_stack, old, "capped/b.csv")
    assert queued["status"] == "queued"
    clock[0] += 300
    _sweep(engines_stack, new)
    _sweep(engines_stack, new)

    # Then the job ended FAILED ROUTE_REMOVED, nothing started for it, with exactly one alert
    job = _ledger(engines_stack).get(queued["job_id"])
    assert job is not None
    assert (job.state, job.reason_code, job.engine_id) == (JobState.FAILED, "ROUTE_REMOVED", None)
    alerts = _alerts_for(inbox, queued["job_id"])
    assert len(alerts) == 1
    assert "ROUTE_REMOVED" in alerts[0].subject
    # And the sweeps found it through the route names, not by reading every QUEUED job
    assert JobState.QUEUED not in queued_reads
    assert set(_names_item(engines_stack)["names"]["SS"]) == {"capped"}


def test_a_ledger_older_than_the_queue_names_is_read_in_full_until_they_are_known_complete(
    engines_stack: DeployedStack, tmp_path: Path, clock: list[float], queued_reads: list[JobState | None]
) -> None:
    # Given a job QUEUED under a route since removed, by code that kept no queue names (the item is absent)
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "pre-names-alerts")
    old, new = _routes(tmp_path, "old", CAPPED, OTHER), _routes(tmp_path, "new", OTHER)
    assert _arrive(engines_stack, old, "capped/a.csv")["status"] == "started"
    queued = _arrive(engines_stack, old, "capped/b.csv")
    assert queued["status"] == "queued"
    client = boto3.client("dynamodb", region_name=REGION)
    client.delete_item(TableName=engines_stack.outputs["LedgerTableName"], Key=queue_names_key())

    # When the sweeper runs
    _sweep(engines_stack, new)

    # Then it read the QUEUED jobs in full and ended the job ROUTE_REMOVED, alerted once, and recorded its route
    job = _ledger(engines_stack).get(queued["job_id"])
    assert job is not None
    assert (job.state, job.reason_code) == (JobState.FAILED, "ROUTE_REMOVED")
    assert len(_alerts_for(inbox, queued["job_id"])) == 1
    assert queued_reads.count(JobState.QUEUED) == 1
    item = _names_item(engines_stack)
    assert set(item["names"]["SS"]) == {"capped"}

    # And the full reads go on until one begins a full window after the first, then stop
    clock[0] += FULL_READ_WINDOW_SECONDS - 60
    _sweep(engines_stack, new)
    assert queued_reads.count(JobState.QUEUED) == 2
    clock[0] += 120
    _sweep(engines_stack, new)
    assert queued_reads.count(JobState.QUEUED) == 3
    clock[0] += 300
    _sweep(engines_stack, new)
    assert queued_reads.count(JobState.QUEUED) == 3


def test_the_queue_names_item_is_never_read_as_a_job(engines_stack: DeployedStack, tmp_path: Path) -> None:
    # Given a job queued at its route's cap: the ledger holds the queue names item beside the jobs
    routes = _routes(tmp_path, "routes", CAPPED)
    started = _arrive(engines_stack, routes, "capped/a.csv")
    queued = _arrive(engines_stack, routes, "capped/b.csv")
    assert _names_item(engines_stack)[SORT_KEY] == queue_names_key()[SORT_KEY]

    # When every job is listed (a scan of the table) and the QUEUED ones (the by_state index)
    everything = list(_ledger(engines_stack).list_jobs())
    waiting = list(_ledger(engines_stack).list_jobs(JobState.QUEUED))

    # Then only the two jobs are listed: the names item is no job, in no index a job reader uses
    assert sorted(job.job_id for job in everything) == sorted([started["job_id"], queued["job_id"]])
    assert [job.job_id for job in waiting] == [queued["job_id"]]
    names = _names_item(engines_stack)
    assert not {"state", "queue", "engine_id", "object_uri", "alert_due", "tags_due"} & set(names)


def test_the_deployed_sweeper_audits_a_capped_route_with_its_own_role(
    engines_stack: DeployedStack, tmp_path: Path
) -> None:
    # Given a capped route with one job holding its slot and one waiting at the cap
    routes = _routes(tmp_path, "routes", CAPPED)
    assert _arrive(engines_stack, routes, "capped/a.csv")["status"] == "started"
    assert _arrive(engines_stack, routes, "capped/b.csv")["status"] == "queued"

    # When the deployed sweeper runs (its calls authorized against its role in template.yaml)
    report = engines_stack.invoke("SweeperFunction", SCHEDULED, routes)

    # Then the audit read the slot holders and corrected nothing, the waiting job was seen, neither item failed
    assert [error for error in report["errors"] if error.startswith(("audit", "queued"))] == []
    assert report["counters_corrected"] == []
    assert report["queued_waiting"] is True


def test_a_start_parked_for_a_throttle_names_its_route_with_it(stack: DeployedStack, quota_meter: QuotaMeter) -> None:
    # Given an account whose RunJobFlow bucket is spent (burst 1) and refills slowly: a shipped route, no cap
    quota_meter.quotas = replace(quota_meter.quotas, api={**quota_meter.quotas.api, (EMR, "RunJobFlow"): Rate(1, 0.01)})
    emr = boto3.client("emr", region_name=REGION)
    emr.run_job_flow(Name="someone-else", Instances={"KeepJobFlowAliveWhenNoSteps": False}, ReleaseLabel="emr-7.5.0")

    # When an arrival's start is throttled: it is parked QUEUED (claimed SUBMITTING first, not queued at a cap)
    result = _arrive(stack, {}, "raw/orders/2026-11-23/a.csv")

    # Then its route's name was written with it: once removed, the route's queue is still found
    assert (result["status"], result["route"]) == ("queued", "orders-daily")
    assert "orders-daily" in _names_item(stack)["names"]["SS"]
