"""Retries per route, end to end in moto: a retriable failure starts a new attempt (once, however its
events and requests are duplicated), announces itself once, falls back to on-demand after Spot loss, and
the old attempt's events never touch the new one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from emr_dispatch import sweep_starts, wiring
from emr_dispatch.engines import emr_ec2
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.sweep import SweepReport
from emr_dispatch_tools.demo import Simulators
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.simulator import EmrEc2Simulator, EmrEksSimulator, EmrServerlessSimulator, Outcome
from moto_helpers import Published, receive_as_lambda_event, subscribe_queue
from sample_events import load_event

REGION = "us-east-1"
ROUTES = Path(__file__).resolve().parents[2] / "config" / "routes.yaml"
ORDERS_KEY = "raw/orders/2026-11-23/orders-0001.csv"  # emr-ec2, Spot core fleet
PAYMENTS_KEY = "raw/payments/2026-11-23/payments-0001.csv"  # emr-eks
RETURNS_KEY = "raw/returns/2026-11-23/returns-0001.csv"  # emr-serverless


@pytest.fixture
def routes_override(tmp_path: Path) -> dict[str, str]:
    """The shipped routes with retries that start at once (SQS delays are not what these tests are about)."""
    raw = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))
    for route in raw["routes"]:
        route["retry"] = {"max_attempts": 3 if route["name"] == "orders-daily" else 2, "backoff_seconds": 0}
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


class World:
    """The deployed stack, driven the way AWS would drive it, with the test's routes file."""

    def __init__(self, stack: DeployedStack, overrides: dict[str, str], inbox: Callable[[], list[Published]]) -> None:
        self.stack = stack
        self.overrides = overrides
        self.inbox = inbox
        self.ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
        self.simulators = Simulators(EmrEc2Simulator(), EmrServerlessSimulator(), EmrEksSimulator())

    def arrive(self, key: str) -> dict[str, Any]:
        event = load_event("s3-object-created-eventbridge.json")
        event["detail"]["bucket"]["name"] = self.stack.outputs["LandingBucketName"]
        event["detail"]["object"]["key"] = key  # EventBridge keys are not form-encoded
        result: dict[str, Any] = self.stack.invoke("LauncherFunction", event, self.overrides)["results"][0]
        return result

    def lifecycle(self, job: Job, outcome: Outcome) -> list[dict[str, Any]]:
        return list(self.simulators.lifecycle(job, outcome))

    def track(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.stack.invoke("TrackerFunction", event, self.overrides) for event in events]

    def control_messages(self) -> list[dict[str, Any]]:
        """What is waiting on the arrivals queue (taken off it), as the launcher's SQS event."""
        event = receive_as_lambda_event(self.stack.outputs["ArrivalsQueueUrl"])
        records: list[dict[str, Any]] = event["Records"]
        return records

    def deliver(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = self.stack.invoke("LauncherFunction", {"Records": records}, self.overrides)
        return response

    def job(self, job_id: str) -> Job:
        found = self.ledger.get(job_id)
        assert found is not None
        return found

    def sweep(self, monkeypatch: pytest.MonkeyPatch) -> SweepReport:
        for name, value in {**self.stack.function_environment("SweeperFunction"), **self.overrides}.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        try:
            return wiring.sweeper().sweep()
        finally:
            wiring.reset()


@pytest.fixture
def world(engines_stack: DeployedStack, routes_override: dict[str, str]) -> World:
    return World(engines_stack, routes_override, subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "inbox"))


def _start_requests(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in records if json.loads(r["body"]).get("emr-dispatch") == "start-job"]


def test_a_spot_loss_is_retried_once_on_demand_and_the_old_attempt_cannot_touch_the_new(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an EMR on EC2 job (its RunJobFlow requests seen: moto keeps no instance fleets) whose first
    # cluster loses its Spot capacity
    requests_sent: list[dict[str, Any]] = []
    build = emr_ec2.build_run_job_flow_request

    def spy(*args: Any) -> dict[str, Any]:
        requests_sent.append(build(*args))
        return requests_sent[-1]

    monkeypatch.setattr(emr_ec2, "build_run_job_flow_request", spy)
    started = world.arrive(ORDERS_KEY)
    job_id, first_cluster = started["job_id"], started["engine_id"]
    failure = world.lifecycle(world.job(job_id), Outcome.CAPACITY_FAILURE)

    # When the failure's events arrive, twice each
    world.track(failure + failure)

    # Then the job waits for attempt 2 of 3 with attempt 1 kept in the ledger, and one notice went out
    job = world.job(job_id)
    assert (job.state, job.attempt, job.engine_id) == (JobState.SUBMITTING, 2, None)
    (attempt_1,) = job.attempts
    assert (attempt_1["engine_id"], attempt_1["reason_code"], attempt_1["cause"]) == (
        first_cluster,
        "INSTANCE_FAILURE",
        "spot",
    )
    assert job.launch_options == {"market": "ON_DEMAND"}
    (notice,) = world.inbox()
    assert notice.subject.startswith("[emr-dispatch] RETRYING: orders-daily (INSTANCE_FAILURE) attempt 1/3")
    assert notice.attributes["severity"]["Value"] == "WARNING"
    assert "on on-demand instances" in notice.message

    # When the request to start attempt 2 is delivered twice
    requests = world.control_messages()
    assert _start_requests(requests) == [{"emr-dispatch": "start-job", "job_id": job_id, "attempt": "2"}]
    responses = [world.deliver(requests), world.deliver(requests)]

    # Then exactly one new cluster runs attempt 2, all on-demand
    assert [r["batchItemFailures"] for r in responses] == [[], []]
    job = world.job(job_id)
    assert job.state is JobState.SUBMITTED
    assert job.engine_id not in (None, first_cluster)
    emr = boto3.client("emr", region_name=REGION)
    names = [c["Name"] for c in emr.list_clusters()["Clusters"]]
    assert sorted(names) == [f"emr-dispatch-{job_id}-a1", f"emr-dispatch-{job_id}-a2"]
    first_fleets, second_fleets = (r["Instances"]["InstanceFleets"] for r in requests_sent)
    assert sum(f["TargetSpotCapacity"] for f in first_fleets) > 0
    assert [f["TargetSpotCapacity"] for f in second_fleets] == [0] * len(first_fleets)
    assert [f["TargetOnDemandCapacity"] for f in second_fleets] == [
        f["TargetOnDemandCapacity"] + f["TargetSpotCapacity"] for f in first_fleets
    ]

    # When attempt 1's events are delivered again, late, and attempt 2 succeeds
    replayed = world.track(failure)
    world.track(world.lifecycle(job, Outcome.SUCCEED))

    # Then the old events were not applied, the job succeeded at attempt 2, and no failure was alerted
    assert {r["status"] for r in replayed} == {"skipped"}
    job = world.job(job_id)
    assert (job.state, job.attempt) == (JobState.SUCCEEDED, 2)
    assert world.inbox() == [notice]


@pytest.mark.parametrize(("key", "engine"), [(PAYMENTS_KEY, "emr-eks"), (RETURNS_KEY, "emr-serverless")])
def test_a_job_run_retried_until_its_attempts_run_out_alerts_once_at_the_end(
    world: World, key: str, engine: str
) -> None:
    # Given a job-run job (2 attempts) whose every attempt fails for a retriable cause
    job_id = world.arrive(key)["job_id"]
    engine_ids = []
    for _attempt in (1, 2):
        job = world.job(job_id)
        engine_ids.append(job.engine_id)
        world.track(world.lifecycle(job, Outcome.CAPACITY_FAILURE))
        world.deliver(world.control_messages())

    # Then each attempt ran on its own job run, and the job ended FAILED at attempt 2 of 2
    job = world.job(job_id)
    assert job.engine == engine
    assert (job.state, job.attempt) == (JobState.FAILED, 2)
    assert len(set(engine_ids)) == 2
    assert [a["attempt"] for a in job.attempts] == [1]
    assert any(action.startswith("gave up: attempt 2 of 2 failed") for action in job.actions)

    # And ops got one notice for the retry and one alert for the final failure, saying attempt 2 of 2
    notice, final = world.inbox()
    assert notice.attributes["severity"]["Value"] == "WARNING"
    assert "RETRYING" in notice.subject
    assert final.attributes["severity"]["Value"] == "ERROR"
    assert "FAILED" in final.subject
    assert "(attempt 2 of 2)" in final.message
    assert "Earlier attempts:" in final.message


def test_a_user_code_failure_is_not_retried(world: World) -> None:
    # Given an EMR on EKS job whose application fails (USER_ERROR)
    job_id = world.arrive(PAYMENTS_KEY)["job_id"]
    world.track(world.lifecycle(world.job(job_id), Outcome.STEP_FAILURE))
    # Then it ends FAILED at attempt 1, nothing asks for another attempt, and the alert says why
    job = world.job(job_id)
    assert (job.state, job.attempt) == (JobState.FAILED, 1)
    assert _start_requests(world.control_messages()) == []
    (alert,) = world.inbox()
    assert "not retried: USER_ERROR is not a cause a second attempt can fix" in alert.message


def test_with_every_event_and_the_start_request_lost_sweeps_still_finish_the_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an EMR Serverless job that fails with an internal error while every engine event is lost
    job_id = world.arrive(RETURNS_KEY)["job_id"]
    world.lifecycle(world.job(job_id), Outcome.CAPACITY_FAILURE)

    # When a sweep runs, and the start request it leads to is lost too
    first = world.sweep(monkeypatch)
    assert first.moved == [job_id]
    assert world.job(job_id).attempt == 2
    assert _start_requests(world.control_messages())  # taken off the queue and dropped

    # Then the next sweep (once the retry is overdue) asks again, and attempt 2 starts from it
    monkeypatch.setattr(sweep_starts, "RETRY_GRACE_SECONDS", -1)
    second = world.sweep(monkeypatch)
    assert second.starts_requested == [job_id]
    assert world.deliver(world.control_messages())["batchItemFailures"] == []
    assert world.job(job_id).state is JobState.SUBMITTED

    # And when attempt 2 succeeds with its events lost, one more sweep records it
    world.lifecycle(world.job(job_id), Outcome.SUCCEED)
    world.sweep(monkeypatch)
    job = world.job(job_id)
    assert (job.state, job.attempt) == (JobState.SUCCEEDED, 2)
    assert [a.subject.split(":")[0] for a in world.inbox()] == ["[emr-dispatch] RETRYING"]


def test_a_start_the_service_fails_is_retried(world: World) -> None:
    # Given EMR answering the first RunJobFlow of an arrival with an internal error
    calls = {"n": 0}

    def refuse_once(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            error = {"Error": {"Code": "InternalServerError", "Message": "try again"}}
            raise ClientError(error, "RunJobFlow")  # type: ignore[arg-type]

    events = boto3._get_default_session().events
    handler: Any = refuse_once
    events.register("before-call.emr.RunJobFlow", handler, unique_id="refuse-once")
    try:
        # When the arrival is launched, and the start request that follows is delivered
        first = world.arrive(ORDERS_KEY)
        world.deliver(world.control_messages())
    finally:
        events.unregister("before-call.emr.RunJobFlow", unique_id="refuse-once")

    # Then the refusal was recorded as attempt 1 and attempt 2 runs on a cluster
    assert (first["status"], first["reason"]) == ("retrying", "InternalServerError")
    job = world.job(first["job_id"])
    assert (job.state, job.attempt) == (JobState.SUBMITTED, 2)
    assert job.attempts[0]["cause"] == "internal"
    assert job.engine_id is not None
