"""`make bench` (issue 4, "Bursts and duplicates"): a burst of S3 arrivals with re-deliveries, through the
launcher's public entry point, against a naive one-job-per-event baseline. A benchmark, not a test.

All in this process, in moto: template.yaml is deployed with moto_stack; a routes file written here takes
`burst/orders/` to EMR on EC2 and `burst/events/` to EMR Serverless (one job per object, the default); every
arrival is a classic S3 notification or an EventBridge "Object Created" event, some delivered two or three
times, partly out of order, and handed to the launcher's handler the way Lambda's SQS event source mapping
would (batches of 10, partial batch responses). Nothing below the handler is called, so the figures hold
whatever the launcher does inside. AWS calls are counted with botocore events on the session the launcher's
clients come from; engine resources are counted in moto afterwards.

moto answers in-process (in milliseconds of Python) and never throttles: wall times measure emr-dispatch's own
overhead plus moto's, not AWS latency.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import json
import logging
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from emr_dispatch_tools import moto_stack

REGION = "us-east-1"
BATCH_SIZE = 10  # the template's Arrivals event source mapping
ORDERS_PREFIX = "burst/orders/"  # → emr-ec2
EVENTS_PREFIX = "burst/events/"  # → emr-serverless
JOB_ROLE = "emr-dispatch-bench-serverless-job"
EVENTS_DIR = moto_stack.ROOT / "events"
_SAMPLES = ("s3-put-classic.json", "s3-object-created-eventbridge.json", "sqs-s3-batch.json")
ROUTES_YAML = """\
version: 1
routes:
  - name: burst-orders
    description: Each orders file on its own ephemeral EMR on EC2 cluster.
    match: {prefix: burst/orders/}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      fleets:
        primary: {instance_types: [m7g.xlarge, m6g.xlarge], on_demand_capacity: 1}
        core: {instance_types: [m7g.2xlarge, m6g.2xlarge], spot_capacity: 2}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}", "--output={output_uri}", "--job-id={job_id}"]
    output: s3://{work_bucket}/output/{route}/{job_id}/
  - name: burst-events
    description: Each events file as a job run on the stack's EMR Serverless application.
    match: {prefix: burst/events/}
    engine: emr-serverless
    emr_serverless: {}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}", "--output={output_uri}", "--job-id={job_id}"]
    output: s3://{work_bucket}/output/{route}/{job_id}/
"""


# ---------------------------------------------------------------------------- the burst
@dataclass(frozen=True)
class LandedObject:
    """One unique object version; every delivery of it carries the same key, etag, version id and sequencer."""

    key: str
    shape: str  # "classic" | "eventbridge"
    size: int
    etag: str
    version_id: str
    sequencer: str
    event_time: str
    event_id: str

    @property
    def request_id(self) -> str:
        return self.event_id.replace("-", "")[:16].upper()


@dataclass
class Burst:
    objects: list[LandedObject]
    order: list[int]  # object index of each delivery, in delivery order

    @property
    def duplicates(self) -> int:
        return len(self.order) - len(self.objects)

    def out_of_order(self) -> int:
        """Deliveries that arrive after a delivery of a later-landed object."""
        latest, late = -1, 0
        for index in self.order:
            late += index < latest
            latest = max(latest, index)
        return late

    def sqs_events(self, bucket: str, queue_arn: str, seed: int) -> list[dict[str, Any]]:
        """The burst as Lambda's SQS event source mapping hands it over: batches of BATCH_SIZE records, each
        shaped like the samples in events/. A re-delivery is a new SQS message (its own id) with the same body."""
        rng = random.Random(seed)  # noqa: S311 - message ids, not secrets
        samples = {name: json.loads((EVENTS_DIR / name).read_text(encoding="utf-8")) for name in _SAMPLES}
        bodies = [_body(obj, bucket, samples) for obj in self.objects]
        sqs = samples["sqs-s3-batch.json"]["Records"][0]
        records = [
            {
                **sqs,
                "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "receiptHandle": f"AQEB{rng.getrandbits(256):064x}",
                "body": bodies[index],
                "md5OfBody": hashlib.md5(bodies[index].encode(), usedforsecurity=False).hexdigest(),
                "eventSourceARN": queue_arn,
            }
            for index in self.order
        ]
        return [{"Records": records[i : i + BATCH_SIZE]} for i in range(0, len(records), BATCH_SIZE)]


def make_burst(arrivals: int, duplicate_ratio: float, seed: int) -> Burst:
    """Unique objects split over both routes and both event shapes, then re-deliveries (the same object
    version again, some twice), ordered by a delivery time with jitter, redelivery delays and stragglers."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    landed = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    objects = [_landed_object(i, rng, landed) for i in range(arrivals)]
    deliveries = [(i + rng.uniform(0, 8), i) for i in range(arrivals)]
    # S3 and SQS redeliver a moment later, sometimes much later; picked with replacement, so a few objects
    # are delivered three times or more.
    deliveries += [
        (i + rng.expovariate(1 / 30), i) for i in rng.choices(range(arrivals), k=round(arrivals * duplicate_ratio))
    ]
    straggle = max(arrivals / 10, 10)  # one delivery in twenty is a straggler ("sometimes a minute+")
    deliveries = [(t + (rng.uniform(0, straggle) if rng.random() < 0.05 else 0), i) for t, i in deliveries]
    return Burst(objects, [index for _, index in sorted(deliveries)])


def _landed_object(i: int, rng: random.Random, landed: datetime) -> LandedObject:
    prefix, stem, ext = (ORDERS_PREFIX, "orders", "csv") if i % 2 == 0 else (EVENTS_PREFIX, "events", "json")
    # Keys that URL-encoding changes: spaces, '+', '%', non-ASCII. Decoded twice or not at all, they break.
    name = [f"{stem}-{i:06d}", f"{stem} {i:06d}", f"{stem}+{i:06d} café", f"{stem}-{i:06d}-100%"][i % 4]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
    return LandedObject(
        key=f"{prefix}2026-11-23/{name}.{ext}",
        shape="classic" if rng.random() < 0.5 else "eventbridge",
        size=rng.randint(1_000, 5_000_000),
        etag=f"{rng.getrandbits(128):032x}",
        version_id="".join(rng.choices(alphabet, k=32)),
        sequencer=f"{0x0065A7D1C3B9E4F2A1 + i * 7919:018X}",
        event_time=(landed + timedelta(milliseconds=37 * i)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


def _body(obj: LandedObject, bucket: str, samples: dict[str, Any]) -> str:
    """The message body S3 (classic notification) or EventBridge puts on the arrivals queue, from the samples
    in events/. Keys are form-URL-encoded as S3 encodes them ('/' kept, ' ' → '+'); EventBridge keys go through
    the same decoding in the launcher (docs/decisions.md), so they are encoded the same way here."""
    key = quote_plus(obj.key, safe="/")
    if obj.shape == "classic":
        record = samples["s3-put-classic.json"]["Records"][0]
        s3 = record["s3"]
        landed = {
            "key": key,
            "size": obj.size,
            "eTag": obj.etag,
            "versionId": obj.version_id,
            "sequencer": obj.sequencer,
        }
        return json.dumps(
            {
                "Records": [
                    {
                        **record,
                        "eventTime": obj.event_time,
                        "responseElements": {**record["responseElements"], "x-amz-request-id": obj.request_id},
                        "s3": {
                            **s3,
                            "bucket": {**s3["bucket"], "name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                            "object": landed,
                        },
                    }
                ]
            }
        )
    event = samples["s3-object-created-eventbridge.json"]
    detail = event["detail"]
    landed = {"key": key, "size": obj.size, "etag": obj.etag, "version-id": obj.version_id, "sequencer": obj.sequencer}
    return json.dumps(
        {
            **event,
            "id": obj.event_id,
            "time": obj.event_time[:19] + "Z",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {**detail, "bucket": {"name": bucket}, "object": landed, "request-id": obj.request_id},
        }
    )


# ---------------------------------------------------------------------------- counting
class ApiCalls:
    """AWS API calls, by '<service>.<Operation>', made by clients of one boto3 session while armed, and the
    time spent inside them (botocore + moto). Clients copy their session's event handlers when created, so
    attach before the clients to count exist; the launcher creates its clients afresh on every invocation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.clients: Counter[str] = Counter()  # boto3 clients created, by service
        self.armed = False

    def attach(self, events: Any) -> None:
        events.register("before-call", self._before, unique_id="emr-dispatch-bench-before-call")
        events.register("after-call", self._after, unique_id="emr-dispatch-bench-after-call")
        events.register("after-call-error", self._after, unique_id="emr-dispatch-bench-after-call-error")
        events.register("creating-client-class", self._client_created, unique_id="emr-dispatch-bench-clients")

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def _before(self, context: dict[str, Any], **_: Any) -> None:
        if self.armed:
            context["emr_dispatch_bench_started"] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("emr_dispatch_bench_started", None)
        if started is not None:
            name = f"{model.service_model.service_name}.{model.name}"
            self.calls[name] += 1
            self.seconds[name] += time.perf_counter() - started

    def _client_created(self, event_name: str, **_: Any) -> None:
        if self.armed:
            self.clients[event_name.removeprefix("creating-client-class.")] += 1


def _count_default_session() -> ApiCalls:
    """Count the calls of clients made from boto3's default session, as emr_dispatch.aws makes them."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None  # noqa: S101 - set just above
    counter = ApiCalls()
    counter.attach(boto3.DEFAULT_SESSION.events)
    return counter


class LogTally(logging.Handler):
    """Counts the launcher's log lines by level and message instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[f"{record.levelname} {record.getMessage()}"] += 1


@contextlib.contextmanager
def _tallied_logs() -> Iterator[LogTally]:
    """The emr-dispatch logger (INFO, the template's default) goes to a LogTally, then back as it was."""
    from emr_dispatch.observability import logger  # created now, so its own handler is there to take away

    tally = LogTally()
    std_logger = logging.getLogger(logger.name)
    saved_handlers, saved_level = list(std_logger.handlers), std_logger.level
    for handler in saved_handlers:
        std_logger.removeHandler(handler)
    std_logger.addHandler(tally)
    std_logger.setLevel(logging.INFO)
    try:
        yield tally
    finally:
        std_logger.removeHandler(tally)
        for handler in saved_handlers:
            std_logger.addHandler(handler)
        std_logger.setLevel(saved_level)


# ---------------------------------------------------------------------------- runs
@dataclass
class RunResult:
    name: str
    invocations: int = 0
    item_failures: int = 0
    wall_seconds: float = 0.0  # delivering the burst, the timed part
    setup_seconds: float = 0.0  # deploying, building the SQS events
    inventory_seconds: float = 0.0  # counting what the engines and the ledger hold afterwards
    api: ApiCalls = field(default_factory=ApiCalls)
    started_inputs: list[str] = field(default_factory=list)  # --input= of every cluster and job run started
    clusters: int = 0
    job_runs: int = 0
    ledger_states: Counter[str] | None = None
    ledger_inputs: list[str] | None = None
    log_lines: Counter[str] = field(default_factory=Counter)
    peak_rss_mib: float = 0.0
    time_by_package: list[tuple[str, float]] = field(default_factory=list)  # with --profile
    hot_spots: dict[str, float] = field(default_factory=dict)  # with --profile


def _deliver(
    result: RunResult, events: list[dict[str, Any]], launch: Callable[[dict[str, Any]], Any], profile: bool
) -> None:
    """Hand each SQS event to ``launch``: timed, AWS calls counted, profiled when asked."""
    result.api = _count_default_session()
    profiler = cProfile.Profile() if profile else None
    result.api.armed = True
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    try:
        for event in events:
            result.item_failures += len(launch(event).get("batchItemFailures", []))
    finally:
        if profiler:
            profiler.disable()
        result.wall_seconds = time.perf_counter() - started
        result.api.armed = False
    result.invocations = len(events)
    if profiler:
        stats = pstats.Stats(profiler)
        result.time_by_package = _time_by_package(stats)
        result.hot_spots = _hot_spots(stats)


def _time_by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (cProfile tottime) by package, largest first. Time in the standard library and in builtins
    is charged to the package that called them (through any depth of standard library), by caller share."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # {func: (cc, nc, tt, ct, callers)}
    owners: dict[Any, dict[str, float]] = {}

    def owner_of(func: Any, visiting: frozenset[Any]) -> dict[str, float]:
        package = _package_of(func[0])
        if package != _STDLIB or func in visiting:
            return {package: 1.0}
        if func not in owners:
            callers = table.get(func, (0, 0, 0, 0, {}))[4]
            total = sum(timing[2] for timing in callers.values())
            if not total:
                return {package: 1.0}
            shares: defaultdict[str, float] = defaultdict(float)
            for caller, timing in callers.items():
                for owner, share in owner_of(caller, visiting | {func}).items():
                    shares[owner] += share * timing[2] / total
            owners[func] = dict(shares)
        return owners[func]

    totals: defaultdict[str, float] = defaultdict(float)
    for func, (_, _, own_seconds, _, _) in table.items():
        for owner, share in owner_of(func, frozenset()).items():
            totals[owner] += own_seconds * share
    return sorted(totals.items(), key=lambda item: -item[1])


def _hot_spots(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative time of a few functions that explain the wall time (they overlap: not a sum)."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    spots = {
        "creating boto3 clients (botocore Session.create_client)": ("botocore/session.py", "create_client"),
        "AWS API calls (botocore BaseClient._make_api_call)": ("botocore/client.py", "_make_api_call"),
        "  of which in moto (BotocoreStubber, before-send)": ("moto/core/botocore_stubber.py", "__call__"),
    }
    return {
        label: max(
            (timing[3] for (f, _, name), timing in table.items() if f.endswith(suffix) and name == fn), default=0
        )
        for label, (suffix, fn) in spots.items()
    }


_STDLIB = "Python standard library and builtins"


def _package_of(filename: str) -> str:
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for marker, name in (("/layers/emr_dispatch/", "emr_dispatch (layer)"), ("/functions/", "functions (handlers)")):
        if marker in path:
            return name
    if "/tools/emr_dispatch_tools/" in path:
        return "emr_dispatch_tools (bench, moto_stack)"
    return _STDLIB


@dataclass
class RoutedStack(moto_stack.DeployedStack):
    """The deployed stack, with function environment overrides, read once per function.

    The template mounts config/ at /opt/routes.yaml; the bench points ROUTES_FILE at its own routes instead,
    as a deployment with another RoutesLayer would. Reading the environment once is also what a warm Lambda
    container does, and keeps moto_stack's GetFunctionConfiguration (a moto call) out of the timed loop."""

    overrides: dict[str, str] = field(default_factory=dict)
    read: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, deployed: moto_stack.DeployedStack, **overrides: str) -> RoutedStack:
        return cls(**{f.name: getattr(deployed, f.name) for f in fields(deployed)}, overrides=overrides)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        if logical_id not in self.read:
            self.read[logical_id] = {**super().function_environment(logical_id), **self.overrides}
        return dict(self.read[logical_id])


def _serverless_application(session: Any) -> str:
    """What the account already has: an EMR Serverless application for the stack's parameter."""
    client = session.client("emr-serverless")
    application_id: str = client.create_application(
        name="burst-spark", releaseLabel="emr-7.5.0", type="SPARK", clientToken="bench-application"
    )["applicationId"]
    client.start_application(applicationId=application_id)
    return application_id


def run_emr_dispatch(burst: Burst, seed: int, routes_file: Path, profile: bool = False) -> tuple[RunResult, str]:
    """The burst through the deployed launcher. Returns the result and the landing bucket's name."""
    import boto3
    from moto import mock_aws

    from emr_dispatch.ledger import Ledger
    from emr_dispatch.routes import load_routes_file

    load_routes_file(routes_file)  # a bad routes file fails here, loudly, not as 13,000 batch item failures
    result = RunResult("emr-dispatch")
    began = time.perf_counter()
    with mock_aws(), _tallied_logs() as logs:
        setup = boto3.Session(region_name=REGION)  # the bench's own calls: a session that is not counted
        application_id = _serverless_application(setup)
        deployed = moto_stack.deploy(
            "emr-dispatch-bench",
            region=REGION,
            parameters={"EmrServerlessApplicationId": application_id, "EmrServerlessJobRoleName": JOB_ROLE},
        )
        stack = RoutedStack.of(deployed, ROUTES_FILE=str(routes_file))
        stack.function_environment("LauncherFunction")
        bucket = stack.outputs["LandingBucketName"]
        queue_arn = setup.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs["ArrivalsQueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events = burst.sqs_events(bucket, queue_arn, seed)
        result.setup_seconds = time.perf_counter() - began

        _deliver(result, events, lambda event: stack.invoke("LauncherFunction", event), profile)
        result.log_lines = Counter(logs.lines)

        began = time.perf_counter()
        _take_inventory(result, setup, application_id)
        ledger = Ledger(stack.outputs["LedgerTableName"], setup.client("dynamodb"))
        jobs = list(ledger.list_jobs())
        result.ledger_states = Counter(job.state.value for job in jobs)
        result.ledger_inputs = [f"s3://{i['bucket']}/{i['key']}" for job in jobs for i in job.inputs]
        result.inventory_seconds = time.perf_counter() - began
    result.peak_rss_mib = _peak_rss_mib()
    return result, bucket


def run_baseline(burst: Burst, seed: int, bucket: str, profile: bool = False) -> RunResult:
    """The same deliveries through a naive launcher: one engine start per event, no claim, no ledger."""
    import boto3
    from moto import mock_aws

    result = RunResult("naive baseline")
    began = time.perf_counter()
    with mock_aws():
        setup = boto3.Session(region_name=REGION)
        application_id = _serverless_application(setup)
        events = burst.sqs_events(bucket, "arn:aws:sqs:us-east-1:123456789012:naive-arrivals", seed)
        result.setup_seconds = time.perf_counter() - began
        _deliver(result, events, lambda event: naive_launch(event, application_id), profile)
        began = time.perf_counter()
        _take_inventory(result, setup, application_id)
        result.inventory_seconds = time.perf_counter() - began
    result.peak_rss_mib = _peak_rss_mib()
    return result


def naive_launch(event: dict[str, Any], application_id: str) -> dict[str, Any]:
    """What a first version of such a Lambda often looks like. Its clients are created per invocation, as
    the launcher's are under moto_stack.invoke (which resets emr-dispatch's wiring on every call)."""
    import boto3

    emr = boto3.client("emr", region_name=REGION)
    serverless = boto3.client("emr-serverless", region_name=REGION)
    for record in event["Records"]:
        body = json.loads(record["body"])
        located = [(r["s3"]["bucket"]["name"], r["s3"]["object"]["key"]) for r in body.get("Records", [])]
        if body.get("detail-type") == "Object Created":
            located.append((body["detail"]["bucket"]["name"], body["detail"]["object"]["key"]))
        for bucket, raw_key in located:
            key = unquote_plus(raw_key)
            arguments = [f"--input=s3://{bucket}/{key}", "--output=s3://work/output/", "--job-id=naive"]
            if key.startswith(ORDERS_PREFIX):
                emr.run_job_flow(
                    Name="naive-orders",
                    LogUri="s3://work/emr-logs/",
                    ReleaseLabel="emr-7.5.0",
                    Applications=[{"Name": "Spark"}],
                    Instances={
                        "KeepJobFlowAliveWhenNoSteps": False,
                        "InstanceFleets": [
                            {
                                "InstanceFleetType": "MASTER",
                                "TargetOnDemandCapacity": 1,
                                "InstanceTypeConfigs": [{"InstanceType": "m7g.xlarge"}],
                            },
                            {
                                "InstanceFleetType": "CORE",
                                "TargetSpotCapacity": 2,
                                "InstanceTypeConfigs": [{"InstanceType": "m7g.2xlarge"}],
                            },
                        ],
                    },
                    Steps=[
                        {
                            "Name": "naive-orders",
                            "ActionOnFailure": "TERMINATE_CLUSTER",
                            "HadoopJarStep": {
                                "Jar": "command-runner.jar",
                                "Args": ["spark-submit", "s3://work/jobs/clean_csv.py", *arguments],
                            },
                        }
                    ],
                    ServiceRole="EMR_DefaultRole",
                    JobFlowRole="EMR_EC2_DefaultRole",
                    VisibleToAllUsers=True,
                )
            elif key.startswith(EVENTS_PREFIX):
                serverless.start_job_run(
                    applicationId=application_id,
                    executionRoleArn=f"arn:aws:iam::123456789012:role/{JOB_ROLE}",
                    name="naive-events",
                    clientToken=str(uuid.uuid4()),  # what boto3 fills in when it is left out: a new run every time
                    jobDriver={
                        "sparkSubmit": {"entryPoint": "s3://work/jobs/clean_csv.py", "entryPointArguments": arguments}
                    },
                )
    return {"batchItemFailures": []}


def _take_inventory(result: RunResult, setup: Any, application_id: str) -> None:
    """Count what the engines hold (their list APIs), and read each resource's --input= argument from moto's
    backends (a DescribeCluster / GetJobRun per resource would take longer than the burst)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emr.models import emr_backends
    from moto.emrserverless.models import emrserverless_backends

    emr, serverless = setup.client("emr"), setup.client("emr-serverless")
    result.clusters = sum(len(page["Clusters"]) for page in emr.get_paginator("list_clusters").paginate())
    result.job_runs = sum(
        len(page["jobRuns"])
        for page in serverless.get_paginator("list_job_runs").paginate(applicationId=application_id)
    )
    for cluster in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters.values():
        result.started_inputs += [_input_of(step.args) for step in cluster.steps[:1]]
    for run in emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(application_id, []):
        result.started_inputs.append(_input_of((run.job_driver or {})["sparkSubmit"]["entryPointArguments"]))


def _input_of(arguments: Any) -> str:
    return next((a.removeprefix("--input=") for a in arguments if a.startswith("--input=")), "?")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------- report
@dataclass
class Figures:
    """The derived numbers of one run."""

    expected: int
    started: int
    duplicate_jobs: int
    objects_with_several: int
    objects_without_job: int
    foreign_inputs: int
    calls_per_job: float
    calls_per_arrival: float
    seconds_per_1000: float
    api_seconds_per_1000: float


def figures(result: RunResult, burst: Burst, bucket: str) -> Figures:
    landed = {f"s3://{bucket}/{obj.key}" for obj in burst.objects}
    per_input = Counter(result.started_inputs)
    started = result.clusters + result.job_runs
    arrivals = len(burst.objects)
    return Figures(
        expected=arrivals,
        started=started,
        duplicate_jobs=started - arrivals,
        objects_with_several=sum(1 for uri, n in per_input.items() if n > 1 and uri in landed),
        objects_without_job=len(landed - set(per_input)),
        foreign_inputs=sum(n for uri, n in per_input.items() if uri not in landed),
        calls_per_job=result.api.total / started if started else float("nan"),
        calls_per_arrival=result.api.total / arrivals,
        seconds_per_1000=result.wall_seconds / arrivals * 1000,
        api_seconds_per_1000=sum(result.api.seconds.values()) / arrivals * 1000,
    )


def summary_rows(ours: RunResult, base: RunResult, burst: Burst, bucket: str) -> list[tuple[str, str, str, str]]:
    o, b = figures(ours, burst, bucket), figures(base, burst, bucket)
    ledger = ours.ledger_states or Counter()
    ledger_several = sum(1 for n in Counter(ours.ledger_inputs or []).values() if n > 1)

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}×" if y else "-"

    return [
        ("SQS invocations (batches of 10)", f"{ours.invocations:,}", f"{base.invocations:,}", ""),
        ("batchItemFailures", f"{ours.item_failures:,}", f"{base.item_failures:,}", ""),
        ("jobs expected (unique objects)", f"{o.expected:,}", f"{b.expected:,}", ""),
        (
            "jobs started (EMR clusters + Serverless runs)",
            f"{o.started:,} ({ours.clusters:,} + {ours.job_runs:,})",
            f"{b.started:,} ({base.clusters:,} + {base.job_runs:,})",
            ratio(o.started, b.started),
        ),
        ("duplicate jobs (started − expected)", f"{o.duplicate_jobs:,}", f"{b.duplicate_jobs:,}", ""),
        ("objects with more than one job", f"{o.objects_with_several:,}", f"{b.objects_with_several:,}", ""),
        ("objects with no job started", f"{o.objects_without_job:,}", f"{b.objects_without_job:,}", ""),
        ("jobs whose --input is no landed key", f"{o.foreign_inputs:,}", f"{b.foreign_inputs:,}", ""),
        (
            "ledger jobs (by state)",
            f"{sum(ledger.values()):,} (" + ", ".join(f"{s} {n:,}" for s, n in sorted(ledger.items())) + ")",
            "- (no ledger)",
            "",
        ),
        ("ledger: objects with more than one job", f"{ledger_several:,}", "-", ""),
        ("AWS API calls", f"{ours.api.total:,}", f"{base.api.total:,}", ratio(ours.api.total, base.api.total)),
        ("API calls per job started", f"{o.calls_per_job:.2f}", f"{b.calls_per_job:.2f}", ""),
        (
            "API calls per arrival",
            f"{o.calls_per_arrival:.2f}",
            f"{b.calls_per_arrival:.2f}",
            ratio(o.calls_per_arrival, b.calls_per_arrival),
        ),
        ("boto3 clients created", _clients(ours.api.clients), _clients(base.api.clients), ""),
        (
            "wall time (s)",
            f"{ours.wall_seconds:.1f}",
            f"{base.wall_seconds:.1f}",
            ratio(ours.wall_seconds, base.wall_seconds),
        ),
        (
            "wall time per 1,000 arrivals (s)",
            f"{o.seconds_per_1000:.2f}",
            f"{b.seconds_per_1000:.2f}",
            ratio(o.seconds_per_1000, b.seconds_per_1000),
        ),
        (
            "  of which inside API calls (botocore + moto)",
            f"{o.api_seconds_per_1000:.2f}",
            f"{b.api_seconds_per_1000:.2f}",
            ratio(o.api_seconds_per_1000, b.api_seconds_per_1000),
        ),
        ("peak RSS of the process so far (MiB)", f"{ours.peak_rss_mib:,.0f}", f"{base.peak_rss_mib:,.0f}", ""),
    ]


def _clients(created: Counter[str]) -> str:
    return f"{sum(created.values()):,} (" + ", ".join(f"{name} {n:,}" for name, n in sorted(created.items())) + ")"


def operation_rows(ours: RunResult, base: RunResult, burst: Burst) -> Sequence[tuple[str, ...]]:
    arrivals = len(burst.objects)
    started = ours.clusters + ours.job_runs
    rows = []
    for name in sorted(set(ours.api.calls) | set(base.api.calls)):
        mine, theirs = ours.api.calls[name], base.api.calls[name]
        rows.append(
            (
                name,
                f"{mine:,}",
                f"{mine / started:.2f}" if started else "-",
                f"{mine / arrivals:.2f}",
                f"{ours.api.seconds[name] / mine * 1000:.2f}" if mine else "-",
                f"{theirs:,}",
                f"{theirs / arrivals:.2f}",
            )
        )
    return rows


SUMMARY_HEADER = ("", "emr-dispatch", "naive baseline", "ratio (ours / baseline)")
OPERATION_HEADER = (
    "operation",
    "calls",
    "per job",
    "per arrival",
    "ms per call",
    "baseline calls",
    "baseline per arrival",
)


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}; "
        f"{platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; moto {version('moto')}, boto3 {version('boto3')}"
    )


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _revision() -> str:
    """The commit measured, and whether the working tree differed from it (the launcher changes often)."""
    git = ["git", "-C", str(Path(__file__).resolve().parents[2])]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)  # noqa: S603
        dirty = subprocess.run(  # noqa: S603 - git with fixed arguments
            [*git, "status", "--porcelain", "--", "layers", "functions", "template.yaml"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = len(dirty.stdout.splitlines())
    return commit.stdout.strip() + (
        f" + {changed} uncommitted change(s) in layers/, functions/, template.yaml" if changed else ""
    )


def _markdown_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(
    args: argparse.Namespace, burst: Burst, ours: RunResult, base: RunResult, bucket: str, took: float, code: str
) -> str:
    classic = sum(1 for obj in burst.objects if obj.shape == "classic")
    logs = ", ".join(f"`{line}` {n:,}" for line, n in sorted(ours.log_lines.items()))
    return f"""# Benchmarks

## Bursts and duplicates (issue 4)

- **Date**: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- **Machine**: {_machine()}
- **Code**: {code}
- **Reproduce**: `{_command(args)}` (`make bench` runs the 10,000-arrival default).
- **Took** {took:.0f} s in all. emr-dispatch: {_phases(ours).strip()}; baseline: {_phases(base).strip()}.
- **Where the time goes**: {_time_note(ours)}
- **Burst**: {len(burst.objects):,} unique objects (half under `{ORDERS_PREFIX}` → EMR on EC2, half under
  `{EVENTS_PREFIX}` → EMR Serverless; {classic:,} as classic S3 notifications,
  {len(burst.objects) - classic:,} as EventBridge "Object Created"; a quarter of the keys have spaces, `+`, `%`
  or `é`), plus {burst.duplicates:,} re-deliveries of the same object versions ({args.duplicates:.0%}, drawn
  with replacement), {len(burst.order):,} deliveries in all; {burst.out_of_order():,} of them arrive after a
  later object's delivery. Batches of {BATCH_SIZE} to the launcher's handler (`moto_stack.DeployedStack.invoke`),
  as the template's SQS event source mapping sends them.

{_markdown_table(SUMMARY_HEADER, summary_rows(ours, base, burst, bucket))}

### API calls by operation

"per job" divides by the jobs emr-dispatch started; "per arrival" by the unique objects.

{_markdown_table(OPERATION_HEADER, operation_rows(ours, base, burst))}

Launcher log lines: {logs or "none"}.
{_profile_section(ours, base)}
### How to read this

- **moto's in-process latency is not AWS latency.** Every call is answered by moto in this process, in the
  milliseconds of Python that "ms per call" shows, and nothing is ever throttled. The wall times therefore
  measure emr-dispatch's own overhead plus moto's, not the time AWS would take, and the wall-time ratio says
  how much more work our launcher does than the naive one, not how much longer a burst takes in AWS. There,
  each call costs its network round trip and RunJobFlow refills at 0.5/s, StartJobRun at 1/s: the call counts
  (and those limits), not these seconds, decide how long a burst takes and what it costs.
- **The baseline** starts one job per delivered event (RunJobFlow or StartJobRun, boto3's random clientToken),
  with no claim and no ledger. It is cheaper per event and wrong: every re-delivery is another cluster or job run.
  "Duplicate jobs" is jobs started minus unique objects; "objects with more than one job" comes from each
  started resource's `--input=` argument, so it does not trust the launcher's own records.
- **Calls** are counted with botocore `before-call` / `after-call` events on the boto3 session the launcher's
  clients come from, only while the burst is delivered (not the bench's deployment or inventory). A retried call
  counts once. Both sides create their clients on every invocation (moto_stack resets emr-dispatch's wiring
  per invocation; a warm Lambda container would keep them), which is part of both wall times.
- **Peak RSS** is `ru_maxrss`, the whole process's peak so far: the baseline runs second, so its figure is
  at least emr-dispatch's (it includes the deployment and both moto accounts' data).
"""


def _profile_section(ours: RunResult, base: RunResult) -> str:
    if not ours.time_by_package:
        return ""
    return f"""
### Where the time goes (`--profile`)

cProfile over the delivery loop only: own time per function, summed by package (standard library and builtins
charged to their caller's package), then the cumulative time of a few functions (these overlap). Profiling
slows everything down about twofold: read the shares, not the seconds.

{_markdown_table(PROFILE_HEADER, profile_rows(ours, base))}

{_markdown_table(HOT_SPOT_HEADER, hot_spot_rows(ours, base))}
"""


def hot_spot_rows(ours: RunResult, base: RunResult) -> list[tuple[str, str, str]]:
    def shown(result: RunResult, label: str) -> str:
        total = sum(seconds for _, seconds in result.time_by_package) or 1.0
        seconds = result.hot_spots.get(label, 0.0)
        return f"{seconds:.1f} ({seconds / total:.0%})"

    return [(label, shown(ours, label), shown(base, label)) for label in ours.hot_spots]


def profile_rows(ours: RunResult, base: RunResult) -> list[tuple[str, str, str]]:
    mine, theirs = dict(ours.time_by_package), dict(base.time_by_package)
    total_mine, total_theirs = sum(mine.values()) or 1.0, sum(theirs.values()) or 1.0
    return [
        (
            package,
            f"{mine.get(package, 0.0):.1f} ({mine.get(package, 0.0) / total_mine:.0%})",
            f"{theirs.get(package, 0.0):.1f} ({theirs.get(package, 0.0) / total_theirs:.0%})",
        )
        for package in sorted(set(mine) | set(theirs), key=lambda name: -mine.get(name, 0.0))
        if mine.get(package, 0.0) / total_mine >= 0.005 or theirs.get(package, 0.0) / total_theirs >= 0.005
    ]


PROFILE_HEADER = ("package (own time)", "emr-dispatch s (share)", "baseline s (share)")
HOT_SPOT_HEADER = ("function (cumulative time)", "emr-dispatch s (share)", "baseline s (share)")


def _time_note(result: RunResult) -> str:
    inside = sum(result.api.seconds.values())
    slowest = sorted(result.api.calls, key=lambda name: -result.api.seconds[name] / result.api.calls[name])[:2]
    per_call = ", ".join(
        f"`{name}` {result.api.seconds[name] / result.api.calls[name] * 1000:.1f} ms" for name in slowest
    )
    clients = sum(result.api.clients.values())
    return (
        f"{inside / result.wall_seconds:.0%} of emr-dispatch's delivery loop is spent inside AWS API calls, that is in "
        f"botocore and moto (slowest per call: {per_call}); the rest is the handler, Powertools, the harness and "
        f"creating boto3 clients ({clients:,}, {clients / max(result.invocations, 1):.0f} per invocation). "
        "Run with `--profile` for a breakdown by package."
    )


def _phases(result: RunResult) -> str:
    return (
        f"  setup {result.setup_seconds:.1f} s, delivering the burst {result.wall_seconds:.1f} s, "
        f"inventory {result.inventory_seconds:.1f} s"
    )


def _command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python -m emr_dispatch_tools.bench --arrivals {args.arrivals} --duplicates {args.duplicates} "
        f"--seed {args.seed} --output {args.output}" + (" --profile" if args.profile else "")
    )


def _print_report(console: Any, ours: RunResult, base: RunResult, burst: Burst, bucket: str) -> None:
    from rich.table import Table

    table = Table(title="bursts and duplicates", title_justify="left")
    for column in SUMMARY_HEADER:
        table.add_column(column, overflow="fold")
    for row in summary_rows(ours, base, burst, bucket):
        table.add_row(*row)
    console.print(table)
    operations = Table(title="API calls by operation", title_justify="left")
    for column in OPERATION_HEADER:
        operations.add_column(column)
    for op_row in operation_rows(ours, base, burst):
        operations.add_row(*op_row)
    console.print(operations)
    console.print(
        "launcher log lines: " + ", ".join(f"{line} {n:,}" for line, n in sorted(ours.log_lines.items())), markup=False
    )
    if ours.time_by_package:
        profile = Table(title="where the time goes (cProfile own time by package)", title_justify="left")
        for column in PROFILE_HEADER:
            profile.add_column(column)
        for profile_row in profile_rows(ours, base):
            profile.add_row(*profile_row)
        console.print(profile)
        spots = Table(title="hot spots (cumulative, overlapping)", title_justify="left")
        for column in HOT_SPOT_HEADER:
            spots.add_column(column)
        for spot_row in hot_spot_rows(ours, base):
            spots.add_row(*spot_row)
        console.print(spots)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emr_dispatch_tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrivals", type=int, default=10_000, help="unique objects landing (default 10000)")
    parser.add_argument(
        "--duplicates", type=float, default=0.3, help="re-deliveries, as a share of arrivals (default 0.3)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic burst (default 7)")
    parser.add_argument("--output", type=Path, default=Path("docs/BENCHMARKS.md"), help="Markdown report to write")
    parser.add_argument("--profile", action="store_true", help="also profile the delivery loops (about 2× slower)")
    args = parser.parse_args(argv)
    if args.arrivals < 1 or not 0 <= args.duplicates <= 10:
        parser.error("--arrivals must be at least 1 and --duplicates between 0 and 10")

    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fake credentials
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    from rich.console import Console

    console = Console(soft_wrap=True, width=max(Console().width, 160))
    began = time.perf_counter()
    revision = _revision()  # before the runs: the launcher's modules are loaded then, and may change meanwhile
    burst = make_burst(args.arrivals, args.duplicates, args.seed)
    console.print(
        f"burst: {len(burst.objects):,} arrivals + {burst.duplicates:,} re-deliveries = "
        f"{len(burst.order):,} deliveries, {burst.out_of_order():,} out of order"
    )
    with tempfile.TemporaryDirectory(prefix="emr-dispatch-bench-") as directory:
        routes_file = Path(directory) / "routes.yaml"
        routes_file.write_text(ROUTES_YAML, encoding="utf-8")
        console.print("emr-dispatch: deploying template.yaml into moto, then the burst through the launcher …")
        ours, bucket = run_emr_dispatch(burst, args.seed, routes_file, args.profile)
    console.print(_phases(ours))
    console.print("naive baseline: the same deliveries, one job per event, in a fresh moto account …")
    base = run_baseline(burst, args.seed, bucket, args.profile)
    console.print(_phases(base))
    took = time.perf_counter() - began
    _print_report(console, ours, base, burst, bucket)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(args, burst, ours, base, bucket, took, revision), encoding="utf-8")
    console.print(f"wrote {args.output} ({took:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
