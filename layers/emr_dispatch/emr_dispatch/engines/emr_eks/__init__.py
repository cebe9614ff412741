"""EMR on EKS: one job run per job attempt on the route's virtual cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from emr_dispatch import aws
from emr_dispatch.aws import error_code
from emr_dispatch.engines.base import (
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
    text_field,
)
from emr_dispatch.engines.declaration import ApiLimits, EngineDeclaration, FailureCauses, StackSetting, stack_setting
from emr_dispatch.errors import EngineError, MalformedEventError
from emr_dispatch.jobs import ALERTING_STATES, Job, JobState, StateUpdate
from emr_dispatch.limits import TagRules
from emr_dispatch.settings import Settings
from emr_dispatch.token_bucket import ListPacer

if TYPE_CHECKING:
    from mypy_boto3_emr_containers import EMRContainersClient

    from emr_dispatch.engines.base import ActiveJobs
    from emr_dispatch.engines.emr_eks.route_settings import EmrEksSettings
    from emr_dispatch.routes import Route

NAME = "emr-eks"
STATE_EVENT = "EMR Job Run State Change"
VIRTUAL_CLUSTER = StackSetting("EMR_EKS_VIRTUAL_CLUSTER_ID", shown_as="<EmrEksVirtualClusterId>")
JOB_ROLE = StackSetting("EMR_EKS_JOB_ROLE_ARN", shown_as="<EmrEksJobRoleName as an ARN>")

SERVICE = "emr-containers"  # boto3's and IAM's name


def client() -> EMRContainersClient:
    typed: EMRContainersClient = aws.client(SERVICE)
    return typed


DECLARATION = EngineDeclaration(
    name=NAME,
    label="EMR on EKS",
    event_source="aws.emr-containers",
    services=(SERVICE,),
    detail_types=(STATE_EVENT,),
    route_settings="emr_dispatch.engines.emr_eks.route_settings:EmrEksSettings",
    engine_class="emr_dispatch.engines.emr_eks:build",
    log_prefix="emr-eks-logs/",
    limits=ApiLimits(
        name_max=64,  # emr-containers StartJobRun name: ResourceNameString, [\.\-_/#A-Za-z0-9]+
        entry_point_max=256,  # emr-containers EntryPointPath: 1-256 (EMR Serverless allows 4096)
        argument_max=10280,
        tags=TagRules(
            max_tags=50,
            key_max=128,
            value_max=256,
            key_pattern=re.compile(r".*\S.*", re.DOTALL),
            value_pattern=re.compile(r".*\S.*", re.DOTALL),
            source="emr-containers TagMap, String128, StringEmpty256 (.*\\S.*: never empty)",
        ),
    ),
    failure_causes=FailureCauses(
        capacity=frozenset({"CLUSTER_UNAVAILABLE"}),
        internal=frozenset({"INTERNAL_ERROR"}),
        internal_if_message_says=("JOB_RUN_",),  # no failureReason in the event: its stateDetails may say
    ),
    stack_settings=(VIRTUAL_CLUSTER, JOB_ROLE),
    # EMR on EKS publishes no StartJobRun rate that we found: not paced unless set (throttles still wait).
)


def build(settings: Settings, active_jobs: ActiveJobs) -> EmrEksEngine:
    return EmrEksEngine(settings)


_STATES = {
    "RUNNING": JobState.RUNNING,
    "COMPLETED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
}


class EmrEksEngine:
    name = NAME
    event_source = DECLARATION.event_source
    # The orphan search's ListJobRuns pages: paced as EMR Serverless' ListJobRuns (1/s, burst 1; FACTS.md), half
    # of it, since emr-containers' own rate is not in the quotas page this project cites.
    list_rate = (1.0, 0.5)

    def __init__(self, settings: Settings, client: EMRContainersClient | None = None) -> None:
        self._settings = settings
        self._given_client = client
        self._list_pace = ListPacer(*self.list_rate)

    @property
    def _client(self) -> EMRContainersClient:
        return self._given_client or client()

    def build_start_job_run_request(self, job: Job, route: Route) -> dict[str, Any]:
        settings: EmrEksSettings = route.engine_settings()  # type: ignore[assignment]  # validated by Route
        virtual_cluster_id = settings.virtual_cluster_id or stack_setting(self._settings, VIRTUAL_CLUSTER)
        if not virtual_cluster_id:
            raise EngineError("no EMR on EKS virtual cluster: set the route's or the stack's", "NO_VIRTUAL_CLUSTER")
        driver = spark_driver(job, route, self._settings.work_bucket)
        return {
            "name": resource_name(job, DECLARATION.limits.name_max),
            "virtualClusterId": virtual_cluster_id,
            "clientToken": client_token(job),
            "executionRoleArn": stack_setting(self._settings, JOB_ROLE),
            "releaseLabel": settings.release_label,
            "jobDriver": {"sparkSubmitJobDriver": driver},
            "configurationOverrides": {
                "monitoringConfiguration": {
                    "persistentAppUI": "ENABLED",
                    "s3MonitoringConfiguration": {"logUri": self._log_uri()},
                }
            },
            "tags": tags_for(job, route),
        }

    def build_request(self, job: Job, route: Route) -> dict[str, Any]:
        return self.build_start_job_run_request(job, route)

    def start(self, job: Job, route: Route) -> StartedJob:
        request = self.build_request(job, route)
        try:
            response = self._client.start_job_run(**request)
        except (ClientError, ParamValidationError) as exc:
            raise start_error(exc, "StartJobRun", job) from exc
        virtual_cluster_id = request["virtualClusterId"]
        return StartedJob(
            engine_id=f"{virtual_cluster_id}/{response['id']}",
            details={
                "virtual_cluster_id": virtual_cluster_id,
                "job_run_id": response["id"],
                "client_token": request["clientToken"],
                "log_uri": self._log_uri(),
            },
        )

    def find_started(self, job: Job, until: float | None = None) -> StartedJob | None:
        return None  # StartJobRun with the same clientToken returns the original run: nothing is listed

    def parse_event(self, event: dict[str, Any]) -> EngineEvent | None:
        """Defensive: AWS has not published a sample of this event, so several field names are accepted."""
        if event.get("detail-type") != STATE_EVENT:
            return None
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise MalformedEventError(f"{STATE_EVENT}: detail is missing or not an object")
        virtual_cluster_id = text_field(detail, "virtualClusterId", "virtualClusterID")
        job_run_id = text_field(detail, "id", "jobRunId", "jobId")
        state = text_field(detail, "state")
        if not virtual_cluster_id or not job_run_id or not state:
            raise MalformedEventError(f"{STATE_EVENT}: virtualClusterId, id or state is missing")
        return EngineEvent(
            engine=NAME,
            engine_id=f"{virtual_cluster_id}/{job_run_id}",
            kind="job-run",
            state=state,
            name=text_field(detail, "name", "jobRunName") or "",
            reason_code=text_field(detail, "failureReason"),
            reason_message=text_field(detail, "stateDetails", "message"),
            time=str(event.get("time", "")),
        )

    def describe(self, job: Job) -> EngineEvent | None:
        if "job_run_id" not in job.engine_details:
            return None
        run = self._describe_job_run(job)
        return EngineEvent(
            engine=NAME,
            engine_id=str(job.engine_id),
            kind="job-run",
            state=str(run.get("state", "")),
            reason_code=str(run["failureReason"]) if run.get("failureReason") else None,
            reason_message=str(run["stateDetails"]) if run.get("stateDetails") else None,
        )

    def _describe_job_run(self, job: Job) -> dict[str, Any]:
        details = job.engine_details
        try:
            run = self._client.describe_job_run(
                id=details["job_run_id"], virtualClusterId=details["virtual_cluster_id"]
            )
        except ClientError as exc:
            raise EngineError(f"DescribeJobRun {job.engine_id} failed: {exc}", error_code(exc)) from exc
        return dict(run["jobRun"])

    def interpret(self, event: EngineEvent, job: Job) -> StateUpdate | None:
        target = _STATES.get(event.state)
        if target is None:
            return None  # PENDING, SUBMITTED, CANCEL_PENDING
        code = (event.reason_code or f"JOB_RUN_{event.state}") if target.is_terminal else None
        return StateUpdate(target, f"job-run {event.state}", code, event.reason_message)

    def inspect(self, job: Job, event: EngineEvent, update: StateUpdate) -> Inspection | None:
        if update.state not in ALERTING_STATES:
            return None
        run = self._describe_job_run(job)
        failure: dict[str, Any] = {}
        if run.get("failureReason"):
            failure["reason"] = run["failureReason"]
        if run.get("stateDetails"):
            failure["message"] = run["stateDetails"]
        return Inspection(details=failure, log_locations=self.log_locations(job))

    def stop(self, job: Job) -> None:
        details = job.engine_details
        try:
            self._client.cancel_job_run(id=details["job_run_id"], virtualClusterId=details["virtual_cluster_id"])
        except ClientError as exc:
            raise EngineError(f"CancelJobRun {job.engine_id} failed: {exc}", error_code(exc)) from exc

    def on_terminal(self, job: Job) -> list[str]:
        return []

    def list_running(
        self, until: float | None = None, marks: MutableMapping[str, str] | None = None
    ) -> list[RunningResource]:
        """Job runs of the stack's virtual cluster (virtual clusters a route names are not searched)."""
        virtual_cluster_id = stack_setting(self._settings, VIRTUAL_CLUSTER)
        if not virtual_cluster_id:
            return []
        states: Any = ["PENDING", "SUBMITTED", "RUNNING"]

        def page(token: str | None) -> Mapping[str, Any]:
            more: dict[str, Any] = {"nextToken": token} if token else {}
            return self._client.list_job_runs(virtualClusterId=virtual_cluster_id, states=states, **more)

        pages = self._list_pace.pages(page, "nextToken", until, marks, f"{NAME}/{virtual_cluster_id}")
        return our_job_runs(NAME, virtual_cluster_id, pages)

    def stop_resource(self, resource: RunningResource) -> None:
        virtual_cluster_id, _, job_run_id = resource.engine_id.partition("/")
        try:
            self._client.cancel_job_run(id=job_run_id, virtualClusterId=virtual_cluster_id)
        except ClientError as exc:
            raise EngineError(f"CancelJobRun {resource.engine_id} failed: {exc}", error_code(exc)) from exc

    def console_link(self, job: Job) -> str:
        region = self._settings.region
        virtual_cluster_id = job.engine_details.get("virtual_cluster_id", "")
        return f"https://{region}.console.aws.amazon.com/emr/home?region={region}#/eks/clusters/{virtual_cluster_id}"

    def log_locations(self, job: Job) -> list[str]:
        details = job.engine_details
        if "job_run_id" not in details:
            return []
        return [f"{details['log_uri']}{details['virtual_cluster_id']}/jobs/{details['job_run_id']}/containers/"]

    def _log_uri(self) -> str:
        return DECLARATION.log_uri(self._settings.work_bucket)
