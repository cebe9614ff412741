"""EMR Serverless and EMR on EKS: the requests they send, the events they read, the states they map."""

from __future__ import annotations

from typing import Any

import pytest

from builders import job, route, settings
from emr_dispatch.engines.base import client_token
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch.errors import EngineError, MalformedEventError
from emr_dispatch.jobs import JobState
from emr_dispatch_tools.moto_stack import matching_rules, rule_patterns
from sample_events import load_event


class _NoActiveJobs:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def _serverless(**overrides: Any) -> EmrServerlessEngine:
    return EmrServerlessEngine(settings(**overrides), _NoActiveJobs())


def _event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "detail-type": detail_type, "time": "2026-11-23T09:00:00Z", "detail": detail}


# ------------------------------------------------------------------ client tokens
def test_client_token_is_the_same_for_a_retried_call_and_new_for_a_new_attempt() -> None:
    # Given one job at attempt 1, the same job again, and its second attempt
    first, retried, rerun = job(), job(), job(attempt=2)
    # Then a retry of the same attempt sends the same token, a new attempt a different one
    assert client_token(first) == client_token(retried) == "orders-0123456789abcdef-a1"
    assert client_token(rerun) == "orders-0123456789abcdef-a2"


def test_client_token_fits_the_api_limits_for_the_longest_route_name() -> None:
    # Given the longest route name the schema allows
    long_job = job(route_name="r" * 40, attempt=99)
    token = client_token(long_job)
    # Then the token stays within 64 characters of [A-Za-z0-9._-]
    assert len(token) <= 64
    assert all(ch.isalnum() or ch in "._-" for ch in token)


# ------------------------------------------------------------------ EMR Serverless
def test_serverless_engine_timeout_stays_within_the_apis_maximum() -> None:
    # Given a route with the longest timeout a route may have (7 days)
    request = _serverless().build_start_job_run_request(
        job(engine="emr-serverless"), route("emr-serverless", timeout_minutes=10080)
    )
    # Then executionTimeoutMinutes is at most 10080, the maximum StartJobRun documents for BATCH runs
    # (botocore emr-serverless model: "For BATCH mode job runs, the maximum value is 10080 minutes")
    assert request["executionTimeoutMinutes"] == 10080


def test_serverless_request_carries_token_timeout_logs_tags_and_driver() -> None:
    # Given a serverless route and a job whose key needs no further decoding
    engine = _serverless()
    request = engine.build_start_job_run_request(job(engine="emr-serverless"), route("emr-serverless"))
    # Then the request is what StartJobRun needs, derived from the job and route
    assert request["applicationId"] == "00fabc123serverless"
    assert request["clientToken"] == "orders-0123456789abcdef-a1"
    assert request["executionRoleArn"].endswith(":role/serverless-job")
    # And EMR Serverless' own timeout lies beyond the route's 45 min by more than two sweeps (every 5 minutes): the
    # sweeper records TIMED_OUT first, so a timeout never ends as the engine's plain cancel
    assert 45 + 2 * 5 < request["executionTimeoutMinutes"] <= 10080
    assert request["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"] == (
        "s3://work-bucket/emr-serverless-logs/"
    )
    assert request["tags"]["managed-by"] == "emr-dispatch"
    assert request["tags"]["job-id"] == "orders-0123456789abcdef"
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://work-bucket/jobs/clean_csv.py"
    assert driver["entryPointArguments"] == ["--input=s3://landing/raw/a b+c.csv", "--job-id=orders-0123456789abcdef"]
    assert driver["sparkSubmitParameters"] == "--conf spark.executor.cores=2"


def test_serverless_route_may_name_its_own_application() -> None:
    # Given a route that names an application
    request = _serverless().build_start_job_run_request(
        job(engine="emr-serverless"), route("emr-serverless", emr_serverless={"application_id": "00froute"})
    )
    # Then that application is used instead of the stack's
    assert request["applicationId"] == "00froute"


def test_serverless_without_any_application_is_a_clear_engine_error() -> None:
    # Given neither the route nor the stack names an application
    engine = _serverless(emr_serverless_application_id="")
    # When a request is built, then the error says what is missing
    with pytest.raises(EngineError, match="no EMR Serverless application") as caught:
        engine.build_start_job_run_request(job(engine="emr-serverless"), route("emr-serverless"))
    assert caught.value.code == "NO_APPLICATION"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("SUBMITTED", None),
        ("PENDING", None),
        ("SCHEDULED", None),
        ("QUEUED", None),
        ("RUNNING", JobState.RUNNING),
        ("SUCCESS", JobState.SUCCEEDED),
        ("FAILED", JobState.FAILED),
        ("CANCELLING", None),
        ("CANCELLED", JobState.CANCELLED),
    ],
)
def test_serverless_states_map_to_job_states(state: str, expected: JobState | None) -> None:
    # Given a serverless state-change event
    engine = _serverless()
    event = engine.parse_event(
        _event(
            "aws.emr-serverless",
            "EMR Serverless Job Run State Change",
            {"applicationId": "00fapp", "jobRunId": "00frun", "state": state, "previousState": "RUNNING"},
        )
    )
    assert event is not None
    # When it is interpreted
    update = engine.interpret(event, job(engine="emr-serverless"))
    # Then it implies the expected job state (or nothing)
    assert (update.state if update else None) == expected
    assert event.engine_id == "00fapp/00frun"


def test_serverless_retry_event_is_recognised() -> None:
    # Given the engine's own retry event
    engine = _serverless()
    event = engine.parse_event(
        _event("aws.emr-serverless", "EMR Serverless Job Run Retry", {"applicationId": "00fapp", "jobRunId": "00frun"})
    )
    # Then it is parsed as a retry that keeps the job running
    assert event is not None
    assert event.kind == "retry"
    update = engine.interpret(event, job(engine="emr-serverless"))
    assert update is not None
    assert update.state is JobState.RUNNING


@pytest.mark.parametrize(
    "detail",
    [
        {},
        {"applicationId": "00fapp"},
        {"jobRunId": "00frun", "state": "RUNNING"},
        {"applicationId": 3, "jobRunId": "x"},
    ],
)
def test_serverless_event_missing_ids_is_malformed(detail: dict[str, Any]) -> None:
    # Given a serverless event without its ids
    event = _event("aws.emr-serverless", "EMR Serverless Job Run State Change", detail)
    # Then parsing refuses it with a clear error
    with pytest.raises(MalformedEventError):
        _serverless().parse_event(event)


def test_serverless_ignores_application_state_changes() -> None:
    # Given an application (not job run) event
    event = _event("aws.emr-serverless", "EMR Serverless Application State Change", {"applicationId": "00fapp"})
    # Then the engine does not track it
    assert _serverless().parse_event(event) is None


def test_serverless_driver_logs_are_linked() -> None:
    # Given a started serverless job
    started = job(engine="emr-serverless")
    started.engine_details = {"application_id": "00fapp", "job_run_id": "00frun", "log_uri": "s3://w/logs/"}
    # Then its driver's stderr and stdout are the log locations
    assert _serverless().log_locations(started) == [
        "s3://w/logs/applications/00fapp/jobs/00frun/SPARK_DRIVER/stderr.gz",
        "s3://w/logs/applications/00fapp/jobs/00frun/SPARK_DRIVER/stdout.gz",
    ]


# ------------------------------------------------------------------ EMR on EKS
def test_eks_request_carries_token_release_role_logs_and_driver() -> None:
    # Given an EKS route
    request = EmrEksEngine(settings()).build_start_job_run_request(job(engine="emr-eks"), route("emr-eks"))
    # Then the request is what StartJobRun needs
    assert request["virtualClusterId"] == "vc123eks"
    assert request["clientToken"] == "orders-0123456789abcdef-a1"
    assert request["releaseLabel"] == "emr-7.5.0-latest"
    assert request["executionRoleArn"].endswith(":role/eks-job")
    monitoring = request["configurationOverrides"]["monitoringConfiguration"]
    assert monitoring["s3MonitoringConfiguration"]["logUri"] == "s3://work-bucket/emr-eks-logs/"
    driver = request["jobDriver"]["sparkSubmitJobDriver"]
    assert driver["entryPointArguments"][0] == "--input=s3://landing/raw/a b+c.csv"
    assert request["tags"]["managed-by"] == "emr-dispatch"


@pytest.mark.parametrize("id_field", ["id", "jobRunId", "jobId"])
def test_eks_event_accepts_each_plausible_id_field(id_field: str) -> None:
    # Given an EKS event naming its job run with one of the plausible field names
    detail = {id_field: "run1", "virtualClusterId": "vc1", "state": "FAILED", "failureReason": "USER_ERROR"}
    event = EmrEksEngine(settings()).parse_event(_event("aws.emr-containers", "EMR Job Run State Change", detail))
    # Then it is parsed, and its failure reason becomes the job's reason code
    assert event is not None
    assert event.engine_id == "vc1/run1"
    update = EmrEksEngine(settings()).interpret(event, job(engine="emr-eks"))
    assert update is not None
    assert (update.state, update.reason_code) == (JobState.FAILED, "USER_ERROR")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("PENDING", None),
        ("SUBMITTED", None),
        ("RUNNING", JobState.RUNNING),
        ("COMPLETED", JobState.SUCCEEDED),
        ("FAILED", JobState.FAILED),
        ("CANCEL_PENDING", None),
        ("CANCELLED", JobState.CANCELLED),
    ],
)
def test_eks_states_map_to_job_states(state: str, expected: JobState | None) -> None:
    engine = EmrEksEngine(settings())
    event = engine.parse_event(
        _event("aws.emr-containers", "EMR Job Run State Change", {"id": "r", "virtualClusterId": "v", "state": state})
    )
    assert event is not None
    update = engine.interpret(event, job(engine="emr-eks"))
    assert (update.state if update else None) == expected


def test_eks_event_without_state_is_malformed() -> None:
    event = _event("aws.emr-containers", "EMR Job Run State Change", {"id": "r", "virtualClusterId": "v"})
    with pytest.raises(MalformedEventError):
        EmrEksEngine(settings()).parse_event(event)


# ------------------------------------------------------------------ events/ samples
JOB_RUN_EVENT_FILES = {
    "emr-serverless-job-run-running.json": ("emr-serverless", JobState.RUNNING),
    "emr-serverless-job-run-success.json": ("emr-serverless", JobState.SUCCEEDED),
    "emr-serverless-job-run-failed.json": ("emr-serverless", JobState.FAILED),
    "emr-serverless-job-run-retry.json": ("emr-serverless", JobState.RUNNING),
    # The refunds-hive route's Hive job run failing on the HIVE application: the same event as a Spark run's
    "emr-serverless-hive-job-run-failed.json": ("emr-serverless", JobState.FAILED),
    "emr-eks-job-run-running.json": ("emr-eks", JobState.RUNNING),
    "emr-eks-job-run-completed.json": ("emr-eks", JobState.SUCCEEDED),
    "emr-eks-job-run-failed.json": ("emr-eks", JobState.FAILED),
}


@pytest.mark.parametrize(("name", "expected"), sorted(JOB_RUN_EVENT_FILES.items()))
def test_job_run_sample_events_reach_the_tracker_and_mean_what_they_say(
    name: str, expected: tuple[str, JobState]
) -> None:
    # Given a sample event of events/ and the template's EventBridge patterns
    event = load_event(name)
    engine_name, state = expected
    matched = matching_rules(event, rule_patterns())
    # Then exactly one tracker rule takes it, and its engine maps it to the expected job state
    assert len(matched) == 1, matched
    engine = _serverless() if engine_name == "emr-serverless" else EmrEksEngine(settings())
    parsed = engine.parse_event(event)
    assert parsed is not None
    update = engine.interpret(parsed, job(engine=engine_name))
    assert update is not None
    assert update.state is state


class _ServerlessClient:
    """Answers like EMR Serverless for an application in ``state`` whose auto-start is ``auto_start``."""

    def __init__(self, state: str, auto_start: bool) -> None:
        self.state, self.auto_start, self.calls = state, auto_start, []  # type: ignore[var-annotated]

    def start_job_run(self, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append("StartJobRun")
        if self.state != "STARTED" and not self.auto_start:
            error = {"Error": {"Code": "ValidationException", "Message": "Application is not started"}}
            raise ClientError(error, "StartJobRun")  # type: ignore[arg-type]
        return {"jobRunId": "run1", "applicationId": request["applicationId"]}

    def get_application(self, applicationId: str) -> dict[str, Any]:
        self.calls.append("GetApplication")
        return {"application": {"state": self.state}}

    def start_application(self, applicationId: str) -> None:
        self.calls.append("StartApplication")
        self.state = "STARTED"


@pytest.mark.parametrize(
    ("state", "auto_start", "calls"),
    [
        ("STOPPED", True, ["StartJobRun"]),  # the default: submitting starts the application
        ("STARTED", False, ["StartJobRun"]),
        ("STOPPED", False, ["StartJobRun", "GetApplication", "StartApplication", "StartJobRun"]),
    ],
)
def test_a_managed_application_is_started_only_when_a_submission_needs_it(
    state: str, auto_start: bool, calls: list[str]
) -> None:
    # Given a route on a managed EMR Serverless application in this state
    client = _ServerlessClient(state, auto_start)
    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client)  # type: ignore[arg-type]
    managed = route("emr-serverless", emr_serverless={"managed_application": True})
    # When a job starts / Then it is one call unless the application must be started first
    started = engine.start(job(engine="emr-serverless"), managed)
    assert started.engine_id.endswith("/run1")
    assert client.calls == calls


def test_a_refused_submission_of_an_unmanaged_application_is_final() -> None:
    # Given an application emr-dispatch does not manage, stopped without auto-start
    client = _ServerlessClient("STOPPED", auto_start=False)
    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client)  # type: ignore[arg-type]
    # When a job starts / Then the refusal is the engine's error, and the application is left alone
    with pytest.raises(EngineError, match="StartJobRun refused"):
        engine.start(job(engine="emr-serverless"), route("emr-serverless"))
    assert client.calls == ["StartJobRun"]
