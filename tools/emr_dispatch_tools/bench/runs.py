"""The two runs over the same deliveries: the deployed emr-dispatch launcher (warm, as a Lambda container
keeps it), and the naive baseline (naive.py), each in its own moto account, timed and counted, then an
inventory of what the engines started."""

from __future__ import annotations

import cProfile
import itertools
import pstats
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench.burst import JOB_ROLE, REGION, Burst
from emr_dispatch_tools.bench.counting import hot_spots, peak_rss_mib, tallied_logs, time_by_package
from emr_dispatch_tools.bench.naive import naive_launch, reset_naive_clients
from emr_dispatch_tools.bench.warm import CallMeter, WarmFunctions
from emr_dispatch_tools.offline.moto_speed import faster_moto

CHUNKS = 5
"""Each hot path is cut into this many consecutive parts; its overhead share is the median of theirs."""


@dataclass
class Timed:
    """Invocations of one function: wall time of each, and the part of it inside AWS calls (botocore + moto)."""

    wall: list[float] = field(default_factory=list)
    inside: list[float] = field(default_factory=list)

    def add(self, wall: float, inside: float) -> None:
        self.wall.append(wall)
        self.inside.append(inside)

    @property
    def wall_seconds(self) -> float:
        return sum(self.wall)

    @property
    def inside_seconds(self) -> float:
        return sum(self.inside)

    def overhead_shares(self) -> list[float]:
        """Our share ((handler − calls) / handler) of each of CHUNKS consecutive parts of the invocations."""
        bounds = [round(i * len(self.wall) / CHUNKS) for i in range(CHUNKS + 1)]
        shares = []
        for start, end in itertools.pairwise(bounds):
            wall = sum(self.wall[start:end])
            if wall:
                shares.append(1 - sum(self.inside[start:end]) / wall)
        return shares

    def overhead_share(self) -> float:
        shares = self.overhead_shares()
        return statistics.median(shares) if shares else float("nan")


@dataclass
class RunResult:
    name: str
    invocations: int = 0
    deliveries: int = 0  # SQS records handed over (arrivals and their re-deliveries)
    item_failures: int = 0
    wall_seconds: float = 0.0  # delivering the burst, the timed part
    setup_seconds: float = 0.0  # deploying, building the SQS events
    inventory_seconds: float = 0.0  # counting what the engines and the ledger hold afterwards
    api: CallMeter = field(default_factory=CallMeter)
    timed: Timed = field(default_factory=Timed)
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
    """Hand each SQS event to ``launch``: timed, AWS calls counted and timed, profiled when asked."""
    result.api = CallMeter.on_default_session()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    try:
        for event in events:
            inside_before = result.api.total_seconds
            result.api.armed = True
            began = time.perf_counter()
            try:
                response = launch(event)
            finally:
                wall = time.perf_counter() - began
                result.api.armed = False
            result.timed.add(wall, result.api.total_seconds - inside_before)
            result.item_failures += len(response.get("batchItemFailures", []))
    finally:
        if profiler:
            profiler.disable()
        result.wall_seconds = time.perf_counter() - started
    result.invocations = len(events)
    result.deliveries = sum(len(event["Records"]) for event in events)
    if profiler:
        stats = pstats.Stats(profiler)
        result.time_by_package = time_by_package(stats)
        result.hot_spots = hot_spots(stats)


@dataclass
class RoutedStack(moto_stack.DeployedStack):
    """The deployed stack, with function environment overrides (the bench's own routes file).

    The template mounts config/ at /opt/routes.yaml; the bench points ROUTES_FILE at its own routes instead,
    as a deployment with another RoutesLayer would."""

    overrides: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, deployed: moto_stack.DeployedStack, **overrides: str) -> RoutedStack:
        return cls(**{f.name: getattr(deployed, f.name) for f in fields(deployed)}, overrides=overrides)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        return {**super().function_environment(logical_id), **self.overrides}


def _serverless_application(session: Any) -> str:
    """What the account already has: an EMR Serverless application for the stack's parameter."""
    client = session.client("emr-serverless")
    application_id: str = client.create_application(
        name="burst-spark", releaseLabel="emr-7.5.0", type="SPARK", clientToken="bench-application"
    )["applicationId"]
    client.start_application(applicationId=application_id)
    return application_id


def run_emr_dispatch(burst: Burst, seed: int, routes_file: Path, profile: bool = False) -> tuple[RunResult, str]:
    """The burst through the deployed launcher (warm). Returns the result and the landing bucket's name."""
    import boto3
    from moto import mock_aws

    from emr_dispatch.ledger import Ledger
    from emr_dispatch.routes import load_routes_file

    load_routes_file(routes_file)  # a bad routes file fails here, loudly, not as 13,000 batch item failures
    result = RunResult("emr-dispatch")
    began = time.perf_counter()
    # moto's TransactWriteItems deep-copies the whole table per item: at 1,500 arrivals that took 12 GB and the bench
    # was killed (offline/moto_speed.py answers the same at the cost of the items a transaction names).
    with mock_aws(), faster_moto(), tallied_logs() as logs:
        setup = boto3.Session(region_name=REGION)  # the bench's own calls: a session that is not counted
        application_id = _serverless_application(setup)
        deployed = moto_stack.deploy(
            "emr-dispatch-bench",
            region=REGION,
            parameters={"EmrServerlessApplicationId": application_id, "EmrServerlessJobRoleName": JOB_ROLE},
        )
        stack = RoutedStack.of(deployed, ROUTES_FILE=str(routes_file))
        functions = WarmFunctions(stack)
        bucket = stack.outputs["LandingBucketName"]
        queue_arn = setup.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs["ArrivalsQueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events = burst.sqs_events(bucket, queue_arn, seed)
        result.setup_seconds = time.perf_counter() - began

        try:
            _deliver(result, events, lambda event: functions.invoke("LauncherFunction", event), profile)
            result.log_lines = Counter(logs.lines)
        finally:
            functions.close()

        began = time.perf_counter()
        _take_inventory(result, setup, application_id)
        ledger = Ledger(stack.outputs["LedgerTableName"], setup.client("dynamodb"))
        jobs = list(ledger.list_jobs())
        result.ledger_states = Counter(job.state.value for job in jobs)
        result.ledger_inputs = [i.uri for job in jobs for i in job.inputs]
        result.inventory_seconds = time.perf_counter() - began
    result.peak_rss_mib = peak_rss_mib()
    return result, bucket


def run_baseline(burst: Burst, seed: int, bucket: str, profile: bool = False) -> RunResult:
    """The same deliveries through a naive launcher: one engine start per event, no claim, no ledger."""
    import boto3
    from moto import mock_aws

    result = RunResult("naive baseline")
    began = time.perf_counter()
    reset_naive_clients()
    with mock_aws():
        setup = boto3.Session(region_name=REGION)
        application_id = _serverless_application(setup)
        events = burst.sqs_events(bucket, "arn:aws:sqs:us-east-1:123456789012:naive-arrivals", seed)
        result.setup_seconds = time.perf_counter() - began
        _deliver(result, events, lambda event: naive_launch(event, application_id), profile)
        reset_naive_clients()
        began = time.perf_counter()
        _take_inventory(result, setup, application_id)
        result.inventory_seconds = time.perf_counter() - began
    result.peak_rss_mib = peak_rss_mib()
    return result


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
