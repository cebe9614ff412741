"""EMR on EC2: one ephemeral cluster per job attempt, running the route's Spark step, then gone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ConnectionClosedError, ParamValidationError, ReadTimeoutError

from emr_dispatch import NAME_PREFIX, aws
from emr_dispatch.aws import THROTTLING_CODES, error_code
from emr_dispatch.engines.base import (
    EngineEvent,
    Inspection,
    RunningResource,
    StartedJob,
    parse_reason,
    placeholder_values,
    resource_name,
    spark_submit_parts,
    start_error,
    tags_for,
)
from emr_dispatch.errors import EngineError, EngineStartUnknownError, MalformedEventError
from emr_dispatch.jobs import ALERTING_STATES, Job, JobState, StateUpdate
from emr_dispatch.observability import logger
from emr_dispatch.placeholders import render
from emr_dispatch.retries import ON_DEMAND
from emr_dispatch.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient

    from emr_dispatch.routes import Ec2Fleets, EmrConfiguration, EmrEc2Settings, Route

NAME = "emr-ec2"
CLUSTER_EVENT = "EMR Cluster State Change"
STEP_EVENT = "EMR Step Status Change"
ALIVE_STATES = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"})
_RUNNING_CLUSTER_STATES = frozenset({"RUNNING", "WAITING"})
_FAILED_STEP_STATES = {"FAILED": JobState.FAILED, "INTERRUPTED": JobState.FAILED}
# A CANCELLED step decides nothing: EMR cancels the pending step of a cluster that fails to start (bootstrap,
# capacity), and the cluster's own end, which always follows, carries the real reason: TERMINATED_WITH_ERRORS
# → FAILED, TERMINATED by USER_REQUEST → CANCELLED.


def cluster_name(job: Job) -> str:
    return resource_name(job)


def spark_step_args(job: Job, route: Route, work_bucket: str) -> list[str]:
    """command-runner.jar arguments: spark-submit, its parameters, the entry point, then the application's."""
    parameters, entry_point, arguments = spark_submit_parts(job, route, work_bucket)
    return ["spark-submit", "--deploy-mode", "cluster", *parameters, entry_point, *arguments]


def build_run_job_flow_request(job: Job, route: Route, settings: Settings) -> dict[str, Any]:
    """The RunJobFlow request for one attempt of a job: pure, so it is tested without AWS."""
    ec2: EmrEc2Settings = route.emr_ec2  # type: ignore[assignment]  # validated by Route
    # An attempt retried after Spot capacity was lost asks for the same capacity, all on-demand.
    on_demand_only = job.launch_options.get("market") == ON_DEMAND
    instances: dict[str, Any] = {"KeepJobFlowAliveWhenNoSteps": False, "TerminationProtected": False}
    if ec2.fleets is not None:
        instances["InstanceFleets"] = _instance_fleets(ec2.fleets, on_demand_only)
        if settings.emr_subnet_id:
            instances["Ec2SubnetIds"] = [settings.emr_subnet_id]
    else:
        groups = ec2.instances
        if groups is None:  # unreachable for a validated route: it has instances or fleets
            raise EngineError(f"route {route.name} has neither instances nor fleets", "ROUTE_INVALID")
        instances["InstanceGroups"] = [
            _instance_group(role, group, on_demand_only)
            for role, group in (("MASTER", groups.primary), ("CORE", groups.core), ("TASK", groups.task))
            if group is not None
        ]
        if settings.emr_subnet_id:
            instances["Ec2SubnetId"] = settings.emr_subnet_id
    tags = tags_for(job, route)
    static_values = placeholder_values(job, route, settings.work_bucket)
    request: dict[str, Any] = {
        "Name": cluster_name(job),
        "LogUri": settings.emr_log_uri,
        "ReleaseLabel": ec2.release_label,
        "Applications": [{"Name": name} for name in ec2.applications],
        "Instances": instances,
        "Steps": [
            {
                "Name": f"{NAME_PREFIX}{route.name}",
                "ActionOnFailure": "TERMINATE_CLUSTER",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": spark_step_args(job, route, settings.work_bucket),
                },
            }
        ],
        "ServiceRole": settings.emr_service_role,
        "JobFlowRole": settings.emr_instance_profile,
        "VisibleToAllUsers": True,
        "AutoTerminationPolicy": {"IdleTimeout": ec2.idle_timeout_seconds},
        "StepConcurrencyLevel": ec2.step_concurrency,
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }
    if ec2.ebs_root_volume_size_gb is not None:
        request["EbsRootVolumeSize"] = ec2.ebs_root_volume_size_gb
    if ec2.security_configuration:
        request["SecurityConfiguration"] = ec2.security_configuration
    if ec2.bootstrap_actions:
        request["BootstrapActions"] = [
            {
                "Name": action.name,
                "ScriptBootstrapAction": {
                    "Path": render(action.path, static_values),
                    "Args": [render(arg, static_values) for arg in action.args],
                },
            }
            for action in ec2.bootstrap_actions
        ]
    if ec2.configurations:
        request["Configurations"] = [_configuration(item) for item in ec2.configurations]
    return request


def _configuration(item: EmrConfiguration) -> dict[str, Any]:
    shaped: dict[str, Any] = {"Classification": item.classification, "Properties": dict(item.properties)}
    if item.configurations:
        shaped["Configurations"] = [_configuration(child) for child in item.configurations]
    return shaped


def _instance_fleets(fleets: Ec2Fleets, on_demand_only: bool = False) -> list[dict[str, Any]]:
    spot = fleets.spot
    shaped = []
    for role, fleet in (("MASTER", fleets.primary), ("CORE", fleets.core), ("TASK", fleets.task)):
        if fleet is None:
            continue
        on_demand, spot_capacity = fleet.on_demand_capacity, fleet.spot_capacity
        if on_demand_only:
            on_demand, spot_capacity = on_demand + spot_capacity, 0
        entry: dict[str, Any] = {
            "Name": role.lower(),
            "InstanceFleetType": role,
            "TargetOnDemandCapacity": on_demand,
            "TargetSpotCapacity": spot_capacity,
            "InstanceTypeConfigs": [{"InstanceType": instance_type} for instance_type in fleet.instance_types],
        }
        if spot_capacity:
            # Spot that cannot be had in time falls back to on-demand instead of failing the job.
            entry["LaunchSpecifications"] = {
                "SpotSpecification": {
                    "TimeoutDurationMinutes": spot.timeout_minutes,
                    "TimeoutAction": spot.timeout_action,
                    "AllocationStrategy": spot.allocation_strategy,
                }
            }
        if on_demand:
            entry.setdefault("LaunchSpecifications", {})["OnDemandSpecification"] = {
                "AllocationStrategy": "lowest-price"
            }
        shaped.append(entry)
    return shaped


def _instance_group(role: str, group: Any, on_demand_only: bool = False) -> dict[str, Any]:
    return {
        "Name": role.lower(),
        "InstanceRole": role,
        "Market": ON_DEMAND if on_demand_only else group.market,
        "InstanceType": group.instance_type,
        "InstanceCount": group.count,
    }


class EmrEc2Engine:
    name = NAME
    event_source = "aws.emr"

    def __init__(
        self, settings: Settings, client: EMRClient | None = None, start_client: EMRClient | None = None
    ) -> None:
        self._settings = settings
        self._given_client = client
        self._given_start_client = start_client or client

    @property
    def _client(self) -> EMRClient:
        return self._given_client or aws.emr()

    @property
    def _start_client(self) -> EMRClient:
        """RunJobFlow's own client: sent once, never resent by the SDK (it has no idempotency token)."""
        return self._given_start_client or aws.emr_run_job_flow()

    # ------------------------------------------------------------------ launch
    def build_request(self, job: Job, route: Route) -> dict[str, Any]:
        return build_run_job_flow_request(job, route, self._settings)

    def start(self, job: Job, route: Route) -> StartedJob:
        request = self.build_request(job, route)
        try:
            response = self._start_client.run_job_flow(**request)
        except ParamValidationError as exc:
            raise start_error(exc, "RunJobFlow", job) from exc
        except ClientError as exc:
            # A throttled or 5xx reply may come after EMR created the cluster: look before anyone starts again.
            if error_code(exc) in THROTTLING_CODES or aws.server_fault(exc):
                found = self._found_after_ambiguous_start(job, exc)
                if found is not None:
                    return found
            raise start_error(exc, "RunJobFlow", job) from exc
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            # Sent, no answer: the cluster may exist. Not found, the claim is kept for the abandoned-start path,
            # which looks again (by name) before calling RunJobFlow: never a blind second call.
            found = self._found_after_ambiguous_start(job, exc)
            if found is not None:
                return found
            raise EngineStartUnknownError(f"RunJobFlow for job {job.job_id} got no answer: {exc}") from exc
        cluster_id = response["JobFlowId"]
        return StartedJob(
            engine_id=cluster_id,
            details={
                "cluster_id": cluster_id,
                "cluster_name": request["Name"],
                "log_uri": request["LogUri"],
                "release_label": request["ReleaseLabel"],
            },
        )

    def _found_after_ambiguous_start(self, job: Job, exc: Exception) -> StartedJob | None:
        found = self.find_started(job)
        logger.warning(
            "run job flow outcome ambiguous",
            job_id=job.job_id,
            error=str(exc),
            cluster_id=found.engine_id if found else None,
        )
        return found

    def find_started(self, job: Job) -> StartedJob | None:
        """RunJobFlow has no client token: find the cluster by its name, unique to the job's attempt."""
        name = cluster_name(job)
        created_after = datetime.fromisoformat(job.created_at.replace("Z", "+00:00")) - timedelta(minutes=5)
        try:
            for page in self._client.get_paginator("list_clusters").paginate(CreatedAfter=created_after):
                for cluster in page.get("Clusters", []):
                    if cluster.get("Name") == name:
                        return StartedJob(
                            engine_id=cluster["Id"],
                            details={
                                "cluster_id": cluster["Id"],
                                "cluster_name": name,
                                "log_uri": self._settings.emr_log_uri,
                                "recovered": True,
                            },
                        )
        except ClientError as exc:
            raise EngineError(f"ListClusters failed while recovering job {job.job_id}: {exc}", error_code(exc)) from exc
        return None

    # ------------------------------------------------------------------ events
    def parse_event(self, event: dict[str, Any]) -> EngineEvent | None:
        detail_type = event.get("detail-type")
        if detail_type not in (CLUSTER_EVENT, STEP_EVENT):
            return None
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise MalformedEventError(f"{detail_type}: detail is missing or not an object")
        cluster_id = detail.get("clusterId")
        state = detail.get("state")
        if not isinstance(cluster_id, str) or not cluster_id or not isinstance(state, str):
            raise MalformedEventError(f"{detail_type}: clusterId or state is missing")
        if detail_type == CLUSTER_EVENT:
            code, message = parse_reason(detail.get("stateChangeReason"))
            return EngineEvent(
                engine=NAME,
                engine_id=cluster_id,
                kind="cluster",
                state=state,
                name=str(detail.get("name", "")),
                reason_code=code,
                reason_message=message or _text(detail.get("message")),
                time=str(event.get("time", "")),
            )
        step_id = detail.get("stepId")
        if not isinstance(step_id, str) or not step_id:
            raise MalformedEventError(f"{detail_type}: stepId is missing")
        return EngineEvent(
            engine=NAME,
            engine_id=cluster_id,
            kind="step",
            state=state,
            sub_id=step_id,
            name=str(detail.get("name", "")),
            reason_message=_text(detail.get("message")),
            time=str(event.get("time", "")),
        )

    def describe(self, job: Job) -> EngineEvent | None:
        """The step's end decides a job; before it, the cluster's state says how far it got."""
        if not job.engine_id:
            return None
        cluster = self._describe_cluster(job.engine_id)
        status = cluster.get("Status", {})
        reason = status.get("StateChangeReason", {})
        try:
            steps = self._client.list_steps(ClusterId=job.engine_id).get("Steps", [])
        except ClientError as exc:
            raise EngineError(f"ListSteps {job.engine_id} failed: {exc}", error_code(exc)) from exc
        step = steps[0] if steps else None
        if step is not None and step.get("Status", {}).get("State") in ("COMPLETED", *_FAILED_STEP_STATES):
            return EngineEvent(
                engine=NAME,
                engine_id=job.engine_id,
                kind="step",
                state=step["Status"]["State"],
                sub_id=step["Id"],
                name=str(step.get("Name", "")),
                reason_message=_text(step["Status"].get("StateChangeReason", {}).get("Message")),
            )
        return EngineEvent(
            engine=NAME,
            engine_id=job.engine_id,
            kind="cluster",
            state=str(status.get("State", "")),
            name=str(cluster.get("Name", "")),
            reason_code=_text(reason.get("Code")),
            reason_message=_text(reason.get("Message")),
        )

    def interpret(self, event: EngineEvent, job: Job) -> StateUpdate | None:
        source = f"{event.kind} {event.state}"
        if event.kind == "step":
            detail = {"step_id": event.sub_id}
            if event.state == "RUNNING":
                return StateUpdate(JobState.RUNNING, source, detail=detail)
            if event.state == "COMPLETED":
                # A job's cluster runs exactly one step: its completion is the job's success.
                return StateUpdate(JobState.SUCCEEDED, source, "STEP_COMPLETED", event.reason_message, detail)
            if event.state in _FAILED_STEP_STATES:
                return StateUpdate(
                    _FAILED_STEP_STATES[event.state], source, f"STEP_{event.state}", event.reason_message, detail
                )
            return None
        if event.state in _RUNNING_CLUSTER_STATES:
            return StateUpdate(JobState.RUNNING, source)
        if event.state == "TERMINATED_WITH_ERRORS":
            return StateUpdate(
                JobState.FAILED, source, event.reason_code or "TERMINATED_WITH_ERRORS", event.reason_message
            )
        if event.state == "TERMINATED":
            code = event.reason_code or "TERMINATED"
            if code == "ALL_STEPS_COMPLETED":
                return StateUpdate(JobState.SUCCEEDED, source, code, event.reason_message)
            if code == "USER_REQUEST":
                return StateUpdate(JobState.CANCELLED, source, code, event.reason_message)
            return StateUpdate(JobState.FAILED, source, code, event.reason_message)
        return None  # STARTING, BOOTSTRAPPING, TERMINATING: nothing the ledger does not know

    # ------------------------------------------------------------------ failure and cleanup
    def inspect(self, job: Job, event: EngineEvent, update: StateUpdate) -> Inspection | None:
        """Failures only: a cluster that succeeded terminates itself (no steps left, no keep-alive)."""
        if update.state not in ALERTING_STATES or not job.engine_id:
            return None
        cluster_id = job.engine_id or event.engine_id
        cluster = self._describe_cluster(cluster_id)
        status = cluster.get("Status", {})
        log_uri = _s3_uri(cluster.get("LogUri") or job.engine_details.get("log_uri", ""))
        details: dict[str, Any] = {"cluster_id": cluster_id, "cluster_state": status.get("State", "UNKNOWN")}
        reason = status.get("StateChangeReason", {})
        if reason.get("Code"):
            details["cluster_reason_code"] = reason["Code"]
        if reason.get("Message"):
            details["cluster_reason_message"] = reason["Message"]
        step = self._failed_step(cluster_id, event.sub_id)
        logs = [f"{log_uri}{cluster_id}/"] if log_uri else []
        if step:
            details["step_id"] = step["Id"]
            details["step_state"] = step.get("Status", {}).get("State")
            failure = step.get("Status", {}).get("FailureDetails", {})
            for source, target in (("Reason", "reason"), ("Message", "message"), ("LogFile", "log_file")):
                if failure.get(source):
                    details[target] = failure[source]
            if log_uri:
                logs.insert(0, f"{log_uri}{cluster_id}/steps/{step['Id']}/stderr.gz")
        if details.get("log_file"):
            logs.insert(0, _s3_uri(details["log_file"]))
        return Inspection(
            details=details,
            log_locations=list(dict.fromkeys(logs)),
            resource_alive=status.get("State") in ALIVE_STATES,
        )

    def stop(self, job: Job) -> None:
        if not job.engine_id:
            return
        try:
            self._client.terminate_job_flows(JobFlowIds=[job.engine_id])
        except ClientError as exc:
            raise EngineError(f"TerminateJobFlows {job.engine_id} failed: {exc}", error_code(exc)) from exc

    def on_terminal(self, job: Job) -> list[str]:
        return []

    def list_running(self) -> list[RunningResource]:
        found = []
        try:
            alive: Any = sorted(ALIVE_STATES)
            pages = self._client.get_paginator("list_clusters").paginate(ClusterStates=alive)
            for page in pages:
                for cluster in page.get("Clusters", []):
                    if str(cluster.get("Name", "")).startswith(NAME_PREFIX):
                        found.append(
                            RunningResource(NAME, cluster["Id"], cluster["Name"], self._console(cluster["Id"]))
                        )
        except ClientError as exc:
            raise EngineError(f"ListClusters failed: {exc}", error_code(exc)) from exc
        return found

    def stop_resource(self, resource: RunningResource) -> None:
        try:
            self._client.terminate_job_flows(JobFlowIds=[resource.engine_id])
        except ClientError as exc:
            raise EngineError(f"TerminateJobFlows {resource.engine_id} failed: {exc}", error_code(exc)) from exc

    def console_link(self, job: Job) -> str:
        return self._console(job.engine_id)

    def _console(self, cluster_id: str | None) -> str:
        region = self._settings.region
        console = f"https://{region}.console.aws.amazon.com/emr/home?region={region}"
        return f"{console}#/clusterDetails/{cluster_id}" if cluster_id else f"{console}#/clusters"

    def log_locations(self, job: Job) -> list[str]:
        log_uri = _s3_uri(job.engine_details.get("log_uri", ""))
        return [f"{log_uri}{job.engine_id}/"] if log_uri and job.engine_id else []

    def _describe_cluster(self, cluster_id: str) -> dict[str, Any]:
        try:
            cluster: dict[str, Any] = dict(self._client.describe_cluster(ClusterId=cluster_id)["Cluster"])
        except ClientError as exc:
            raise EngineError(f"DescribeCluster {cluster_id} failed: {exc}", error_code(exc)) from exc
        return cluster

    def _failed_step(self, cluster_id: str, step_id: str | None) -> dict[str, Any] | None:
        try:
            if step_id:
                return dict(self._client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"])
            steps = self._client.list_steps(ClusterId=cluster_id, StepStates=["FAILED", "INTERRUPTED", "CANCELLED"])
        except ClientError as exc:
            raise EngineError(f"reading steps of {cluster_id} failed: {exc}", error_code(exc)) from exc
        found = steps.get("Steps", [])
        return dict(found[0]) if found else None


def _s3_uri(uri: str) -> str:
    """EMR reports log locations as s3n://; people and the console use s3://."""
    if uri.startswith("s3n://") or uri.startswith("s3a://"):
        uri = "s3://" + uri[6:]
    return uri if not uri or uri.endswith("/") or uri.endswith(".gz") else uri + "/"


def _text(value: Any) -> str | None:
    return str(value) if value else None
