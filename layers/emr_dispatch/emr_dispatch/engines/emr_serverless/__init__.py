"""EMR Serverless: one job run per job attempt on the route's application."""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from emr_dispatch import aws
from emr_dispatch.aws import error_code
from emr_dispatch.engines.base import (
    ActiveJobs,
    EngineEvent,
    Inspection,
    RunningResource,
    StartedJob,
    client_token,
    our_job_runs,
    resource_name,
    spark_driver,
    start_error,
    tags_for,
)
from emr_dispatch.engines.declaration import (
    ApiLimits,
    EngineDeclaration,
    FailureCauses,
    StackSetting,
    stack_setting,
)
from emr_dispatch.engines.emr_serverless.events import NAME, RETRY_EVENT, STATE_EVENT, interpret, parse_event
from emr_dispatch.engines.emr_serverless.hive import (
    HIVE_PREFIX,
    hive_driver,
    hive_step,
    route_check,
    steps_key_refusal,
    steps_problems,
)
from emr_dispatch.errors import EngineError
from emr_dispatch.jobs import ALERTING_STATES, Job, StateUpdate
from emr_dispatch.limits import TagRules
from emr_dispatch.observability import logger
from emr_dispatch.settings import Settings
from emr_dispatch.token_bucket import ListPacer

if TYPE_CHECKING:
    from mypy_boto3_emr_serverless import EMRServerlessClient

    from emr_dispatch.engines.emr_serverless.route_settings import EmrServerlessSettings
    from emr_dispatch.routes import Route

APPLICATION = StackSetting("EMR_SERVERLESS_APPLICATION_ID", shown_as="<EmrServerlessApplicationId>")
JOB_ROLE = StackSetting("EMR_SERVERLESS_JOB_ROLE_ARN", shown_as="<EmrServerlessJobRoleName as an ARN>")
HIVE_APPLICATION = StackSetting("EMR_SERVERLESS_HIVE_APPLICATION_ID", shown_as="<EmrServerlessHiveApplicationId>")
"""The application (type HIVE) of routes whose step is a Hive step and that name no application of their own."""
DRIVER_LOGS = {"spark": "SPARK_DRIVER", "hive": "HIVE_DRIVER"}
_LIVE_RUN_STATES: Any = ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED"]
"""The driver's log folder of a job run: {logUri}applications/{app}/jobs/{run}/<this>/ (EMR Serverless User Guide,
logging; aws-samples/emr-serverless-samples examples/hive for HIVE_DRIVER)."""

SERVICE = "emr-serverless"  # boto3's and IAM's name


def client() -> EMRServerlessClient:
    typed: EMRServerlessClient = aws.client(SERVICE)
    return typed


DECLARATION = EngineDeclaration(
    name=NAME,
    label="EMR Serverless",
    event_source="aws.emr-serverless",
    services=(SERVICE,),
    detail_types=(STATE_EVENT, RETRY_EVENT),
    route_settings="emr_dispatch.engines.emr_serverless.route_settings:EmrServerlessSettings",
    engine_class="emr_dispatch.engines.emr_serverless:EmrServerlessEngine",
    log_prefix="emr-serverless-logs/",
    limits=ApiLimits(
        name_max=256,  # emr-serverless StartJobRun name: String256, .*\S.*
        entry_point_max=4096,
        argument_max=None,
        # The model's TagMap allows 200; the EMR Serverless User Guide ("Tagging limitations") says 50
        # user-created tags per resource: the stricter one holds.
        tags=TagRules(
            max_tags=50,
            key_max=128,
            value_max=256,
            key_pattern=re.compile(r"[A-Za-z0-9 /_.:=+@-]+"),
            value_pattern=re.compile(r"[A-Za-z0-9 /_.:=+@-]*"),
            source="emr-serverless TagKey, TagValue; EMR Serverless User Guide, tagging limitations",
        ),
    ),
    # EMR Serverless reports no failure code: only its stateDetails can say it was the service's fault.
    failure_causes=FailureCauses(internal_if_message_says=("JOB_RUN_",)),
    stack_settings=(APPLICATION, JOB_ROLE, HIVE_APPLICATION),
    # EMR Serverless StartJobRun: 1 TPS, burst 25 (FACTS.md, issue 14).
    start_per_second=1.0,
    start_burst=25,
    # A job run runs one Spark application or one Hive query (StartJobRun jobDriver: sparkSubmit or hive).
    step_kinds=("spark", "hive"),
    max_steps=1,
    steps_check=steps_problems,
    key_check=steps_key_refusal,
    route_check=route_check,
    work_prefixes=(("Hive scratch and warehouse", HIVE_PREFIX),),
)
ENGINE_TIMEOUT_MARGIN_MINUTES = 15
"""EMR Serverless' own timeout is the route's plus this: three sweeps (every 5 minutes) to record TIMED_OUT, alert
and cancel before the engine cancels the run itself, which would look like a plain cancel (docs/decisions.md)."""
MAX_EXECUTION_TIMEOUT_MINUTES = 10080
"""StartJobRun's documented maximum for BATCH runs (botocore emr-serverless model, executionTimeoutMinutes)."""
_STARTABLE = frozenset({"CREATED", "STOPPED"})
_MAYBE_NOT_STARTED = frozenset({"ValidationException", "ConflictException"})
"""How StartJobRun refuses a stopped application whose auto-start is off."""


class EmrServerlessEngine:
    name = NAME
    # The sweeper's describes (one GetJobRun per job: burst 50, 10/s), a fifth left for the tracker and operators.
    describe_rate = (40.0, 8.0)
    # The orphan search's ListJobRuns pages, over the Spark and the Hive application: the quota is 1/s with a
    # burst of 1 (FACTS.md), half of it left for operators (issue 14: unpaced, it was the bench's throttled calls).
    list_rate = (1.0, 0.5)
    event_source = DECLARATION.event_source

    def __init__(self, settings: Settings, active_jobs: ActiveJobs, client: EMRServerlessClient | None = None) -> None:
        self._settings = settings
        self._active_jobs = active_jobs
        self._given_client = client
        self._list_pace = ListPacer(*self.list_rate)

    @property
    def _client(self) -> EMRServerlessClient:
        return self._given_client or client()

    def build_start_job_run_request(self, job: Job, route: Route) -> dict[str, Any]:
        """The StartJobRun request of one attempt: pure, so its token and arguments are tested without AWS."""
        settings: EmrServerlessSettings = route.engine_settings()  # type: ignore[assignment]  # validated
        step = hive_step(route)
        if step is None:
            job_driver = {"sparkSubmit": spark_driver(job, route, self._settings.work_bucket)}
        else:
            job_driver = {"hive": hive_driver(job, route, step, self._settings.work_bucket)}
        return {
            "applicationId": self.application_id(settings, hive=step is not None),
            "clientToken": client_token(job),
            "executionRoleArn": stack_setting(self._settings, JOB_ROLE),
            "name": resource_name(job, DECLARATION.limits.name_max),
            "jobDriver": job_driver,
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": self._log_uri()}}
            },
            "executionTimeoutMinutes": engine_timeout_minutes(route.timeout_minutes),
            "tags": tags_for(job, route),
        }

    def application_id(self, settings: EmrServerlessSettings, hive: bool = False) -> str:
        """The route's own application, else the stack's of the job's kind: a Hive job runs only on an
        application of type HIVE (EMR Serverless User Guide), so it never falls back to the Spark one."""
        stack = HIVE_APPLICATION if hive else APPLICATION
        application_id = settings.application_id or stack_setting(self._settings, stack)
        if not application_id:
            parameter = stack.shown_as.strip("<>")
            kind = "Hive " if hive else ""
            raise EngineError(
                f"no EMR Serverless {kind}application: set the route's application_id or the stack's {parameter}",
                "NO_APPLICATION",
            )
        return application_id

    def build_request(self, job: Job, route: Route) -> dict[str, Any]:
        return self.build_start_job_run_request(job, route)

    def start(self, job: Job, route: Route) -> StartedJob:
        request = self.build_request(job, route)
        application_id = request["applicationId"]
        section: EmrServerlessSettings | None = route.engine_settings()  # type: ignore[assignment]  # validated
        managed = bool(section and section.managed_application)
        try:
            try:
                # Submitted first: an application with auto-start (EMR Serverless' default) starts itself, so the
                # usual launch is one call. Refused, a managed application is started and the submission repeated
                # (same client token: never two runs).
                response = self._client.start_job_run(**request)
            except ClientError as exc:
                if not (managed and error_code(exc) in _MAYBE_NOT_STARTED and self._ensure_started(application_id)):
                    raise
                response = self._client.start_job_run(**request)
        except (ClientError, ParamValidationError) as exc:
            raise start_error(exc, "StartJobRun", job) from exc
        job_run_id = response["jobRunId"]
        return StartedJob(
            engine_id=f"{application_id}/{job_run_id}",
            details={
                "application_id": application_id,
                "job_run_id": job_run_id,
                "client_token": request["clientToken"],
                "log_uri": self._log_uri(),
                "managed_application": managed,
                "driver_logs": DRIVER_LOGS["hive" if "hive" in request["jobDriver"] else "spark"],
            },
        )

    def find_started(self, job: Job, until: float | None = None) -> StartedJob | None:
        return None  # StartJobRun with the same clientToken returns the original run: nothing is listed

    def _ensure_started(self, application_id: str) -> bool:
        """Start the application if it is stopped; whether it was (a refused submission is then worth repeating)."""
        state = self._client.get_application(applicationId=application_id)["application"]["state"]
        if state not in _STARTABLE:
            return False
        self._client.start_application(applicationId=application_id)
        return True

    def parse_event(self, event: dict[str, Any]) -> EngineEvent | None:
        return parse_event(event)

    def describe(self, job: Job) -> EngineEvent | None:
        details = job.engine_details
        if "job_run_id" not in details:
            return None
        run = self._get_job_run(job)
        return EngineEvent(
            engine=NAME,
            engine_id=str(job.engine_id),
            kind="job-run",
            state=str(run.get("state", "")),
            reason_message=str(run["stateDetails"]) if run.get("stateDetails") else None,
        )

    def _get_job_run(self, job: Job) -> dict[str, Any]:
        details = job.engine_details
        try:
            run = self._client.get_job_run(applicationId=details["application_id"], jobRunId=details["job_run_id"])
        except ClientError as exc:
            raise EngineError(f"GetJobRun {job.engine_id} failed: {exc}", error_code(exc)) from exc
        return dict(run["jobRun"])

    def interpret(self, event: EngineEvent, job: Job) -> StateUpdate | None:
        return interpret(event)

    def inspect(self, job: Job, event: EngineEvent, update: StateUpdate) -> Inspection | None:
        """Every terminal state: GetJobRun carries stateDetails, duration and billed resources."""
        if not update.state.is_terminal:
            return None
        run = self._get_job_run(job)
        metrics: dict[str, Any] = {}
        if run.get("totalExecutionDurationSeconds") is not None:
            metrics["duration_seconds"] = int(run["totalExecutionDurationSeconds"])
        billed = run.get("billedResourceUtilization")
        if billed:
            metrics["billed"] = {key: str(value) for key, value in billed.items()}
        failure: dict[str, Any] = {}
        if update.state in ALERTING_STATES and run.get("stateDetails"):
            failure["message"] = run["stateDetails"]
        return Inspection(details=failure, log_locations=self.log_locations(job), metrics=metrics)

    def stop(self, job: Job) -> None:
        details = job.engine_details
        try:
            self._client.cancel_job_run(applicationId=details["application_id"], jobRunId=details["job_run_id"])
        except ClientError as exc:
            raise EngineError(f"CancelJobRun {job.engine_id} failed: {exc}", error_code(exc)) from exc

    def on_terminal(self, job: Job) -> list[str]:
        """A managed application is stopped once no emr-dispatch job is active on it."""
        details = job.engine_details
        if not details.get("managed_application"):
            return []
        application_id = details["application_id"]
        if self._active_jobs.has_active_jobs(NAME, "application_id", application_id):
            return []
        try:
            self._client.stop_application(applicationId=application_id)
        except ClientError as exc:
            raise EngineError(f"StopApplication {application_id} failed: {exc}", error_code(exc)) from exc
        return [f"stopped application {application_id}: no emr-dispatch job active on it"]

    def list_running(
        self, until: float | None = None, marks: MutableMapping[str, str] | None = None
    ) -> list[RunningResource]:
        """Job runs of the stack's applications, Spark and Hive (applications a route names are not searched)."""
        found: list[RunningResource] = []
        applications = [stack_setting(self._settings, setting) for setting in (APPLICATION, HIVE_APPLICATION)]
        searched = list(dict.fromkeys(app for app in applications if app))  # one search per application
        failed: list[EngineError] = []
        for application_id in searched:

            def page(token: str | None, application_id: str = application_id) -> Mapping[str, Any]:
                more: dict[str, Any] = {"nextToken": token} if token else {}
                return self._client.list_job_runs(applicationId=application_id, states=_LIVE_RUN_STATES, **more)

            pages = self._list_pace.pages(page, "nextToken", until, marks, f"{NAME}/{application_id}")
            try:
                found += our_job_runs(NAME, application_id, pages)
            except EngineError as exc:
                # One application's refusal (deleted, mistyped) does not void the other's search.
                logger.error("orphan search of an application failed", application_id=application_id, error=str(exc))
                failed.append(exc)
        if failed and len(failed) == len(searched):
            raise failed[0]
        return found

    def stop_resource(self, resource: RunningResource) -> None:
        application_id, _, job_run_id = resource.engine_id.partition("/")
        try:
            self._client.cancel_job_run(applicationId=application_id, jobRunId=job_run_id)
        except ClientError as exc:
            raise EngineError(f"CancelJobRun {resource.engine_id} failed: {exc}", error_code(exc)) from exc

    def console_link(self, job: Job) -> str:
        region = self._settings.region
        application_id = job.engine_details.get("application_id", "")
        return f"https://{region}.console.aws.amazon.com/emr/home?region={region}#/serverless/applications/{application_id}"

    def log_locations(self, job: Job) -> list[str]:
        details = job.engine_details
        if "job_run_id" not in details:
            return []
        driver = details.get("driver_logs", DRIVER_LOGS["spark"])  # jobs started before Hive: Spark
        base = f"{details['log_uri']}applications/{details['application_id']}/jobs/{details['job_run_id']}/{driver}/"
        return [f"{base}stderr.gz", f"{base}stdout.gz"]

    def _log_uri(self) -> str:
        return DECLARATION.log_uri(self._settings.work_bucket)


def engine_timeout_minutes(route_timeout_minutes: int) -> int:
    """executionTimeoutMinutes of a route's runs: beyond the route's timeout by a margin, within the API's maximum
    (at the maximum the two coincide; a run EMR Serverless cancels past the deadline is still TIMED_OUT)."""
    return min(route_timeout_minutes + ENGINE_TIMEOUT_MARGIN_MINUTES, MAX_EXECUTION_TIMEOUT_MINUTES)
