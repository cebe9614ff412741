"""Issue 14, Deliver 5: the sweeper's describes stay inside EMR's quotas however many jobs are active.

EMR meters ListSteps at a burst of 10 and 0.5 a second, DescribeCluster at 10 and 1 a second (per account and
Region, FACTS.md): a sweep that describes twenty EMR on EC2 jobs back to back is throttled from the eleventh. The
sweeper paces its describes below those quotas (emr_dispatch/sweep_pace.py) on emr-dispatch's clock, and leaves
what does not fit in its reconcile time to the next run.
"""

from __future__ import annotations

import json

import boto3
import pytest

from emr_dispatch import sweep_pace
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.lambda_events import scheduled_event, sqs_event_of
from emr_dispatch_tools.moto_stack import DeployedStack, load_sam_template
from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR, QuotaMeter
from sample_events import load_event

REGION = "us-east-1"
JOBS = 20  # the shipped orders-daily cap; twice ListSteps' burst


def _launch_orders(stack: DeployedStack) -> None:
    for n in range(JOBS):
        event = load_event("s3-object-created-eventbridge.json")
        event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
        event["detail"]["object"]["key"] = f"raw/orders/2026-11-23/orders-{n:03d}.csv"
        event["detail"]["object"]["version-id"] = f"v-{n:04d}"
        stack.invoke("LauncherFunction", sqs_event_of([json.dumps(event)], REGION))


def test_one_sweep_over_more_active_clusters_than_list_steps_burst_is_never_throttled(stack: DeployedStack) -> None:
    # Given twenty EMR on EC2 jobs started (unpaced) whose every event was lost, and EMR's default quotas metered
    _launch_orders(stack)
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    assert len(list(ledger.list_jobs(JobState.SUBMITTED))) == JOBS
    clock = VirtualClock()
    meter = QuotaMeter(DEFAULT_QUOTAS, clock)

    # When the sweeper runs once
    with virtual_time(clock), meter.installed():
        report = stack.invoke("SweeperFunction", scheduled_event(REGION))

    # Then it described every job (each is RUNNING now) and no EMR call was throttled
    assert report["examined"] == JOBS
    assert len(list(ledger.list_jobs(JobState.RUNNING))) == JOBS
    assert meter.report.throttled_of(EMR) == 0
    assert meter.report.answered[(EMR, "ListSteps")] >= JOBS
    # ... because it waited for ListSteps' refill after the burst, on the virtual clock
    assert clock.monotonic() >= (JOBS - 8) / 0.4


def test_what_does_not_fit_in_the_reconcile_time_waits_for_the_next_run(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given twenty EMR on EC2 jobs whose events were lost, and a reconcile time that fits the burst and ten more
    _launch_orders(stack)
    monkeypatch.setattr(sweep_pace, "RECONCILE_SECONDS", 10 / 0.4)
    clock = VirtualClock()

    # When the sweeper runs, and again five minutes later
    with virtual_time(clock), QuotaMeter(DEFAULT_QUOTAS, clock).installed() as meter:
        first = stack.invoke("SweeperFunction", scheduled_event(REGION))
        clock.advance(300)
        second = stack.invoke("SweeperFunction", scheduled_event(REGION))

    # Then the first run stopped at its time and said so, the second described the rest, nothing throttled
    assert first["examined"] < JOBS
    assert first["budget_exhausted"] is True
    assert first["examined"] + second["examined"] >= JOBS
    assert meter.report.throttled_of(EMR) == 0


def test_the_reconcile_time_leaves_room_in_the_sweepers_lambda_timeout() -> None:
    # Given the sweeper's timeout in template.yaml
    timeout = load_sam_template()["Resources"]["SweeperFunction"]["Properties"]["Timeout"]

    # Then pacing its describes and its orphan search leaves at least a minute for the rest of the sweep
    assert timeout - 60 >= sweep_pace.RECONCILE_SECONDS + sweep_pace.ORPHAN_SEARCH_SECONDS


def test_the_harness_reading_a_resources_tags_spends_no_quota() -> None:
    # Given EMR's quotas metered, and a cluster in the (moto) account
    from moto import mock_aws

    from emr_dispatch_tools.offline.checks import suspended

    with mock_aws():
        emr = boto3.client("emr", region_name=REGION)
        cluster = emr.run_job_flow(
            Name="c",
            ReleaseLabel="emr-7.5.0",
            Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge"},
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]
        clock = VirtualClock()
        with virtual_time(clock), QuotaMeter(DEFAULT_QUOTAS, clock).installed() as meter:
            # When the offline IAM checker reads the cluster's tags (for a condition), and the product describes it
            with suspended():
                emr.describe_cluster(ClusterId=cluster)
            emr.describe_cluster(ClusterId=cluster)

    # Then only the product's call was metered: AWS reads tags for its own conditions without spending a quota
    assert meter.report.calls[(EMR, "DescribeCluster")] == 1
