"""Issue 14: a burst against tight quotas, on a virtual clock, loses nothing and starts each object once.

Arrivals (re-delivered, out of order) go through the stack's real arrivals queue as Lambda's SQS source hands
them over; EMR's APIs are metered (tools/emr_dispatch_tools/offline/quotas.py) at a tenth of the default rates;
the launcher paces its starts to its routes file's start rates, set to the same quotas. Nothing may reach the
DLQ, every object gets exactly one job and one engine resource, and the engines are hardly ever throttled.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest

from emr_dispatch import wiring
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import ROOT, DeployedStack
from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
from emr_dispatch_tools.offline.drive import QueueDriver
from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR, SERVERLESS, QuotaMeter
from sample_events import load_event

REGION = "us-east-1"
OBJECTS = 16  # half orders (EMR on EC2), half returns (EMR Serverless)
TIGHT = 0.1  # a tenth of the default quotas: RunJobFlow burst 1, 0.05/s; StartJobRun burst 2.5, 0.1/s


def _routes_file(tmp_path: Path) -> dict[str, str]:
    shipped = (ROOT / "config" / "routes.yaml").read_text(encoding="utf-8")
    rates = "start_rates:\n  emr-ec2: {per_second: 0.05, burst: 1}\n  emr-serverless: {per_second: 0.1, burst: 2}\n"
    path = tmp_path / "routes.yaml"
    path.write_text(shipped.replace("routes:\n", rates + "routes:\n", 1), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrivals(stack: DeployedStack) -> list[str]:
    """Message bodies: every object once, a third of them again, shuffled (S3 delivers in any order)."""
    landing = stack.outputs["LandingBucketName"]
    keys = [
        f"raw/orders/2026-11-23/orders-{n:03d}.csv" if n % 2 else f"raw/returns/2026-11-23/returns-{n:03d}.csv"
        for n in range(OBJECTS)
    ]
    bodies: list[str] = []
    for key in keys:
        event = load_event("s3-object-created-eventbridge.json")
        event["detail"]["bucket"]["name"] = landing
        event["detail"]["object"]["key"] = quote_plus(key, safe="/")
        event["detail"]["object"]["version-id"] = f"v-{len(bodies):04d}"
        bodies.append(json.dumps(event))
    rng = random.Random(14)  # noqa: S311 - a delivery order, not a secret
    deliveries = bodies + rng.sample(bodies, OBJECTS // 3)
    rng.shuffle(deliveries)
    return deliveries


@pytest.mark.usefixtures("aws_env")
def test_a_burst_against_tight_quotas_loses_nothing_and_starts_each_object_once(
    engines_stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the stack, tight quotas on a virtual clock, and a burst of re-delivered, shuffled arrivals
    stack, overrides = engines_stack, _routes_file(tmp_path)
    queue_url = stack.outputs["ArrivalsQueueUrl"]
    sqs = boto3.client("sqs", region_name=REGION)
    clock = VirtualClock()
    meter = QuotaMeter(DEFAULT_QUOTAS.scaled(TIGHT), clock)
    for name, value in {**stack.function_environment("SweeperFunction"), **overrides}.items():
        monkeypatch.setenv(name, value)

    def sweep() -> None:
        wiring.reset()
        wiring.sweeper().sweep()
        wiring.reset()

    with virtual_time(clock), meter.installed():
        for body in _arrivals(stack):
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        driver = QueueDriver(queue_url, clock, lambda event: stack.invoke("LauncherFunction", event, overrides), sweep)

        # When Lambda's SQS source delivers them and the sweeper runs on schedule, until all is quiet
        driver.run(until_quiet_for=600)

    # Then nothing was dead-lettered and no message failed
    dlq = stack.outputs.get("ArrivalsDeadLetterQueueUrl") or sqs.get_queue_url(QueueName=_dlq_name(stack))["QueueUrl"]
    assert (
        int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"])
        == 0
    )
    assert driver.report.item_failures == 0

    # ... every object has exactly one job, started once, on exactly one engine resource
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    jobs = list(ledger.list_jobs())
    assert len(jobs) == OBJECTS
    assert {job.state for job in jobs} <= {JobState.SUBMITTED, JobState.RUNNING, JobState.SUCCEEDED}
    assert [job.attempt for job in jobs] == [1] * OBJECTS
    assert all([e["state"] for e in job.history].count("SUBMITTED") == 1 for job in jobs)
    clusters = boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]
    assert len(clusters) == OBJECTS // 2
    assert len({job.engine_id for job in jobs}) == OBJECTS

    # ... at the pace the quotas allow, with (almost) no throttled call
    starts = meter.report.throttled_of(EMR, frozenset({"RunJobFlow"}))
    assert starts + meter.report.throttled_of(SERVERLESS, frozenset({"StartJobRun"})) <= 1
    assert clock.monotonic() >= (OBJECTS // 2 - 1) / 0.05  # RunJobFlow's refill bounds the drain


def _dlq_name(stack: DeployedStack) -> str:
    client = boto3.client("sqs", region_name=REGION)
    attributes = client.get_queue_attributes(
        QueueUrl=stack.outputs["ArrivalsQueueUrl"], AttributeNames=["RedrivePolicy"]
    )
    target = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    return str(target.rsplit(":", 1)[-1])
