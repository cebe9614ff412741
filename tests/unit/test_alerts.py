"""Failure alerts: a subject that fits SNS, a body that tells on-call what failed, why, where and what next."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emr_dispatch.alerts import SUBJECT_LIMIT, Alert, Alerter
from emr_dispatch.errors import AlertPublishError
from emr_dispatch.inputs import ObjectInput
from emr_dispatch.jobs import Job, JobState, job_id_for
from sample_events import CLASSIC_DECODED_KEY, EXAMPLE_BUCKET, EXAMPLE_CLUSTER_ID, EXAMPLE_STEP_ID

LOG_FILE = f"s3://work-bucket/emr-logs/{EXAMPLE_CLUSTER_ID}/steps/{EXAMPLE_STEP_ID}/stderr.gz"
CONSOLE = f"https://us-east-1.console.aws.amazon.com/emr/home?region=us-east-1#/clusterDetails/{EXAMPLE_CLUSTER_ID}"


def _failed_job(route: str = "orders-daily", reason_code: str = "STEP_FAILURE") -> Job:
    return Job(
        job_id=job_id_for(route, "identity"),
        route=route,
        engine="emr-ec2",
        state=JobState.FAILED,
        attempt=1,
        inputs=[ObjectInput(EXAMPLE_BUCKET, CLASSIC_DECODED_KEY, 0, "", "", "", "")],
        created_at="2026-11-23T08:15:43.000Z",
        updated_at="2026-11-23T08:33:52.000Z",
        engine_id=EXAMPLE_CLUSTER_ID,
        reason_code=reason_code,
        reason_message="Shut down as step failed",
        failure={
            "cluster_id": EXAMPLE_CLUSTER_ID,
            "step_id": EXAMPLE_STEP_ID,
            "reason": "org.apache.spark.SparkException: Malformed CSV record",
            "message": "Job aborted due to stage failure",
            "log_file": LOG_FILE,
        },
        actions=[f"terminated {EXAMPLE_CLUSTER_ID}"],
    )


def _alert(job: Job | None = None) -> Alert:
    job = job or _failed_job()
    return Alert.for_job(
        job, log_locations=[LOG_FILE, f"s3://work-bucket/emr-logs/{EXAMPLE_CLUSTER_ID}/"], console_link=CONSOLE
    )


def test_subject_names_state_route_and_reason_within_the_limit() -> None:
    # Given a failed job of the shipped route
    alert = _alert()

    # When / Then
    assert len(alert.subject) <= SUBJECT_LIMIT <= 100
    assert "FAILED" in alert.subject
    assert "orders-daily" in alert.subject
    assert "STEP_FAILURE" in alert.subject
    assert "\n" not in alert.subject


@pytest.mark.parametrize("route", ["r" * 40, "orders-" + "x" * 33])
def test_subject_is_cut_to_the_limit_for_long_names(route: str) -> None:
    # Given the longest route name routes allow (and so a 57-character job id)
    alert = _alert(_failed_job(route, reason_code="INSTANCE_FLEET_TIMEOUT"))

    # When / Then the subject still fits SNS and still starts with the state and the route
    assert len(alert.subject) <= SUBJECT_LIMIT
    assert alert.subject.startswith(f"[emr-dispatch] FAILED: {route}")


def test_subject_keeps_the_reason_for_long_route_names() -> None:
    # Given a route name of the maximum length routes allow
    alert = _alert(_failed_job("r" * 40, reason_code="INSTANCE_FLEET_TIMEOUT"))

    # When / Then the reason is still in the subject
    assert len(alert.subject) <= SUBJECT_LIMIT
    assert "INSTANCE_FLEET_TIMEOUT" in alert.subject


def test_body_tells_what_failed_why_where_and_what_next() -> None:
    # Given / When
    job = _failed_job()
    body = _alert(job).body()

    # Then
    for expected in [
        "orders-daily",  # route
        f"s3://{EXAMPLE_BUCKET}/{CLASSIC_DECODED_KEY}",  # inputs, decoded key
        EXAMPLE_CLUSTER_ID,  # cluster id
        EXAMPLE_STEP_ID,  # step id
        "STEP_FAILURE",  # reason code
        "Shut down as step failed",  # reason message
        "Malformed CSV record",  # step failure reason
        LOG_FILE,  # log locations
        f"s3://work-bucket/emr-logs/{EXAMPLE_CLUSTER_ID}/",
        CONSOLE,  # console link
        f"terminated {EXAMPLE_CLUSTER_ID}",  # what the controller already did
        f"emr-dispatch jobs show {job.job_id}",  # the next command
    ]:
        assert expected in body, expected


def test_body_ends_with_a_machine_readable_copy() -> None:
    # Given / When
    body = _alert().body()
    data = json.loads(body.split("--- machine-readable ---", 1)[1])

    # Then
    assert data["route"] == "orders-daily"
    assert data["engine_id"] == EXAMPLE_CLUSTER_ID
    assert data["failure"]["step_id"] == EXAMPLE_STEP_ID
    assert data["inputs"] == [f"s3://{EXAMPLE_BUCKET}/{CLASSIC_DECODED_KEY}"]


def test_body_of_a_job_that_never_started_says_so() -> None:
    # Given a job the engine refused (no cluster, no failure details, nothing done)
    job = _failed_job(reason_code="START_ValidationException")
    job.engine_id = None
    job.failure = None
    job.actions = []

    # When
    body = Alert.for_job(job, log_locations=[], console_link="https://console").body()

    # Then
    assert "(not started)" in body
    assert "START_ValidationException" in body
    assert "(none reported)" in body


class _RecordingSns:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self._fail = fail

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append(kwargs)
        if self._fail:
            raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "Publish")
        return {"MessageId": "m-1"}


def test_alerter_publishes_subject_body_and_filterable_attributes() -> None:
    # Given a fake SNS client
    sns = _RecordingSns()
    alert = _alert()

    # When
    message_id = Alerter("arn:aws:sns:us-east-1:123456789012:alerts", sns).publish(alert)  # type: ignore[arg-type]

    # Then
    assert message_id == "m-1"
    (call,) = sns.calls
    assert call["Subject"] == alert.subject
    assert call["Message"] == alert.body()
    assert call["MessageAttributes"]["route"] == {"DataType": "String", "StringValue": "orders-daily"}
    assert call["MessageAttributes"]["state"]["StringValue"] == "FAILED"


def test_alerter_wraps_sns_errors() -> None:
    # Given SNS refusing / When publishing / Then a typed error (the alert stays pending in the ledger)
    alerter = Alerter("arn:aws:sns:us-east-1:123456789012:alerts", _RecordingSns(fail=True))  # type: ignore[arg-type]
    with pytest.raises(AlertPublishError):
        alerter.publish(_alert())


def test_subject_is_ascii_and_under_100_characters_as_sns_requires() -> None:
    # Given a long route and a job whose reason is long
    alert = _alert(_failed_job("r" * 40, reason_code="INSTANCE_FLEET_TIMEOUT_" + "X" * 40))
    # When / Then SNS would accept the subject: ASCII, no line break, fewer than 100 characters
    assert alert.subject.isascii()
    assert "\n" not in alert.subject
    assert len(alert.subject) < 100
    assert alert.subject.endswith("...")
