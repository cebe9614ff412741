"""Retry policy: which failures are tried again, when, and on what (no AWS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from builders import job as build_job
from builders import route as build_route
from builders import settings
from emr_dispatch.alerts import Alert
from emr_dispatch.engines.emr_ec2 import ON_DEMAND, build_run_job_flow_request
from emr_dispatch.errors import RoutesError
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.retries import decide, failure_cause, final_words

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SPOT_FLEETS = {
    "release_label": "emr-7.5.0",
    "fleets": {
        "primary": {"instance_types": ["m7g.xlarge"], "on_demand_capacity": 1},
        "core": {"instance_types": ["m7g.2xlarge", "r7g.xlarge"], "on_demand_capacity": 1, "spot_capacity": 3},
    },
}


def _failed(code: str | None, message: str | None = None) -> StateUpdate:
    return StateUpdate(JobState.FAILED, "test", code, message)


def _job(attempt: int = 1, max_attempts: int = 3, engine: str = "emr-ec2") -> Job:
    return replace(build_job(engine=engine, attempt=attempt), max_attempts=max_attempts, state=JobState.RUNNING)


@pytest.mark.parametrize(
    ("code", "message", "uses_spot", "cause"),
    [
        ("INTERNAL_ERROR", "An internal error occurred", False, "internal"),  # EMR cluster / EMR on EKS
        ("INSTANCE_FAILURE", "Instance i-1 failed", False, "capacity"),
        ("INSTANCE_FAILURE", "Instance i-1 failed", True, "spot"),  # a route with Spot: instance loss is Spot loss
        ("INSTANCE_FAILURE", "Spot capacity reclaimed", False, "spot"),
        ("INSTANCE_FLEET_TIMEOUT", "Fleet could not be provisioned", True, "spot"),
        ("CLUSTER_UNAVAILABLE", "EKS cluster unavailable", False, "capacity"),  # EMR on EKS
        ("START_InternalServerError", "RunJobFlow refused", False, "internal"),  # a start the service failed
        ("JOB_RUN_FAILED", "Job run failed because of an internal error.", False, "internal"),  # EMR Serverless
        ("VALIDATION_ERROR", "The subnet does not exist", False, None),
        ("STEP_FAILURE", "Shut down as step failed", True, None),  # user code, even on Spot
        ("BOOTSTRAP_FAILURE", "bootstrap action 1 failed", False, None),
        ("USER_ERROR", "driver exited with code 1", False, None),
        ("JOB_RUN_FAILED", "Job failed, please check complete logs. ExitCode: 1.", False, None),
        ("START_ValidationException", "bad request", False, None),
        (None, None, False, None),
    ],
)
def test_only_causes_a_second_try_can_fix_are_retriable(
    code: str | None, message: str | None, uses_spot: bool, cause: str | None
) -> None:
    # Given a failure with this reason / When it is classified / Then only transient causes are retriable
    assert failure_cause(_failed(code, message), uses_spot=uses_spot) == cause


def test_a_timeout_or_cancellation_is_never_retried() -> None:
    # Given a job that timed out or was cancelled, even with an internal-looking reason
    for state in (JobState.TIMED_OUT, JobState.CANCELLED, JobState.SUCCEEDED):
        update = StateUpdate(state, "test", "INTERNAL_ERROR", "internal error")
        # Then no retry is decided
        assert failure_cause(update) is None
        assert decide(_job(), update, build_route(), NOW) is None


def test_a_retry_waits_its_backoff_and_counts_attempts() -> None:
    # Given a route retrying up to 3 attempts, 30 s then ×3
    route = build_route(retry={"max_attempts": 3, "backoff_seconds": 30, "backoff_rate": 3})

    # When attempts 1 and 2 fail with an internal error, and then attempt 3 does
    first = decide(_job(1), _failed("INTERNAL_ERROR"), route, NOW)
    second = decide(_job(2), _failed("INTERNAL_ERROR"), route, NOW)
    third = decide(_job(3), _failed("INTERNAL_ERROR"), route, NOW)

    # Then attempt 2 waits 30 s, attempt 3 waits 90 s, and there is no fourth
    assert first is not None
    assert (first.attempt, first.delay_seconds, first.cause) == (2, 30, "internal")
    assert first.retry_at == "2026-11-23T09:00:30.000Z"
    assert second is not None
    assert (second.attempt, second.delay_seconds) == (3, 90)
    assert third is None
    assert final_words(_job(3), _failed("INTERNAL_ERROR"), route) == "gave up: attempt 3 of 3 failed (internal)"


def test_backoff_is_capped_at_the_longest_sqs_delay() -> None:
    # Given a steep backoff / Then no wait exceeds SQS's 900-second delay
    route = build_route(retry={"max_attempts": 10, "backoff_seconds": 600, "backoff_rate": 4})
    assert [route.retry.delay_before(n) for n in (2, 3, 4)] == [600, 900, 900]


def test_a_route_can_choose_which_causes_it_retries() -> None:
    # Given a route that retries internal errors only
    route = build_route(retry={"max_attempts": 3, "causes": ["internal"]})
    # When a capacity failure happens / Then it is final, and the alert will say why
    assert decide(_job(1), _failed("INSTANCE_FAILURE"), route, NOW) is None
    assert final_words(_job(1), _failed("INSTANCE_FAILURE"), route) == (
        "not retried: the route does not retry capacity failures"
    )


def test_a_user_code_failure_is_final_at_the_first_attempt() -> None:
    route = build_route(retry={"max_attempts": 3})
    update = _failed("STEP_FAILURE", "Shut down as step failed")
    assert decide(_job(1), update, route, NOW) is None
    assert final_words(_job(1), update, route) == ("not retried: STEP_FAILURE is not a cause a second attempt can fix")


def test_a_spot_loss_is_retried_on_demand_with_the_same_capacity() -> None:
    # Given an EMR on EC2 route whose core fleet is mostly Spot, and its first attempt lost its Spot capacity
    route = build_route(emr_ec2=SPOT_FLEETS, retry={"max_attempts": 2})
    job = _job(1, max_attempts=2)
    retry = decide(job, _failed("INSTANCE_FAILURE", "Core instances were lost"), route, NOW)
    assert retry is not None
    assert retry.cause == "spot"
    assert retry.launch_options == {"market": ON_DEMAND}
    assert "on-demand" in retry.describe(job)

    # When attempt 2's RunJobFlow request is built
    second = replace(job, attempt=2, launch_options=retry.launch_options)
    fleets = build_run_job_flow_request(second, route, settings())["Instances"]["InstanceFleets"]
    first_fleets = build_run_job_flow_request(job, route, settings())["Instances"]["InstanceFleets"]

    # Then every fleet asks for the same capacity, all on-demand, with no Spot specification
    assert [(f["TargetOnDemandCapacity"], f["TargetSpotCapacity"]) for f in first_fleets] == [(1, 0), (1, 3)]
    assert [(f["TargetOnDemandCapacity"], f["TargetSpotCapacity"]) for f in fleets] == [(1, 0), (4, 0)]
    assert all("SpotSpecification" not in f.get("LaunchSpecifications", {}) for f in fleets)


def test_instance_groups_fall_back_to_the_on_demand_market() -> None:
    # Given a route of instance groups with a Spot task group, retried after Spot loss
    groups = {
        "release_label": "emr-7.5.0",
        "instances": {
            "primary": {"instance_type": "m7g.xlarge"},
            "task": {"instance_type": "m7g.xlarge", "count": 4, "market": "SPOT"},
        },
    }
    route = build_route(emr_ec2=groups)
    job = replace(_job(2), launch_options={"market": ON_DEMAND})
    # Then every group is on-demand
    markets = [g["Market"] for g in build_run_job_flow_request(job, route, settings())["Instances"]["InstanceGroups"]]
    assert markets == ["ON_DEMAND", "ON_DEMAND"]


def test_the_retry_policy_is_validated_naming_route_and_field() -> None:
    with pytest.raises(RoutesError, match=r"route 'orders': retry.max_attempts"):
        build_route(retry={"max_attempts": 0})
    with pytest.raises(RoutesError, match=r"route 'orders': retry.causes.0"):
        build_route(retry={"causes": ["user-code"]})


def test_a_retry_notice_says_which_attempt_failed_and_what_happens_next() -> None:
    # Given a job whose attempt 1 failed and which waits for attempt 2 of 3
    job = replace(
        _job(2),
        state=JobState.SUBMITTING,
        attempts=[
            {
                "attempt": 1,
                "engine_id": "j-OLD",
                "state": "FAILED",
                "reason_code": "INSTANCE_FAILURE",
                "reason_message": "Spot capacity reclaimed",
                "cause": "spot",
                "log_locations": ["s3://logs/j-OLD/"],
                "console_link": "https://console/j-OLD",
                "retry": "attempt 1 of 3 failed (spot): retrying as attempt 2 of 3 in 60 s",
            }
        ],
    )
    # When its notice is built
    alert = Alert.for_retry(job)
    # Then it is a warning about attempt 1 of 3 with what was done and where to look
    assert alert.severity == "WARNING"
    assert alert.subject.startswith("[emr-dispatch] RETRYING: orders (INSTANCE_FAILURE) attempt 1/3")
    body = alert.body()
    assert "attempt 1 of 3 failed; it is being retried" in body
    assert "retrying as attempt 2 of 3 in 60 s" in body
    assert "s3://logs/j-OLD/" in body
    assert "j-OLD" in body


def test_a_final_failure_alert_lists_the_earlier_attempts() -> None:
    job = replace(
        _job(2, max_attempts=2),
        state=JobState.FAILED,
        attempts=[{"attempt": 1, "engine_id": "j-OLD", "state": "FAILED", "reason_code": "INTERNAL_ERROR"}],
    )
    alert = Alert.for_job(job, log_locations=[], console_link="")
    assert "(attempt 2 of 2)" in alert.body()
    assert "attempt 1: FAILED (INTERNAL_ERROR) on j-OLD" in alert.body()
    assert alert.as_dict()["max_attempts"] == 2
