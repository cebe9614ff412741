"""Issue 14: the burst at EMR's default quotas, on a virtual clock, three ways over the same deliveries:

- **emr-dispatch**: the deployed launcher, tracker and sweeper (pacing, waiting QUEUED, the shipped caps), driven
  through the stack's real arrivals queue as Lambda's SQS source drives it (offline/drive.py), warm containers;
- **today's behaviour** (before issue 14, as the issue describes it): claim, start, and on a throttle release the
  claim and fail the record, so SQS delivers it again after the 720 s visibility timeout and dead-letters it
  after 5 receives; the SDK retried throttles 5 times (aws.py's old standard-mode configuration);
- **naive**: one start per delivery, no claim, boto3's default retries, a failed start fails the record.

The burst lands on the shipped routes (config/routes.yaml, its caps and default start rates). Each cluster and job
run ends after its lifetime (quotas_world.LIFETIMES) and, for emr-dispatch, its end's state-change event goes to
the tracker, which frees the slot. A probe stands for other callers: one DescribeCluster and one GetJobRun a
minute. The offline contract and IAM checks are off in this run (they are on in the tests): at this size they
would take most of the budget and say nothing the hot path's run does not.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench import quotas_sweep
from emr_dispatch_tools.bench import quotas_world as world
from emr_dispatch_tools.bench.burst import REGION, Burst
from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
from emr_dispatch_tools.offline.drive import QueueDriver
from emr_dispatch_tools.offline.moto_direct import direct_requests
from emr_dispatch_tools.offline.moto_speed import faster_moto
from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR, SERVERLESS, MeterReport, QuotaMeter

START_OPERATIONS = {(EMR, "RunJobFlow"), (SERVERLESS, "StartJobRun")}
VARIANTS = ("emr-dispatch", "today's behaviour", "naive")
ORDERS_CAP = 20  # config/routes.yaml: orders-daily max_concurrent
JOBS_CAP = 50  # config/routes.yaml: max_concurrent_jobs


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
    throttled: int = 0  # every throttled attempt, all operations
    throttled_starts: int = 0
    other_throttled: int = 0  # throttled attempts of every other operation (tracker, sweeper, probe)
    invocations: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time during the run (the other process runs on the other core)
    meter: MeterReport = field(default_factory=MeterReport)

    @property
    def throttled_per_start(self) -> float:
        return self.throttled / (self.resources or 1)


@dataclass
class Floor:
    seconds: float
    bounds: dict[str, float]  # each lower bound, by what sets it

    @property
    def binding(self) -> str:
        return max(self.bounds, key=lambda name: self.bounds[name])


def quota_floor(counts: dict[str, int]) -> Floor:
    """The least time from the first arrival to the last start that the quotas and the shipped caps allow:
    the largest of these lower bounds. Start rates: an engine's starts beyond its burst at its refill rate.
    orders-daily's cap: its jobs start ``ORDERS_CAP`` at a time, each slot held for a cluster's lifetime, so the
    last starts no earlier than (⌈n / cap⌉ − 1) lifetimes in. The overall cap: all jobs' slot-time passes through
    ``JOBS_CAP`` slots, and the last job starts at least its own lifetime before that is spent."""
    lifetimes = world.LIFETIMES
    bounds: dict[str, float] = {}
    for engine, (service, operation) in (
        ("emr-ec2", (EMR, "RunJobFlow")),
        ("emr-serverless", (SERVERLESS, "StartJobRun")),
    ):
        rate = DEFAULT_QUOTAS.api[(service, operation)]
        bounds[f"{operation} rate"] = max(counts.get(engine, 0) - rate.burst, 0) / rate.per_second
    orders = counts.get("emr-ec2", 0)
    bounds[f"orders-daily cap {ORDERS_CAP}"] = max(math.ceil(orders / ORDERS_CAP) - 1, 0) * lifetimes["emr-ec2"]
    slot_seconds = sum(n * lifetimes[engine] for engine, n in counts.items())
    longest = max((lifetimes[engine] for engine, n in counts.items() if n), default=0)
    bounds[f"max_concurrent_jobs {JOBS_CAP}"] = max(slot_seconds / JOBS_CAP - longest, 0.0)
    return Floor(max(bounds.values()), bounds)


def engine_counts(burst: Burst) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in burst.objects:
        engine = world.engine_of(obj.key)
        counts[engine] = counts.get(engine, 0) + 1
    return counts


def run_all(burst: Burst, variants: tuple[str, ...] = VARIANTS) -> list[QuotaRun]:
    shipped = world.shipped_burst(burst)
    return [_run(shipped, name) for name in variants]


def run_in_parallel(
    arrivals: int, duplicates: float, seed: int, sweep_jobs: int
) -> tuple[list[QuotaRun], quotas_sweep.SweepMeasure]:
    """The three variants and the metered sweep in two fresh processes (the machine's two cores): emr-dispatch in
    one; today's behaviour, naive and the sweep in the other. Each builds its own moto world and the same burst."""
    return InBackground(arrivals, duplicates, seed, sweep_jobs).finish()


class InBackground:
    """The quota burst in two fresh processes (spawn), emr-dispatch's started at once: ``make bench`` starts it
    before figures 1–7, which then run beside it on the other core; ``finish`` starts today's behaviour, naive
    and the metered sweep in the second process (the first core's work is done by then) and waits for both.
    emr-dispatch's run is by far the longest (the deployed launcher, tracker and sweeper on moto), so the bench
    takes about max(emr-dispatch, figures 1–7 + the others) instead of their sum."""

    def __init__(self, arrivals: int, duplicates: float, seed: int, sweep_jobs: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context)
        self._arguments = (arrivals, duplicates, seed)
        self._sweep_jobs = sweep_jobs
        self._ours = self._pool.submit(_variants, arrivals, duplicates, seed, VARIANTS[:1])

    def cancel(self) -> None:
        """Stop the background run (the bench failed before ``finish``): its worker is ended, not waited for."""
        processes: dict[int, Any] = getattr(self._pool, "_processes", None) or {}  # the executor's own workers
        for process in list(processes.values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def finish(self) -> tuple[list[QuotaRun], quotas_sweep.SweepMeasure]:
        with self._pool:
            others = self._pool.submit(_variants, *self._arguments, VARIANTS[1:], self._sweep_jobs)
            other_runs, sweep = others.result()
            (ours_run,), _ = self._ours.result()
        if sweep is None:
            raise RuntimeError("the metered sweep did not run")
        return [ours_run, *other_runs], sweep


def _variants(
    arrivals: int, duplicates: float, seed: int, variants: tuple[str, ...], sweep_jobs: int = 0
) -> tuple[list[QuotaRun], quotas_sweep.SweepMeasure | None]:
    from emr_dispatch_tools.bench.burst import make_burst

    runs = run_all(make_burst(arrivals, duplicates, seed), variants)
    return runs, quotas_sweep.measure(sweep_jobs, seed) if sweep_jobs else None


def _run(burst: Burst, name: str) -> QuotaRun:
    import boto3
    from moto import mock_aws

    from emr_dispatch_tools.bench.counting import tallied_logs

    result = QuotaRun(name, objects=len(burst.objects), deliveries=len(burst.order))
    began = time.perf_counter()
    cpu_began = time.process_time()
    with mock_aws(), faster_moto(), direct_requests(), tallied_logs():
        deployed = moto_stack.deploy_with_engines("emr-dispatch-quotas", region=REGION)
        application_id = deployed.parameters["EmrServerlessApplicationId"]
        virtual_cluster_id = deployed.parameters["EmrEksVirtualClusterId"]
        queue_url = deployed.outputs["ArrivalsQueueUrl"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bodies = [
            record["body"]
            for event in burst.sqs_events(deployed.outputs["LandingBucketName"], queue_arn, 7)
            for record in event["Records"]
        ]
        clock = VirtualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
        meter = QuotaMeter(DEFAULT_QUOTAS, clock, seed=7)
        handlers = world.WarmHandlers(deployed, {})
        with virtual_time(clock), handlers.running():
            for start in range(0, len(bodies), 10):  # the burst lands at once
                entries: Any = [
                    {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
                ]
                sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            ours = name == "emr-dispatch"
            track = (lambda event: handlers.invoke("TrackerFunction", event)) if ours else None
            lifetimes = world.EngineLifetimes(clock, application_id, track)
            probe = world.Probe(clock, application_id)
            launch: Callable[[dict[str, Any]], Any] = (
                (lambda event: handlers.invoke("LauncherFunction", event))
                if ours
                else world.BaselineLauncher(application_id, virtual_cluster_id, claims=name != "naive").launch
            )
            sweep = (lambda: handlers.invoke("SweeperFunction", _scheduled(clock))) if ours else None

            def tick() -> None:
                probe.maybe()
                lifetimes.tick()

            with meter.installed():
                driver = QueueDriver(queue_url, clock, launch, sweep, tick=tick, next_due=lifetimes.next_due)
                driver.run(until_quiet_for=900)
        result.invocations = driver.report.invocations
        result.dead_lettered = world.dlq_depth(sqs, queue_url)
        inputs = world.started_inputs(application_id)
        result.resources = len(inputs)
        result.duplicates = len(inputs) - len(set(inputs))
        result.objects_lost = len(burst.objects) - len(set(inputs))
        result.drain_seconds = lifetimes.last_start
    result.meter = meter.report
    result.throttled = sum(meter.report.throttled.values())
    result.throttled_starts = sum(meter.report.throttled[key] for key in START_OPERATIONS)
    result.other_throttled = result.throttled - result.throttled_starts
    result.wall_seconds = time.perf_counter() - began
    result.cpu_seconds = time.process_time() - cpu_began
    return result


def _scheduled(clock: VirtualClock) -> dict[str, Any]:
    """The EventBridge Scheduler event of the sweeper's rate(5 minutes) rule."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/emr-dispatch-sweep"],
        "detail": {},
    }
