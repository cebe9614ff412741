"""Properties of the job state machine under any delivery of engine events (invariants 2 and 4).

EMR, EMR Serverless and EMR on EKS events are best effort: lost, duplicated, out of order. In each example one
job is launched on its engine and its whole lifecycle runs in moto (the simulator), so the engine already holds
its final truth; then hypothesis draws how the lifecycle's events reach the tracker — each dropped or kept, a kept
one duplicated 0–2 times, all in any order — and whether the sweeper runs at some point in between and/or after
the last delivery. Whatever the schedule:

1. once a sweep has run, or an event saying how the run ended was delivered, the job holds the engine's truth
   (SUCCEED → SUCCEEDED, STEP_FAILURE / BOOTSTRAP_FAILURE → FAILED; CAPACITY_FAILURE, a retriable cause →
   attempt 1 kept as FAILED and the job waiting at attempt 2);
2. otherwise it is still at attempt 1 and not terminal;
3. it is alerted exactly once if it ended FAILED and never otherwise, and a retry is announced exactly once,
   however many duplicates and sweeps (a duplicated failure never schedules two retries);
4. within each attempt its history never moves backwards (state ranks non-decreasing) and holds no terminal
   state but that attempt's true end.

A job left non-terminal (every decisive event lost, no sweep) is then swept once more, as the next scheduled run
would: invariant 2 says that sweep records the truth, and property 3 still holds after it.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from emr_dispatch import wiring
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.sweep import SweepReport
from emr_dispatch.table import job_key
from emr_dispatch_tools.demo import Simulators
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrEc2Simulator, EmrEksSimulator, EmrServerlessSimulator, Outcome
from moto_helpers import Published, subscribe_queue
from sample_events import load_event

REGION = "us-east-1"

EXAMPLES_PER_CASE = 30
"""An example is one job: a launch, up to 15 tracker deliveries and up to two sweeps, in moto, in warm containers
(≈ 0.3–0.5 s on these machines). Ten cases (engine × first attempt's end) × 30 = 300 examples, as ten pytest
items that `make test`'s workers (pytest-xdist) share out beside the other tests."""

KEYS = {
    # engine → a key its shipped route in config/routes.yaml matches; {n} is fresh per example, so a new job
    "emr-ec2": "raw/orders/2026-11-23/orders-{n:05d}.csv",
    "emr-serverless": "raw/returns/2026-11-23/returns-{n:05d}.csv",
    "emr-eks": "raw/payments/2026-11-23/payments-{n:05d}.csv",
}

OUTCOMES = {
    # engine → the ends its simulator can give a job's first attempt
    "emr-ec2": [Outcome.SUCCEED, Outcome.STEP_FAILURE, Outcome.BOOTSTRAP_FAILURE, Outcome.CAPACITY_FAILURE],
    "emr-serverless": [Outcome.SUCCEED, Outcome.STEP_FAILURE, Outcome.CAPACITY_FAILURE],
    "emr-eks": [Outcome.SUCCEED, Outcome.STEP_FAILURE, Outcome.CAPACITY_FAILURE],
}


@dataclass(frozen=True)
class Truth:
    """What the ledger and ops must end up with once the engine's end is known."""

    state: JobState
    attempt: int
    failure_alerts: int
    retry_notices: int
    first_attempt_end: JobState  # the terminal state attempt 1 ended in (and the only one its history may hold)


TRUTH = {
    Outcome.SUCCEED: Truth(JobState.SUCCEEDED, 1, 0, 0, JobState.SUCCEEDED),
    Outcome.STEP_FAILURE: Truth(JobState.FAILED, 1, 1, 0, JobState.FAILED),
    Outcome.BOOTSTRAP_FAILURE: Truth(JobState.FAILED, 1, 1, 0, JobState.FAILED),
    # A retriable cause (Spot loss, internal error, cluster unavailable): attempt 1 FAILED, attempt 2 waits for
    # its start (the start request is not delivered here), ops told once that it is retried, never alerted.
    Outcome.CAPACITY_FAILURE: Truth(JobState.SUBMITTING, 2, 0, 1, JobState.FAILED),
}

LIFECYCLE_SLOTS = 5
"""Events of the longest lifecycle the simulator yields (EMR on EC2: cluster STARTING, cluster RUNNING, step
RUNNING, step end, cluster end). Schedules are drawn over this many slots before anything runs, so a draw that
hypothesis abandons costs no launch; a shorter lifecycle leaves its last slots empty."""

ENDED_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TERMINATED_WITH_ERRORS", "SUCCESS"})
"""Step, cluster and job-run states that say how a run ended: the events that decide a job."""

Alerts = Callable[[], list[Published]]
Sweep = Callable[[], SweepReport]


@dataclass(frozen=True)
class Schedule:
    """How one job's lifecycle events reach the tracker, and when the sweeper runs."""

    deliveries: tuple[int, ...]  # indexes into the lifecycle's events, in delivery order (a repeat: a duplicate;
    # an index past a shorter lifecycle's end: nothing delivered)
    sweep_before: int | None  # a sweep runs before deliveries[i]; len(deliveries): after the last one
    sweep_after: bool  # a sweep runs once everything else is done

    @property
    def swept(self) -> bool:
        return self.sweep_before is not None or self.sweep_after


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    kept = draw(st.lists(st.booleans(), min_size=LIFECYCLE_SLOTS, max_size=LIFECYCLE_SLOTS))
    duplicates = draw(st.lists(st.integers(0, 2), min_size=LIFECYCLE_SLOTS, max_size=LIFECYCLE_SLOTS))
    copies = [index for index in range(LIFECYCLE_SLOTS) if kept[index] for _ in range(1 + duplicates[index])]
    order = draw(st.permutations(copies))
    sweep_before = draw(st.none() | st.integers(0, len(order)))
    return Schedule(tuple(order), sweep_before, draw(st.booleans()))


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def deployed_stack(engines_stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> DeployedStack:
    """The stack, with each function's environment read once: it does not change during a test, and reading it
    (a Lambda API call) on every invocation is a tenth of an example's time."""
    monkeypatch.setattr(engines_stack, "function_environment", functools.cache(engines_stack.function_environment))
    # Warm containers, as Lambda keeps them between invocations: a cold start (clients, routes) per tracker
    # invocation is half an example's time, and proves nothing the other tests do not.
    monkeypatch.setattr(engines_stack, "warm", True)
    return engines_stack


@pytest.fixture
def sweep(deployed_stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Sweep:
    """Run the sweeper in this process with its deployed environment (each tracker invocation sets its own
    environment on top and puts this one back)."""
    for name, value in deployed_stack.function_environment("SweeperFunction").items():
        monkeypatch.setenv(name, value)

    def run() -> SweepReport:
        wiring.reset()
        try:
            return wiring.sweeper().sweep()
        finally:
            wiring.reset()

    return run


@pytest.fixture
def alerts(deployed_stack: DeployedStack) -> Alerts:
    """Every alert published so far (cumulative), read by a queue subscribed to the stack's AlertsTopic (the
    conftest fixture of this name would deploy a second stack, without the engines)."""
    return subscribe_queue(deployed_stack.outputs["AlertsTopicArn"], "state-machine-properties-alerts")


@pytest.fixture
def fresh_keys() -> Iterator[int]:
    """A new number for each example's object key: no two examples (nor hypothesis' reruns) share a job."""
    return itertools.count(1)


# ---------------------------------------------------------------------------- helpers
def _arrive(stack: DeployedStack, key: str) -> str:
    """Deliver events/s3-object-created-eventbridge.json, re-addressed to this object, to the launcher."""
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = key  # EventBridge keys are not form-encoded
    (result,) = stack.invoke("LauncherFunction", event)["results"]
    assert result["status"] == "started", result
    return str(result["job_id"])


def _job(ledger: Ledger, job_id: str) -> Job:
    job = ledger.get(job_id)
    assert job is not None, job_id
    return job


def _alerts_for(alerts: Alerts, job_id: str) -> tuple[int, int]:
    """(failure alerts, retry notices) that named this job (by the machine-readable part of their body)."""
    bodies = [json.loads(alert.message.split("--- machine-readable ---", 1)[1]) for alert in alerts()]
    mine = [body["state"] for body in bodies if body["job_id"] == job_id]
    return sum(1 for state in mine if state != "RETRYING"), mine.count("RETRYING")


def _label(event: dict[str, Any]) -> str:
    kind = {"EMR Step Status Change": "step", "EMR Cluster State Change": "cluster"}.get(event["detail-type"], "run")
    return f"{kind} {event['detail']['state']}"


def _assert_never_backwards(job: Job, truth: Truth) -> None:
    """Within each attempt the history only moves forward and holds no terminal state but that attempt's true end."""
    for attempt in {int(entry.get("attempt", 1)) for entry in job.history}:
        states = [JobState(e["state"]) for e in job.history if int(e.get("attempt", 1)) == attempt]
        ranks = [state.rank for state in states]
        assert ranks == sorted(ranks), f"attempt {attempt} moved backwards: {[state.value for state in states]}"
        true_end = truth.first_attempt_end if attempt == 1 else truth.state
        wrong = [state.value for state in states if state.is_terminal and state is not true_end]
        assert not wrong, f"attempt {attempt} holds a wrong terminal state: {[state.value for state in states]}"


def _assert_truth(job: Job, truth: Truth, alerted: tuple[int, int]) -> None:
    assert (job.state, job.attempt) == (truth.state, truth.attempt), (
        f"job is {job.state.value} at attempt {job.attempt}; the engine says {truth.state.value}/{truth.attempt}"
    )
    assert alerted == (truth.failure_alerts, truth.retry_notices), f"(alerts, retry notices) = {alerted}"
    if truth.attempt > 1:
        assert [(a["attempt"], a["state"]) for a in job.attempts] == [(1, truth.first_attempt_end.value)]


def check_any_delivery(
    stack: DeployedStack, sweep: Sweep, alerts: Alerts, key: str, outcome: Outcome, data: st.DataObject
) -> None:
    # Given a schedule of deliveries and sweeps
    schedule = data.draw(schedules(), label="schedule")
    # And a new job launched on its engine
    table = stack.outputs["LedgerTableName"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    job_id = _arrive(stack, key)
    try:
        _check_any_delivery(stack, sweep, alerts, Ledger(table, dynamodb), job_id, outcome, schedule)
    finally:
        # The example's job leaves the ledger, as its expiry (TTL, which moto never applies) would make it: every
        # example meets the same ledger, and a sweep's reads do not grow with the examples run before it.
        dynamodb.delete_item(TableName=table, Key=job_key(job_id))


def _check_any_delivery(
    stack: DeployedStack,
    sweep: Sweep,
    alerts: Alerts,
    ledger: Ledger,
    job_id: str,
    outcome: Outcome,
    schedule: Schedule,
) -> None:
    # And the job's whole lifecycle has run: moto holds the engine's final truth
    simulators = Simulators(EmrEc2Simulator(), EmrServerlessSimulator(), EmrEksSimulator())
    events = list(simulators.lifecycle(_job(ledger, job_id), outcome))
    assert len(events) <= LIFECYCLE_SLOTS, [_label(event) for event in events]
    truth = TRUTH[outcome]
    steps: list[dict[str, Any] | None] = []  # what happens, in order: an event delivered, or None: a sweep
    for position, index in enumerate(schedule.deliveries):
        if schedule.sweep_before == position:
            steps.append(None)
        if index < len(events):
            steps.append(events[index])
    if schedule.sweep_before == len(schedule.deliveries):
        steps.append(None)
    if schedule.sweep_after:
        steps.append(None)
    delivered = [step for step in steps if step is not None]
    note(f"{outcome.value} lifecycle: {[_label(event) for event in events]}")
    note(f"then, in this order: {['SWEEP' if step is None else _label(step) for step in steps]}")

    # When the drawn events reach the tracker, with the drawn sweeps in between and after
    for step in steps:
        if step is None:
            sweep()
        else:
            stack.invoke("TrackerFunction", step)

    # Then its history never moved backwards nor held a wrong terminal state
    job = _job(ledger, job_id)
    _assert_never_backwards(job, truth)
    decided = any(event["detail"]["state"] in ENDED_STATES for event in delivered)
    if decided or schedule.swept:
        # And with the end delivered, or a sweep run (the engine had ended before any delivery), it holds the
        # truth: exactly one alert if FAILED, none otherwise
        _assert_truth(job, truth, _alerts_for(alerts, job_id))
        return
    # And with every decisive event lost and no sweep, it is still at attempt 1 and not terminal, nor alerted
    assert (job.attempt, job.state.is_terminal) == (1, False), f"{job.state.value} at attempt {job.attempt}"
    assert _alerts_for(alerts, job_id) == (0, 0)

    # When the next scheduled sweep runs
    sweep()

    # Then the job holds the truth (invariant 2), alerted exactly once if FAILED, and still never went backwards
    job = _job(ledger, job_id)
    _assert_truth(job, truth, _alerts_for(alerts, job_id))
    _assert_never_backwards(job, truth)


_PROPERTY_SETTINGS = settings(
    # The stack is deployed once per test (function-scoped fixtures); each example launches a new job in it.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    max_examples=EXAMPLES_PER_CASE,
    database=None,  # nothing left behind; a failure prints its reproduction
)


@pytest.mark.parametrize(
    ("engine", "outcome"), [(engine, outcome) for engine, outcomes in OUTCOMES.items() for outcome in outcomes]
)
@_PROPERTY_SETTINGS
@given(data=st.data())
def test_a_job_ends_in_its_engines_truth_whatever_the_delivery(
    engine: str,
    outcome: Outcome,
    deployed_stack: DeployedStack,
    sweep: Sweep,
    alerts: Alerts,
    fresh_keys: Iterator[int],
    data: st.DataObject,
) -> None:
    check_any_delivery(deployed_stack, sweep, alerts, KEYS[engine].format(n=next(fresh_keys)), outcome, data)
