"""Who gets a slot a job's end frees, when an overall cap (max_concurrent_jobs) and a route's own cap
(max_concurrent) both apply: the route whose own cap was full keeps it (only its jobs were waiting for that cap);
otherwise the oldest head job across routes takes it (issue 14: "fairly across routes, oldest first within a
route"). Given/When/Then, the real template deployed into moto, quotas on a virtual clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3

from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.quotas import QuotaMeter
from sample_events import load_event

REGION = "us-east-1"
UNPACED = "start_rates:\n  emr-ec2: {per_second: 100, burst: 100}\n"

ROUTE = """
  - name: {name}
    match: {{prefix: {name}/}}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
"""


def _routes(tmp_path: Path, max_concurrent_jobs: int, caps: dict[str, int | None]) -> dict[str, str]:
    text = f"version: 1\nmax_concurrent_jobs: {max_concurrent_jobs}\n{UNPACED}routes:"
    for name, cap in caps.items():
        text += ROUTE.format(name=name) + (f"    max_concurrent: {cap}\n" if cap is not None else "")
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, overrides: dict[str, str], meter: QuotaMeter, key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    meter.clock.advance(0.01)  # distinct arrival times: oldest first is by claim time
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _jobs(stack: DeployedStack) -> dict[str, Job]:
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    return {job.job_id: job for job in ledger.list_jobs()}


def _end_cluster(stack: DeployedStack, overrides: dict[str, str], cluster_id: str) -> None:
    """The job's cluster ends well; the tracker gets its events, then the launcher its start-queued request."""
    from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome
    from moto_helpers import receive_as_lambda_event

    for event in EmrEc2Simulator(region=REGION).run(cluster_id, Outcome.SUCCEED):
        stack.invoke("TrackerFunction", event, overrides)
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    assert messages["Records"], "the tracker asked for queued jobs to be started"
    assert stack.invoke("LauncherFunction", messages, overrides) == {"batchItemFailures": []}


def test_a_capped_routes_freed_overall_slot_goes_to_the_oldest_job_when_its_own_cap_was_not_full(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given one job of all routes at a time (max_concurrent_jobs: 1), alpha capped at 2 of its own, bravo uncapped
    overrides = _routes(tmp_path, 1, {"alpha": 2, "bravo": None})
    # ... alpha's first job running; then alpha's second, bravo's first and alpha's third waiting, in that order
    first = _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")
    waiting = [_arrive(stack, overrides, quota_meter, key) for key in ("alpha/file-1.csv", "bravo/file-0.csv")]
    last = _arrive(stack, overrides, quota_meter, "alpha/file-2.csv")
    assert [r["status"] for r in [first, *waiting, last]] == ["started", "queued", "queued", "queued"]

    # When alpha's running job ends, and then the job that took its slot (alpha's second) ends too
    _end_cluster(stack, overrides, first["engine_id"])
    jobs = _jobs(stack)
    assert jobs[waiting[0]["job_id"]].state is JobState.SUBMITTED  # the oldest waiting job took the slot
    _end_cluster(stack, overrides, jobs[waiting[0]["job_id"]].engine_id or "")

    # Then that slot - the overall cap's, not alpha's own (alpha ran one job of its two) - went to bravo's job, the
    # oldest one waiting, not back to alpha's newer one
    jobs = _jobs(stack)
    assert jobs[waiting[1]["job_id"]].state is JobState.SUBMITTED
    assert jobs[last["job_id"]].state is JobState.QUEUED


def test_a_slot_freed_under_a_routes_full_own_cap_goes_back_to_that_route_first(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given two jobs of all routes at a time, alpha capped at 1 of its own, bravo uncapped
    overrides = _routes(tmp_path, 2, {"alpha": 1, "bravo": None})
    # ... alpha's and bravo's first jobs running (alpha's own cap and the overall cap both full); then bravo's second
    # and alpha's second waiting, in that order
    running = [_arrive(stack, overrides, quota_meter, key) for key in ("alpha/file-0.csv", "bravo/file-0.csv")]
    bravo_waiting = _arrive(stack, overrides, quota_meter, "bravo/file-1.csv")
    alpha_waiting = _arrive(stack, overrides, quota_meter, "alpha/file-1.csv")
    assert [r["status"] for r in [*running, bravo_waiting, alpha_waiting]] == ["started"] * 2 + ["queued"] * 2

    # When alpha's running job ends: the slot freed is alpha's own (its only one), and an overall one
    _end_cluster(stack, overrides, running[0]["engine_id"])

    # Then alpha's waiting job took it: only alpha's jobs were waiting for alpha's own cap; bravo's older job waits
    # for the next overall slot
    jobs = _jobs(stack)
    assert jobs[alpha_waiting["job_id"]].state is JobState.SUBMITTED
    assert jobs[bravo_waiting["job_id"]].state is JobState.QUEUED
