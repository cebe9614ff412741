"""Issue 14's quota paths, attacked: each test is a defect found by the breaker, kept as a strict xfail until it is
fixed (/work/wt/_prompts/s4/findings.md). Given/When/Then, virtual clock, the real template deployed into moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.drive import QueueDriver
from emr_dispatch_tools.offline.quotas import QuotaMeter
from sample_events import load_event

REGION = "us-east-1"

EC2_ROUTE = """
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


def _routes(tmp_path: Path, header: str, *names: str) -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(header + "routes:" + "".join(EC2_ROUTE.format(name=name) for name in names), encoding="utf-8")
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


@pytest.mark.xfail(
    strict=True,
    reason="breaker F1: every start-queued request for all routes drains from the first route of the file, so with "
    "more routes of one engine than its start burst, the later routes starve behind the earlier ones' backlogs",
)
def test_a_route_later_in_the_file_is_not_starved_by_earlier_routes_backlogs(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given three EMR on EC2 routes and a start rate of 2 at once, one per 10 s (a user's routes file)
    header = "version: 1\nstart_rates:\n  emr-ec2: {per_second: 0.1, burst: 2}\n"
    overrides = _routes(tmp_path, header, "alpha", "bravo", "charlie")
    # ... and a burst: four files of each route, arriving alpha, bravo, charlie, alpha, bravo, charlie, ...
    arrived = [
        _arrive(stack, overrides, quota_meter, f"{name}/file-{n}.csv")
        for n in range(4)
        for name in ("alpha", "bravo", "charlie")
    ]
    assert [r["status"] for r in arrived[:3]] == ["started", "started", "queued"]
    charlie_first = arrived[2]["job_id"]

    # When the launcher's own start-queued requests are delivered as they fall due (no sweeper needed)
    driver = QueueDriver(
        stack.outputs["ArrivalsQueueUrl"],
        quota_meter.clock,
        lambda event: stack.invoke("LauncherFunction", event, overrides),
    )
    driver.run(until_quiet_for=600)

    # Then every job started, and charlie's first job - the oldest job waiting once the burst was spent - started
    # before the last jobs of alpha and bravo, which arrived long after it (fair across routes)
    jobs = _jobs(stack)
    assert {job.state for job in jobs.values()} == {JobState.SUBMITTED}
    last_alpha, last_bravo = arrived[9]["job_id"], arrived[10]["job_id"]
    charlie_started = jobs[charlie_first].submitted_at or ""
    assert charlie_started < (jobs[last_alpha].submitted_at or "")
    assert charlie_started < (jobs[last_bravo].submitted_at or "")
