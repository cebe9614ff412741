"""The quota burst's world: the burst over the shipped routes, engine lifetimes that end what was started (and
tell the tracker, as EMR's state-change events do), warm function containers, the two baseline launchers and
the probe standing for the tracker's share of the account's calls. Bench-only code, like naive.py.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench.burst import REGION, Burst
from emr_dispatch_tools.offline.clock import VirtualClock

ROUTE_MIX = (  # shipped routes (config/routes.yaml), by object index modulo 5
    ("orders-daily", "emr-ec2", "raw/orders/2026-11-23/orders-{n:06d}{variant}.csv"),
    ("orders-daily", "emr-ec2", "raw/orders/2026-11-23/orders-{n:06d}{variant}.csv"),
    ("returns-serverless", "emr-serverless", "raw/returns/2026-11-23/returns-{n:06d}{variant}.csv"),
    ("returns-serverless", "emr-serverless", "raw/returns/2026-11-23/returns-{n:06d}{variant}.csv"),
    ("payments-eks", "emr-eks", "raw/payments/2026-11-23/payments-{n:06d}{variant}.csv"),
)
VARIANTS = ("", " café", "+x", "-100%")  # keys URL-encoding changes, as burst.py's
LIFETIMES = {"emr-ec2": 15 * 60, "emr-serverless": 5 * 60, "emr-eks": 5 * 60}
"""Seconds from the start call to the resource's end: an ephemeral EMR on EC2 cluster provisions (~7 min), runs
its step and terminates; a job run on a started application or a virtual cluster needs no provisioning."""
PROBE_EVERY_SECONDS = 60


def engine_of(key: str) -> str:
    return next(engine for _, engine, pattern in ROUTE_MIX if key.startswith(pattern.split("2026")[0]))


def shipped_burst(burst: Burst) -> Burst:
    """The same deliveries, each object renamed under a shipped route's prefix (two orders, two returns, one
    payments file in five); keys keep the characters URL-encoding changes."""
    objects = [
        replace(obj, key=ROUTE_MIX[i % 5][2].format(n=i, variant=VARIANTS[i // 5 % 4]))
        for i, obj in enumerate(burst.objects)
    ]
    return Burst(objects, burst.order)


class WarmHandlers:
    """The stack's three handlers as warm Lambda containers run them. Every function of the template has the same
    environment (its Globals), so the three share one environment and one set of clients here; each keeps the
    object graph its first invocation built (wiring). stdout (metric records) goes nowhere."""

    def __init__(self, stack: moto_stack.DeployedStack, overrides: dict[str, str]) -> None:
        self._stack = stack
        self._environment = {
            **stack.function_environment("LauncherFunction"),
            **overrides,
            "AWS_REGION": stack.region,
            "POWERTOOLS_METRICS_NAMESPACE": "emr-dispatch",
        }
        self._handlers = {name: moto_stack.load_handler(spec) for name, spec in stack.functions.items()}

    @contextlib.contextmanager
    def running(self) -> Iterator[WarmHandlers]:
        from emr_dispatch import wiring

        saved = {name: os.environ.get(name) for name in self._environment}
        os.environ.update(self._environment)
        wiring.reset()
        try:
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                self._printed = printed
                yield self
        finally:
            wiring.reset()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self._printed.seek(0)
        self._printed.truncate()
        return self._handlers[logical_id](event, moto_stack.LambdaContext(self._stack.resources[logical_id]))


class EngineLifetimes:
    """Ends what the engines started after its lifetime (LIFETIMES), as AWS would, and hands the end's
    state-change event to ``track`` (the tracker; None: nobody listens). Also the start time of each resource,
    seen at the virtual moment its start call returned."""

    def __init__(self, clock: VirtualClock, application_id: str, track: Callable[[dict[str, Any]], Any] | None) -> None:
        from emr_dispatch_tools.simulator import EmrEc2Simulator, EmrEksSimulator, EmrServerlessSimulator

        self._clock = clock
        self._application_id = application_id
        self._track = track
        self._due: list[tuple[float, int, str, str]] = []
        self._seen = {"emr-ec2": 0, "emr-serverless": 0, "emr-eks": 0}
        self._order = itertools.count()
        self._ec2, self._serverless, self._eks = EmrEc2Simulator(), EmrServerlessSimulator(), EmrEksSimulator()
        self.first_start: float | None = None
        self.last_start = 0.0
        self.ended = 0

    def next_due(self) -> float | None:
        self._discover()
        return self._due[0][0] if self._due else None

    def tick(self) -> None:
        self._discover()
        now = self._clock.monotonic()
        while self._due and self._due[0][0] <= now:
            _, _, engine, resource = heapq.heappop(self._due)
            self._end(engine, resource)

    def _discover(self) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.emr.models import emr_backends
        from moto.emrcontainers.models import emrcontainers_backends
        from moto.emrserverless.models import emrserverless_backends

        resources: dict[str, Any] = {
            "emr-ec2": emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters,  # by id, in start order
            "emr-serverless": emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(self._application_id, []),
            "emr-eks": emrcontainers_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs,  # by id, in start order
        }
        now = self._clock.monotonic()
        for engine, found in resources.items():
            if len(found) == self._seen[engine]:
                continue
            for started in itertools.islice(found, self._seen[engine], None):
                resource = started if isinstance(started, str) else started.id
                heapq.heappush(self._due, (now + LIFETIMES[engine], next(self._order), engine, resource))
                self.first_start = now if self.first_start is None else self.first_start
                self.last_start = now
            self._seen[engine] = len(found)

    def _end(self, engine: str, resource: str) -> None:
        if engine == "emr-ec2":
            events = list(self._ec2.run(resource))
        elif engine == "emr-serverless":
            events = list(self._serverless.run(self._application_id, resource))
        else:
            events = list(self._eks.run(resource))
        self.ended += 1
        if self._track is not None:
            self._track(events[-1])  # the end's event (the earlier ones change nothing a slot depends on)


class BaselineLauncher:
    """Today's launcher (claims, releases on throttle, fails the record) or the naive one (no claim)."""

    def __init__(self, application_id: str, virtual_cluster_id: str, claims: bool) -> None:
        import boto3
        from botocore.config import Config

        retries: Any = {"mode": "standard", "max_attempts": 5} if claims else None
        config = Config(retries=retries) if retries else None
        self._emr = boto3.client("emr", region_name=REGION, config=config)
        self._serverless = boto3.client("emr-serverless", region_name=REGION, config=config)
        self._eks = boto3.client("emr-containers", region_name=REGION, config=config)
        self._application_id = application_id
        self._virtual_cluster_id = virtual_cluster_id
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
        engine = engine_of(key)
        if engine == "emr-ec2":
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
        elif engine == "emr-serverless":
            self._serverless.start_job_run(
                applicationId=self._application_id,
                executionRoleArn="arn:aws:iam::123456789012:role/baseline-job",
                clientToken=str(uuid.uuid4()),
                jobDriver={"sparkSubmit": {"entryPoint": "s3://work/job.py", "entryPointArguments": arguments}},
            )
        else:
            self._eks.start_job_run(
                name="baseline-payments",
                virtualClusterId=self._virtual_cluster_id,
                clientToken=str(uuid.uuid4()),
                executionRoleArn="arn:aws:iam::123456789012:role/baseline-job",
                releaseLabel="emr-7.5.0-latest",
                jobDriver={
                    "sparkSubmitJobDriver": {"entryPoint": "s3://work/job.py", "entryPointArguments": arguments}
                },
            )


class Probe:
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
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.emr.models import emr_backends
        from moto.emrserverless.models import emrserverless_backends

        while self._next <= self._clock.monotonic():
            self._next += PROBE_EVERY_SECONDS
            clusters = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters
            runs = emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(self._application_id, [])
            calls: list[tuple[Callable[..., Any], dict[str, str]]] = []
            if clusters:
                calls.append((self._emr.describe_cluster, {"ClusterId": next(reversed(clusters))}))
            if runs:
                calls.append(
                    (self._serverless.get_job_run, {"applicationId": self._application_id, "jobRunId": runs[-1].id})
                )
            for call, arguments in calls:
                try:
                    call(**arguments)
                except self._emr.exceptions.ClientError as exc:
                    if "Throttling" in str(exc):
                        self.throttled += 1


def _located(body: Any) -> list[tuple[str, str, str]]:
    if body.get("detail-type") == "Object Created":
        detail = body["detail"]
        return [(detail["bucket"]["name"], detail["object"]["key"], detail["object"].get("version-id", ""))]
    return [
        (r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), r["s3"]["object"].get("versionId", ""))
        for r in body.get("Records", [])
    ]


def dlq_depth(sqs: Any, queue_url: str) -> int:
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    name = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[-1]
    dlq_url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def started_inputs(application_id: str) -> list[str]:
    """The --input= of every cluster and job run the engines hold (moto's backends)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emr.models import emr_backends
    from moto.emrcontainers.models import emrcontainers_backends
    from moto.emrserverless.models import emrserverless_backends

    arguments: list[list[str]] = []
    for cluster in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters.values():
        arguments += [list(step.args) for step in cluster.steps[:1]]
    for run in emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(application_id, []):
        serverless: Any = run.job_driver or {}
        arguments.append(serverless["sparkSubmit"]["entryPointArguments"])
    for eks_run in emrcontainers_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.values():
        eks: Any = eks_run.job_driver or {}
        arguments.append(eks.get("sparkSubmitJobDriver", {}).get("entryPointArguments", []))
    return [next((a.removeprefix("--input=") for a in args if a.startswith("--input=")), "?") for args in arguments]
