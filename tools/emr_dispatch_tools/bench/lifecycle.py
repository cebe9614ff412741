"""AWS calls over a job's whole life, per engine and per path: launch, duplicate arrival, each state change,
a sweep; plus the batch and marker paths. All through the deployed handlers (warm), in moto, with the
template's own routes file (config/routes.yaml, the RoutesLayer), counted from botocore events.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench.burst import EVENTS_DIR, REGION, LandedObject, event_body
from emr_dispatch_tools.bench.counting import tallied_logs
from emr_dispatch_tools.bench.runs import Timed
from emr_dispatch_tools.bench.warm import CallMeter, Measured, WarmFunctions

# One key per engine under config/routes.yaml's per-object routes.
PER_OBJECT_KEYS = {
    "emr-ec2": "raw/orders/2026-11-23/orders-{n}.csv",  # orders-daily
    "emr-serverless": "raw/returns/2026-11-23/returns-{n}.csv",  # returns-serverless (managed application)
    "emr-eks": "raw/payments/2026-11-23/payments-{n}.csv",  # payments-eks
}
BATCH_KEY = "raw/clicks/2026-11-23/clicks-{n}.csv"  # clicks-batch: batch mode, max_concurrent 2
MARKER_FOLDER = "raw/exports/2026-11-23/"  # exports-on-marker


@dataclass
class PathCalls:
    engine: str
    path: str
    calls: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Lifecycle:
    rows: list[PathCalls] = field(default_factory=list)
    whole_life: dict[tuple[str, str], int] = field(default_factory=dict)  # (engine, outcome) → calls
    sweep_fixed: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    # Hot path on a small ledger: arrivals through the warm launcher, then their jobs' events through the tracker.
    launcher: Timed = field(default_factory=Timed)
    tracker: Timed = field(default_factory=Timed)
    hot_arrivals: int = 0
    hot_waiting: int = 0  # jobs of the hot path held QUEUED by the shipped caps and start rates
    tracker_results: Counter[str] = field(default_factory=Counter)

    def worst(self, path: str) -> int:
        return max((row.total for row in self.rows if row.path == path), default=0)


class _Objects:
    """Landed objects and the SQS events carrying their classic S3 notifications."""

    def __init__(self, bucket: str, queue_arn: str) -> None:
        self._bucket = bucket
        self._queue_arn = queue_arn
        self._samples = {
            name: json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
            for name in ("s3-put-classic.json", "s3-object-created-eventbridge.json", "sqs-s3-batch.json")
        }
        self._count = 0

    def landed(self, key: str) -> LandedObject:
        self._count += 1
        n = self._count
        return LandedObject(
            key=key,
            shape="classic",
            size=1_000 + n,
            etag=f"{n:032x}",
            version_id=f"v{n:031d}",
            sequencer=f"{0x0065A7D1C3B9E4F2A1 + n:018X}",
            event_time=f"2026-11-23T09:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
            event_id=str(uuid.UUID(int=n, version=4)),
        )

    def sqs_event(self, *bodies: str) -> dict[str, Any]:
        record = self._samples["sqs-s3-batch.json"]["Records"][0]
        return {
            "Records": [
                {**record, "messageId": str(uuid.uuid4()), "body": body, "eventSourceARN": self._queue_arn}
                for body in bodies
            ]
        }

    def delivery(self, obj: LandedObject) -> dict[str, Any]:
        return self.sqs_event(event_body(obj, self._bucket, self._samples))


def measure(hot_jobs: int = 150) -> Lifecycle:
    import boto3
    from moto import mock_aws

    from emr_dispatch.ledger import Ledger
    from emr_dispatch_tools.demo import Simulators
    from emr_dispatch_tools.simulator import EmrEc2Simulator, EmrEksSimulator, EmrServerlessSimulator, Outcome

    result = Lifecycle()
    with mock_aws(), tallied_logs():
        stack = moto_stack.deploy_with_engines("emr-dispatch-lifecycle", region=REGION)
        setup = boto3.Session(region_name=REGION)
        queue_arn = setup.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs["ArrivalsQueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        objects = _Objects(stack.outputs["LandingBucketName"], queue_arn)
        ledger = Ledger(stack.outputs["LedgerTableName"], setup.client("dynamodb"))
        simulators = Simulators(
            EmrEc2Simulator(region=REGION), EmrServerlessSimulator(region=REGION), EmrEksSimulator(region=REGION)
        )
        functions = WarmFunctions(stack)
        measured = Measured(CallMeter.on_default_session(), functions)

        def run(logical_id: str, event: dict[str, Any]) -> Counter[str]:
            response, _, _, calls = measured.invoke(logical_id, event)
            failures = response.get("batchItemFailures") if isinstance(response, dict) else None
            if failures:
                result.problems.append(f"{logical_id}: batchItemFailures {failures}")
            return calls

        try:
            result.sweep_fixed = run("SweeperFunction", {})
            for engine, pattern in PER_OBJECT_KEYS.items():
                for outcome in (Outcome.SUCCEED, Outcome.STEP_FAILURE):
                    label = "success" if outcome is Outcome.SUCCEED else "failure"
                    obj = objects.landed(pattern.format(n=f"{label}-{objects._count:04d}"))
                    launch = run("LauncherFunction", objects.delivery(obj))
                    duplicate = run("LauncherFunction", objects.delivery(obj))
                    job = next((job for job in ledger.list_jobs() if not job.state.is_terminal), None)
                    if job is None:
                        result.problems.append(f"{engine} {label}: no live job after the launch")
                        continue
                    events, sweep = Counter[str](), Counter[str]()
                    for event in simulators.lifecycle(job, outcome):
                        calls = run("TrackerFunction", event)
                        events += calls
                        state = event["detail"].get("state", "")
                        kind = "step" if "Step" in event["detail-type"] else "event"
                        result.rows.append(PathCalls(engine, f"{label}: {kind} {state}", calls))
                        if state == "RUNNING" and not sweep:
                            # One scheduled sweep while the job runs (the engine already says RUNNING).
                            sweep = run("SweeperFunction", {}) - result.sweep_fixed
                    if outcome is Outcome.SUCCEED:
                        result.rows.append(PathCalls(engine, "launch (new object)", launch))
                        result.rows.append(PathCalls(engine, "duplicate arrival", duplicate))
                        result.rows.append(PathCalls(engine, "sweep, per running job", sweep))
                    result.whole_life[(engine, label)] = sum((launch + events + sweep).values())
                    ended = ledger.get(job.job_id)
                    if ended is None or not ended.state.is_terminal:
                        result.problems.append(f"{engine} {label}: job did not end ({ended and ended.state})")
            _batch_and_marker(result, objects, run)
            _hot_path(result, objects, measured, ledger, simulators, hot_jobs)
        finally:
            functions.close()
    return result


def _batch_and_marker(result: Lifecycle, objects: _Objects, run: Any) -> None:
    """The batch path (joins, a duplicate join, the window closing) and the marker path."""

    def row(engine: str, path: str, event: dict[str, Any]) -> None:
        result.rows.append(PathCalls(engine, path, run("LauncherFunction", event)))

    first, second = objects.landed(BATCH_KEY.format(n=1)), objects.landed(BATCH_KEY.format(n=2))
    row("emr-serverless", "batch: first arrival joins", objects.delivery(first))
    row("emr-serverless", "batch: next arrival joins", objects.delivery(second))
    row("emr-serverless", "batch: duplicate arrival", objects.delivery(second))
    # The first arrival sent a close-batch message, delayed by the window, to the arrivals queue.
    closes = [body for body in _queued_bodies() if "close-batch" in body]
    if closes:
        row("emr-serverless", "batch: window closes (one job)", objects.sqs_event(closes[0]))
    else:
        result.problems.append("batch: no close-batch message on the arrivals queue")
    row("emr-eks", "marker: data object (waits)", objects.delivery(objects.landed(MARKER_FOLDER + "part-00000.csv")))
    row("emr-eks", "marker: marker object (launch)", objects.delivery(objects.landed(MARKER_FOLDER + "_SUCCESS")))
    row("-", "no route matches (skipped)", objects.delivery(objects.landed("tmp/not-routed.csv")))


def _queued_bodies() -> list[str]:
    """Bodies of every message on moto's queues, delayed ones included (the window's close is delayed)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queues = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.values()
    return [str(message.body) for queue in queues for message in list(queue._messages)]


def _hot_path(
    result: Lifecycle, objects: _Objects, measured: Measured, ledger: Any, simulators: Any, jobs: int
) -> None:
    """``jobs`` new objects (a third per engine) in SQS batches of 10 through the warm launcher, then every
    state-change event of their jobs (one in five failing) through the warm tracker, each invocation timed
    beside the AWS calls inside it. The ledger stays small, so moto's scans stay cheap: our share is not
    flattered by a slow moto."""
    from emr_dispatch_tools.simulator import Outcome

    keys = list(PER_OBJECT_KEYS.values())
    landed = [objects.landed(keys[i % len(keys)].format(n=f"hot-{i:05d}")) for i in range(jobs)]
    known = {job.job_id for job in ledger.list_jobs()}
    for start in range(0, len(landed), 10):
        deliveries = [objects.delivery(obj)["Records"][0] for obj in landed[start : start + 10]]
        response, wall, inside, _ = measured.invoke("LauncherFunction", {"Records": deliveries})
        result.launcher.add(wall, inside)
        if response.get("batchItemFailures"):
            result.problems.append(f"hot path: launcher batchItemFailures {response['batchItemFailures']}")
    result.hot_arrivals = len(landed)
    new_jobs = [job for job in ledger.list_jobs() if job.job_id not in known]
    # The shipped caps and start rates hold some of a burst QUEUED (no engine resource yet): only the jobs that
    # started have state changes to track; the others are counted, not simulated.
    started = sorted((job for job in new_jobs if job.engine_id), key=lambda job: job.job_id)
    result.hot_waiting = len(new_jobs) - len(started)
    for index, job in enumerate(started):
        outcome = Outcome.STEP_FAILURE if index % 5 == 4 else Outcome.SUCCEED
        for event in simulators.lifecycle(job, outcome):
            tracked, wall, inside, _ = measured.invoke("TrackerFunction", event)
            result.tracker.add(wall, inside)
            result.tracker_results[str(tracked.get("status"))] += 1
