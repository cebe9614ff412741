"""Issue 14: the burst at EMR's default quotas, on a virtual clock, three ways over the same deliveries:

- **emr-dispatch**: the deployed launcher (pacing, waiting QUEUED), driven through the stack's real arrivals queue
  as Lambda's SQS source drives it (tools/emr_dispatch_tools/offline/drive.py);
- **today's behaviour** (before issue 14, as the issue describes it): claim, start, and on a throttle release the
  claim and fail the record, so SQS delivers it again after the 720 s visibility timeout and dead-letters it
  after 5 receives; the SDK retried throttles 5 times (aws.py's old standard-mode configuration);
- **naive**: one start per delivery, no claim, boto3's default retries, a failed start fails the record.

Both baselines are modelled here (bench-only code, like naive.py) over the same moto engines, meter and queue
semantics; only emr-dispatch runs its real code with its ledger. A probe stands for the tracker's calls: one
DescribeCluster and one GetJobRun a minute, counted when throttled. Then the sweeper over 2,000 active jobs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench.burst import EVENTS_PREFIX, JOB_ROLE, ORDERS_PREFIX, REGION, Burst
from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
from emr_dispatch_tools.offline.drive import QueueDriver
from emr_dispatch_tools.offline.moto_transactions import item_level_rollback
from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR, SERVERLESS, MeterReport, QuotaMeter

START_OPERATIONS = {(EMR, "RunJobFlow"), (SERVERLESS, "StartJobRun")}
PROBE_EVERY_SECONDS = 60
MAX_RECEIVES = 5  # template.yaml: the arrivals queue's redrive policy
VISIBILITY_SECONDS = 720  # template.yaml: the arrivals queue's visibility timeout
LAMBDA_TIMEOUT_SECONDS = 240  # template.yaml: the sweeper's timeout


@dataclass
class QuotaRun:
    name: str
    objects: int = 0
    deliveries: int = 0
    dead_lettered: int = 0  # deliveries that ended in the DLQ
    objects_lost: int = 0  # objects with no job started
    resources: int = 0  # clusters and job runs started
    duplicates: int = 0  # resources beyond one per object started
    drain_seconds: float = 0.0  # first arrival → last start (virtual)
    floor_seconds: float = 0.0
    throttled: int = 0  # every throttled attempt, all operations
    throttled_starts: int = 0
    probe_throttled: int = 0
    wall_seconds: float = 0.0
    meter: MeterReport = field(default_factory=MeterReport)

    @property
    def drain_ratio(self) -> float:
        return self.drain_seconds / self.floor_seconds if self.floor_seconds else float("nan")

    @property
    def throttled_per_start(self) -> float:
        started = self.resources or 1
        return self.throttled / started


def quota_floor(orders: int, events: int) -> float:
    """The least time the default quotas allow for these starts: each engine's start API, its burst first."""
    floors = [0.0]
    for count, (service, operation) in ((orders, (EMR, "RunJobFlow")), (events, (SERVERLESS, "StartJobRun"))):
        rate = DEFAULT_QUOTAS.api[(service, operation)]
        floors.append(max(count - rate.burst, 0) / rate.per_second)
    return max(floors)


def run_all(burst: Burst, routes_file: Path) -> list[QuotaRun]:
    return [_run(burst, routes_file, name) for name in ("emr-dispatch", "today's behaviour", "naive")]


def _run(burst: Burst, routes_file: Path, name: str) -> QuotaRun:
    import boto3
    from moto import mock_aws

    from emr_dispatch_tools.bench.runs import RoutedStack, _serverless_application

    result = QuotaRun(name, objects=len(burst.objects), deliveries=len(burst.order))
    orders = sum(1 for obj in burst.objects if obj.key.startswith(ORDERS_PREFIX))
    result.floor_seconds = quota_floor(orders, len(burst.objects) - orders)
    began = time.perf_counter()
    with mock_aws(), item_level_rollback():
        setup = boto3.Session(region_name=REGION)
        application_id = _serverless_application(setup)
        deployed = moto_stack.deploy(
            "emr-dispatch-quotas",
            region=REGION,
            parameters={"EmrServerlessApplicationId": application_id, "EmrServerlessJobRoleName": JOB_ROLE},
        )
        stack = RoutedStack.of(deployed, ROUTES_FILE=str(routes_file))
        queue_url = stack.outputs["ArrivalsQueueUrl"]
        sqs = setup.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bodies = [
            record["body"]
            for event in burst.sqs_events(stack.outputs["LandingBucketName"], queue_arn, 7)
            for record in event["Records"]
        ]
        clock = VirtualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
        meter = QuotaMeter(DEFAULT_QUOTAS, clock, seed=7)
        with virtual_time(clock):
            for start in range(0, len(bodies), 10):  # the burst lands at once
                sqs.send_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])],
                )
            launch = _launcher(name, stack, application_id)
            probe = _Probe(clock, application_id)
            with meter.installed():
                driver = QueueDriver(queue_url, clock, launch, tick=probe.maybe)
                driver.run(until_quiet_for=900)
            result.probe_throttled = probe.throttled
        dlq_url = _dlq_url(sqs, queue_url)
        result.dead_lettered = int(
            sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        started_inputs = _started_inputs(application_id)
        result.resources = len(started_inputs)
        result.duplicates = len(started_inputs) - len(set(started_inputs))
        result.objects_lost = len(burst.objects) - len(set(started_inputs))
    result.meter = meter.report
    result.throttled = sum(meter.report.throttled.values())
    result.throttled_starts = sum(meter.report.throttled[key] for key in START_OPERATIONS)
    lasts = [meter.report.last_at[key] for key in START_OPERATIONS if key in meter.report.last_at]
    result.drain_seconds = max(lasts) if lasts else 0.0
    result.wall_seconds = time.perf_counter() - began
    return result


def _launcher(name: str, stack: Any, application_id: str) -> Callable[[dict[str, Any]], Any]:
    if name == "emr-dispatch":
        return lambda event: stack.invoke("LauncherFunction", event)
    return _BaselineLauncher(application_id, claims=name != "naive").launch


class _BaselineLauncher:
    """Today's launcher (claims, releases on throttle, fails the record) or the naive one (no claim)."""

    def __init__(self, application_id: str, claims: bool) -> None:
        import boto3
        from botocore.config import Config

        retries: Any = {"mode": "standard", "max_attempts": 5} if claims else None
        config = Config(retries=retries) if retries else None
        self._emr = boto3.client("emr", region_name=REGION, config=config)
        self._serverless = boto3.client("emr-serverless", region_name=REGION, config=config)
        self._application_id = application_id
        self._claims = claims
        self._claimed: set[str] = set()

    def launch(self, event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            for bucket, key, version in _located(json.loads(record["body"])):
                identity = f"{bucket}/{key}@{version}"
                if self._claims and identity in self._claimed:
                    continue  # a duplicate: the ledger's claim says it started (or is starting)
                self._claimed.add(identity)
                try:
                    self._start(bucket, key)
                except self._emr.exceptions.ClientError:
                    self._claimed.discard(identity)  # today: release the claim, fail the record
                    failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _start(self, bucket: str, key: str) -> None:
        arguments = [f"--input=s3://{bucket}/{key}"]
        if key.startswith(ORDERS_PREFIX):
            self._emr.run_job_flow(
                Name="baseline-orders",
                ReleaseLabel="emr-7.5.0",
                Instances={
                    "KeepJobFlowAliveWhenNoSteps": False,
                    "InstanceCount": 1,
                    "MasterInstanceType": "m7g.xlarge",
                },
                Steps=[
                    {
                        "Name": "orders",
                        "ActionOnFailure": "TERMINATE_CLUSTER",
                        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "job.py", *arguments]},
                    }
                ],
                ServiceRole="EMR_DefaultRole",
                JobFlowRole="EMR_EC2_DefaultRole",
            )
        elif key.startswith(EVENTS_PREFIX):
            self._serverless.start_job_run(
                applicationId=self._application_id,
                executionRoleArn=f"arn:aws:iam::123456789012:role/{JOB_ROLE}",
                clientToken=str(uuid.uuid4()),
                jobDriver={"sparkSubmit": {"entryPoint": "s3://work/job.py", "entryPointArguments": arguments}},
            )


class _Probe:
    """The tracker's share of the account's EMR calls: one DescribeCluster and one GetJobRun a minute."""

    def __init__(self, clock: VirtualClock, application_id: str) -> None:
        import boto3

        self._clock = clock
        self._next = clock.monotonic()
        self._emr = boto3.client("emr", region_name=REGION)
        self._serverless = boto3.client("emr-serverless", region_name=REGION)
        self._application_id = application_id
        self.throttled = 0

    def maybe(self) -> None:
        while self._next <= self._clock.monotonic():
            self._next += PROBE_EVERY_SECONDS
            for call in (self._describe_cluster, self._get_job_run):
                try:
                    call()
                except self._emr.exceptions.ClientError as exc:
                    if "Throttling" in str(exc):
                        self.throttled += 1

    def _describe_cluster(self) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.emr.models import emr_backends

        ids = list(emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters)
        if ids:
            self._emr.describe_cluster(ClusterId=ids[-1])

    def _get_job_run(self) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.emrserverless.models import emrserverless_backends

        runs = emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(self._application_id, [])
        if runs:
            self._serverless.get_job_run(applicationId=self._application_id, jobRunId=runs[-1].id)


def _located(body: Any) -> list[tuple[str, str, str]]:
    if body.get("detail-type") == "Object Created":
        detail = body["detail"]
        return [
            (detail["bucket"]["name"], unquote_plus(detail["object"]["key"]), detail["object"].get("version-id", ""))
        ]
    return [
        (r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), r["s3"]["object"].get("versionId", ""))
        for r in body.get("Records", [])
    ]


def _dlq_url(sqs: Any, queue_url: str) -> str:
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    name = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[-1]
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _started_inputs(application_id: str) -> list[str]:
    """The --input= of every cluster and job run the engines hold (moto's backends)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emr.models import emr_backends
    from moto.emrserverless.models import emrserverless_backends

    inputs = []
    for cluster in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters.values():
        for step in cluster.steps[:1]:
            inputs += [a.removeprefix("--input=") for a in step.args if a.startswith("--input=")]
    for run in emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(application_id, []):
        arguments = (run.job_driver or {})["sparkSubmit"]["entryPointArguments"]
        inputs += [a.removeprefix("--input=") for a in arguments if a.startswith("--input=")]
    return inputs
