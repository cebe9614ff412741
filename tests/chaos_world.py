"""The world of the chaos property test: the deployed stack in moto, a virtual clock, the messages in flight (the
arrivals queue: S3 arrivals and control messages), the engine events in flight, and the routes file in force.

Steps are data (tuples drawn by hypothesis, or written out in a kept failing example), so that a failure prints
the exact program that reproduced it. ``World.run`` plays a program, then lets the system quiesce (every message
delivered, every event delivered, the clock moved on, sweeps) and ``World.violations`` lists what is wrong.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml
from faults import InjectedCrashError, crash_at, refusing
from moto.emr.models import emr_backends
from moto.emrcontainers.models import emrcontainers_backends
from moto.emrserverless.models import emrserverless_backends
from moto.sqs.models import sqs_backends

from emr_dispatch import outcomes, retries, sweep, timeutil
from emr_dispatch.inputs import ManifestInput, MarkerInput
from emr_dispatch.jobs import ACTIVE_STATES, Job
from emr_dispatch.table import decode_job as to_job
from emr_dispatch_tools.demo import Simulators
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import (
    MOTO_ACCOUNT_ID,
    EmrEc2Simulator,
    EmrEksSimulator,
    EmrServerlessSimulator,
    Outcome,
)
from moto_helpers import Published

REGION = "us-east-1"
SWEEP_INTERVAL = timedelta(minutes=5)  # template.yaml: rate(5 minutes)

ENGINE_SECTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "emr-ec2": ("emr_ec2", {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}),
    "emr-serverless": ("emr_serverless", {}),
    "emr-eks": ("emr_eks", {"release_label": "emr-7.5.0-latest"}),
}
NEXT_ENGINE = {"emr-ec2": "emr-eks", "emr-eks": "emr-serverless", "emr-serverless": "emr-ec2"}
NEXT_CAP = {None: 1, 1: 2, 2: None}


def _route(name: str, prefix: str, engine: str, mode: str, cap: int | None) -> dict[str, Any]:
    section, settings = ENGINE_SECTIONS[engine]
    argument = "--inputs-manifest={inputs_manifest_uri}" if mode == "batch" else "--input={input_uri}"
    route: dict[str, Any] = {
        "name": name,
        "match": {"prefix": prefix},
        "engine": engine,
        section: copy.deepcopy(settings),
        "job": {"entry_point": "s3://{work_bucket}/jobs/clean_csv.py", "arguments": [argument, "--job-id={job_id}"]},
        "timeout_minutes": 30,
        "retry": {"max_attempts": 2, "backoff_seconds": 60},
    }
    if cap is not None:
        route["max_concurrent"] = cap
    if mode == "batch":
        route["batching"] = {"mode": "batch", "window_seconds": 10, "max_count": 2}
    if mode == "marker":
        route["batching"] = {"mode": "marker"}
    return route


def base_routes() -> list[dict[str, Any]]:
    """All three engines and all three batching modes."""
    return [
        _route("c-ec2", "ec2/", "emr-ec2", "per-object", 1),
        _route("c-sls", "sls/", "emr-serverless", "per-object", None),
        _route("c-eks", "eks/", "emr-eks", "per-object", 1),
        _route("c-batch", "batch/", "emr-serverless", "batch", None),
        _route("c-marker", "marker/", "emr-eks", "marker", None),
    ]


OBJECTS = (
    "ec2/a.csv",
    "ec2/b.csv",
    "sls/a.csv",
    "eks/a.csv",
    "eks/b.csv",
    "batch/a.csv",
    "batch/b.csv",
    "batch/c.csv",
    "marker/d1/part-0.csv",
    "marker/d1/_SUCCESS",
)

CRASH_POINTS = (
    ("dynamodb", "PutItem"),
    ("dynamodb", "UpdateItem"),
    ("dynamodb", "TransactWriteItems"),
    ("dynamodb", "DeleteItem"),
    ("dynamodb", "Query"),
    ("emr", "RunJobFlow"),
    ("emr", "TerminateJobFlows"),
    ("emr-serverless", "StartJobRun"),
    ("emr-serverless", "CancelJobRun"),
    ("emr-containers", "StartJobRun"),
    ("emr-containers", "CancelJobRun"),
    ("sqs", "SendMessage"),
    ("s3", "PutObject"),
    ("sns", "Publish"),
)
"""Calls an invocation may die around. After an SNS Publish is left out: SNS took the alert and the outbox was
not cleared, so a second alert is the documented at-least-once window (test_track_sweep_faults covers it)."""
THROTTLE_POINTS = (
    ("emr", "RunJobFlow", "ThrottlingException"),
    ("emr-serverless", "StartJobRun", "ThrottlingException"),
    ("emr-containers", "StartJobRun", "ThrottlingException"),
    ("emr", "DescribeCluster", "ThrottlingException"),
    ("dynamodb", "TransactWriteItems", "ThrottlingException"),
    ("dynamodb", "UpdateItem", "ProvisionedThroughputExceededException"),
    ("sns", "Publish", "Throttling"),
    ("sqs", "SendMessage", "RequestThrottled"),
)
OUTCOMES = (Outcome.SUCCEED, Outcome.STEP_FAILURE, Outcome.CAPACITY_FAILURE)

Step = tuple[Any, ...]


class _Clock:
    offset = timedelta(0)


class _ShiftedDatetime(datetime):
    """datetime whose now() is the virtual clock's (the product reads time through these modules)."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + _Clock.offset


CLOCK_MODULES = (timeutil, sweep, retries, outcomes)


@dataclass
class Message:
    body: dict[str, Any]
    arrival: str | None = None  # the object key of an S3 arrival (never lost: S3 → SQS is durable)


@dataclass(repr=False)
class World:
    stack: DeployedStack
    alerts: Any
    tmp: Path
    routes: list[dict[str, Any]] = field(default_factory=base_routes)
    inbox: list[Message] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    simulated: set[str] = field(default_factory=set)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    published: list[Published] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    version: int = 0
    alerts_before: int = 0  # alerts received before this example (the inbox's list is cumulative)

    def __repr__(self) -> str:
        return "World()"

    # ------------------------------------------------------------------ environment
    @property
    def overrides(self) -> dict[str, str]:
        path = self.tmp / f"routes-{self.version}.yaml"
        if not path.exists():
            path.write_text(yaml.safe_dump({"version": 1, "routes": self.routes}), encoding="utf-8")
        return {"ROUTES_FILE": str(path)}

    def now(self) -> datetime:
        return datetime.now(UTC) + _Clock.offset

    def reset(self) -> None:
        """A clean account for the next example (the stack stays): ledger, queue, engines, alerts."""
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table = self.stack.outputs["LedgerTableName"]
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
        self._pull_queue()
        self.inbox.clear()
        for cluster in emr_backends[MOTO_ACCOUNT_ID][REGION].clusters.values():
            cluster.state = "TERMINATED"
        for runs in emrserverless_backends[MOTO_ACCOUNT_ID][REGION].job_runs.values():
            for run in runs:
                run.state = "CANCELLED"
        for eks_run in emrcontainers_backends[MOTO_ACCOUNT_ID][REGION].job_runs.values():
            eks_run.state = "CANCELLED"
        self.alerts_before = len(self.alerts())  # this example's alerts only
        _Clock.offset += timedelta(hours=1)  # the clock never goes back; windows of earlier examples are over

    # ------------------------------------------------------------------ the program
    def run(self, program: list[Step]) -> None:
        for step in program:
            self.log.append(repr(step))
            getattr(self, f"_do_{step[0]}")(*step[1:])
        self.quiesce()

    def _do_arrive(self, index: int) -> None:
        key = OBJECTS[index % len(OBJECTS)]
        event = json.loads((Path(__file__).parents[1] / "events/s3-object-created-eventbridge.json").read_text())
        event["time"] = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        event["detail"]["bucket"]["name"] = self.stack.outputs["LandingBucketName"]
        event["detail"]["object"].update(key=key, size=100 + index, etag=f"etag{index}", sequencer=f"{index:04d}")
        event["detail"]["object"]["version-id"] = f"v{index}"
        self.inbox.append(Message(event, arrival=key))

    def _do_deliver(self, index: int, fault: tuple[Any, ...] | None = None) -> None:
        self._pull_queue()
        if self.inbox:
            message = self.inbox.pop(index % len(self.inbox))
            if not self._deliver(message, fault):
                self.inbox.append(message)  # back after the visibility timeout (reordered)

    def _do_lose(self, index: int) -> None:
        """A control message lost (never an arrival: S3 → SQS is durable)."""
        self._pull_queue()
        control = [message for message in self.inbox if message.arrival is None]
        if control:
            self.inbox.remove(control[index % len(control)])

    def _do_duplicate(self, index: int) -> None:
        self._pull_queue()
        if self.inbox:
            self.inbox.append(copy.deepcopy(self.inbox[index % len(self.inbox)]))

    def _do_engine(self, index: int, outcome: int) -> None:
        """One started engine resource runs to its end; its events go in flight."""
        jobs = [job for job in self._jobs() if job.engine_id and job.engine_id not in self.simulated]
        if not jobs:
            return
        job = jobs[index % len(jobs)]
        self.simulated.add(str(job.engine_id))
        simulators = Simulators(EmrEc2Simulator(), EmrServerlessSimulator(), EmrEksSimulator())
        try:
            self.events += list(simulators.lifecycle(job, OUTCOMES[outcome % len(OUTCOMES)]))
        except (KeyError, StopIteration):
            return  # its resource is already gone (stopped, or cleaned up between examples)

    def _do_event(self, index: int, fault: tuple[Any, ...] | None = None) -> None:
        if self.events:
            event = self.events.pop(index % len(self.events))
            if not self._invoke("TrackerFunction", event, fault):
                self.events.append(event)  # EventBridge / Lambda retry it

    def _do_lose_event(self, index: int) -> None:
        if self.events:
            self.events.pop(index % len(self.events))

    def _do_duplicate_event(self, index: int) -> None:
        if self.events:
            self.events.append(copy.deepcopy(self.events[index % len(self.events)]))

    def _do_sweep(self, minutes: int, fault: tuple[Any, ...] | None = None) -> None:
        _Clock.offset += timedelta(minutes=minutes)
        self._invoke("SweeperFunction", {"source": "aws.events", "detail-type": "Scheduled Event"}, fault)

    def _do_edit(self, kind: str, index: int) -> None:
        """A routes file deployed with one route renamed, removed, moved to another engine, or its cap changed."""
        route = self.routes[index % len(self.routes)]
        if kind == "rename":
            route["name"] = route["name"][:30] + "-v" + str(self.version + 1)
        elif kind == "remove" and len(self.routes) > 1:
            self.routes.remove(route)
        elif kind == "engine":
            section, _ = ENGINE_SECTIONS[route["engine"]]
            del route[section]
            route["engine"] = NEXT_ENGINE[route["engine"]]
            new_section, settings = ENGINE_SECTIONS[route["engine"]]
            route[new_section] = copy.deepcopy(settings)
        elif kind == "cap":
            cap = NEXT_CAP[route.get("max_concurrent")]
            route.pop("max_concurrent", None)
            if cap is not None:
                route["max_concurrent"] = cap
        self.version += 1

    # ------------------------------------------------------------------ quiescence
    def quiesce(self, rounds: int = 8) -> None:
        """No more faults: every message and event is delivered, the clock moves on past every backoff, lease and
        deadline, and sweeps run, until nothing is left in flight; then two more sweeps."""
        for _ in range(rounds):
            _Clock.offset += timedelta(minutes=16)
            for _pass in range(6):
                self._pull_queue()
                if not self.inbox:
                    break
                pending, self.inbox = self.inbox, []
                for message in pending:
                    if not self._deliver(message, None):
                        self.inbox.append(message)
            pending_events, self.events = self.events, []
            for event in pending_events:
                if not self._invoke("TrackerFunction", event, None):
                    self.events.append(event)
            self._do_sweep(0)
        for _ in range(2):
            self._do_sweep(int(SWEEP_INTERVAL.total_seconds() // 60))
        self._pull_queue()
        self.published = self.alerts()[self.alerts_before :]

    # ------------------------------------------------------------------ invariants
    def violations(self) -> list[str]:
        found: list[str] = []
        jobs = self._jobs()
        found += [f"message never handled: {json.dumps(message.body)[:200]}" for message in self.inbox]
        found += [f"engine event never handled: {event['detail-type']} {event['detail']}" for event in self.events]
        found += [f"job {job.job_id} still {job.state.value}" for job in jobs if not job.state.is_terminal]
        found += self._arrivals_accounted_for(jobs)
        found += self._nothing_alive()
        found += self._counters_match(jobs)
        found += self._one_alert_per_failure(jobs)
        found += self._every_item_expires()
        return found

    def _arrivals_accounted_for(self, jobs: list[Job]) -> list[str]:
        """Every arrival is in exactly one terminal job, or skipped with a logged reason."""
        holders: dict[str, list[str]] = {key: [] for key in self.results}
        for job in jobs:
            for key in self._keys_of(job):
                holders.setdefault(key, []).append(job.job_id)
        found = []
        for key, results in self.results.items():
            skipped = all(result["status"] == "skipped" and result["reason"] for result in results)
            if skipped and not holders[key]:
                continue
            if len(holders[key]) != 1:
                statuses = [(result["status"], result["reason"]) for result in results]
                found.append(f"arrival {key} is in {len(holders[key])} jobs {holders[key]} (launcher said {statuses})")
        return found

    def _keys_of(self, job: Job) -> list[str]:
        keys = []
        for item in job.inputs:
            if isinstance(item, ManifestInput):
                body = (
                    boto3.client("s3", region_name=REGION).get_object(Bucket=item.bucket, Key=item.key)["Body"].read()
                )
                keys += [member["key"] for member in json.loads(body)["inputs"]]
            elif isinstance(item, MarkerInput):
                keys.append(item.marker.key)
            else:
                keys.append(item.key)
        return keys

    def _nothing_alive(self) -> list[str]:
        """After quiescence every deadline is long past: no resource emr-dispatch started may still run."""
        alive = [
            f"cluster {cluster.id} ({cluster.name}) still {cluster.state}"
            for cluster in emr_backends[MOTO_ACCOUNT_ID][REGION].clusters.values()
            if str(cluster.name).startswith("emr-dispatch-") and not str(cluster.state).startswith("TERMINAT")
        ]
        for runs in emrserverless_backends[MOTO_ACCOUNT_ID][REGION].job_runs.values():
            alive += [
                f"job run {run.id} ({run.name}) still {run.state}"
                for run in runs
                if run.state not in ("SUCCESS", "FAILED", "CANCELLED", "CANCELLING")
            ]
        alive += [
            f"job run {run.id} ({run.name}) still {run.state}"
            for run in emrcontainers_backends[MOTO_ACCOUNT_ID][REGION].job_runs.values()
            if run.state not in ("COMPLETED", "FAILED", "CANCELLED", "CANCEL_PENDING")
        ]
        return alive

    def _counters_match(self, jobs: list[Job]) -> list[str]:
        held = Counter(counter for job in jobs if job.state in ACTIVE_STATES for counter in job.slots)
        found = []
        for item in self._items():
            if item["pk"]["S"].startswith("CAPACITY#"):
                counter = item["pk"]["S"].removeprefix("CAPACITY#")
                active = int(item.get("active", {}).get("N", "0"))
                if active != held[counter]:
                    found.append(f"capacity counter {counter} says {active}, jobs hold {held[counter]}")
        return found

    def _one_alert_per_failure(self, jobs: list[Job]) -> list[str]:
        bodies = [json.loads(alert.message.split("--- machine-readable ---", 1)[1]) for alert in self.published]
        found = []
        for job in jobs:
            ended = [
                body for body in bodies if body["job_id"] == job.job_id and body["state"] in ("FAILED", "TIMED_OUT")
            ]
            final = [body for body in ended if body.get("attempt", job.attempt) == job.attempt]
            expected = 1 if job.state.value in ("FAILED", "TIMED_OUT") else 0
            if len(final) != expected:
                found.append(f"job {job.job_id} ended {job.state.value} with {len(final)} alerts of its end")
        orphans = Counter(body.get("engine_id") for body in bodies if body["state"] == "ORPHAN")
        found += [f"orphan {engine_id} alerted {n} times" for engine_id, n in orphans.items() if n != 1]
        return found

    def _every_item_expires(self) -> list[str]:
        """Every record of work expires (TTL); capacity counters are the one standing item (a count, not a record)."""
        return [
            f"item {item['pk']['S']} / {item['sk']['S']} has no expiry"
            for item in self._items()
            if "expires_at" not in item and not item["pk"]["S"].startswith("CAPACITY#")
        ]

    # ------------------------------------------------------------------ plumbing
    def _items(self) -> list[dict[str, Any]]:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        pages = dynamodb.get_paginator("scan").paginate(TableName=self.stack.outputs["LedgerTableName"])
        return [item for page in pages for item in page.get("Items", [])]

    def _jobs(self) -> list[Job]:
        return [to_job(item) for item in self._items() if item["sk"]["S"] == "JOB"]

    def _pull_queue(self) -> None:
        """Everything the functions sent to the arrivals queue, delays ignored (a delay only reorders)."""
        name = self.stack.outputs["ArrivalsQueueUrl"].rsplit("/", 1)[1]
        queue = sqs_backends[MOTO_ACCOUNT_ID][REGION].queues[name]
        messages, queue._messages = list(queue._messages), []
        self.inbox += [Message(json.loads(message.body)) for message in messages]

    def _deliver(self, message: Message, fault: tuple[Any, ...] | None) -> bool:
        if message.arrival is None:
            return self._invoke("LauncherFunction", message.body, fault)
        outcome: list[Any] = []
        handled = self._invoke("LauncherFunction", message.body, fault, outcome)
        if handled:
            self.results.setdefault(message.arrival, []).extend(outcome[0]["results"])
        return handled

    def _invoke(
        self, function: str, event: dict[str, Any], fault: tuple[Any, ...] | None, out: list[Any] | None = None
    ) -> bool:
        """Whether the invocation succeeded (a failed one is retried by its source)."""
        try:
            with _fault(fault):
                response = self.stack.invoke(function, event, self.overrides)
        except InjectedCrashError:
            return False
        except Exception as exc:  # noqa: BLE001 - the function failed: its source retries it (kept in flight)
            self.dead.append(f"{function}: {type(exc).__name__}: {exc}"[:300])
            return False
        if out is not None:
            out.append(response)
        return True


@contextlib.contextmanager
def _fault(fault: tuple[Any, ...] | None) -> Iterator[None]:
    if fault is None:
        yield
    elif fault[0] == "crash":
        service, operation = CRASH_POINTS[fault[1] % len(CRASH_POINTS)]
        when = "before" if service == "sns" else fault[2]
        with crash_at(service, operation, when, fault[3]):
            yield
    else:
        service, operation, code = THROTTLE_POINTS[fault[1] % len(THROTTLE_POINTS)]
        with refusing(service, operation, code, times=1):
            yield
