"""EMR on EC2: one ephemeral cluster per job attempt, running the route's Spark step, then gone."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ConnectionClosedError, ParamValidationError, ReadTimeoutError

from emr_dispatch import NAME_PREFIX, aws
from emr_dispatch.aws import THROTTLING_CODES, error_code
from emr_dispatch.engines.base import (
    EngineEvent,
    Inspection,
    RunningResource,
    StartedJob,
    start_error,
)
from emr_dispatch.engines.emr_ec2.declaration import DECLARATION, SERVICE, TAG_RULES
from emr_dispatch.engines.emr_ec2.events import ALIVE_STATES, parse_event, s3_uri, text
from emr_dispatch.engines.emr_ec2.lookup import LOOKUP_MARGIN, find_cluster, lookup_window
from emr_dispatch.engines.emr_ec2.request import (
    NAME,
    ON_DEMAND,
    build_run_job_flow_request,
    cluster_name,
    log_uri,
    spark_step_args,
)
from emr_dispatch.engines.emr_ec2.steps import describe_steps, interpret_steps, list_steps_pages, step_statuses
from emr_dispatch.errors import EngineError, EngineStartUnknownError
from emr_dispatch.job_steps import ordered_steps
from emr_dispatch.jobs import ALERTING_STATES, Job, StateUpdate
from emr_dispatch.observability import logger
from emr_dispatch.settings import Settings
from emr_dispatch.token_bucket import CallPacer, ListPacer

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient

    from emr_dispatch.engines.base import ActiveJobs
    from emr_dispatch.routes import Route

__all__ = [
    "DECLARATION",
    "LOOKUP_MARGIN",
    "ON_DEMAND",
    "SERVICE",
    "TAG_RULES",
    "EmrEc2Engine",
    "build_run_job_flow_request",
    "cluster_name",
    "lookup_window",
    "spark_step_args",
]


def client() -> EMRClient:
    typed: EMRClient = aws.client(SERVICE)
    return typed


def run_job_flow_client() -> EMRClient:
    """The EMR client RunJobFlow is sent with (never retried by the SDK); every other EMR call uses ``client()``."""
    typed: EMRClient = aws.client_sending_once(SERVICE)
    return typed


def build(settings: Settings, active_jobs: ActiveJobs) -> EmrEc2Engine:
    return EmrEc2Engine(settings)


# Every other EMR call of the engine, paced per API under EMR's quotas (burst 10; DescribeCluster 1/s, the others
# 0.5/s; FACTS.md) with a fifth left for operators, and all together under the account's 25 and 5/s: the sweeper
# times out, describes, inspects and stops many clusters in one run (breaker findings F7, F8).
CALL_RATES = {
    "DescribeCluster": (8.0, 0.8),
    "ListSteps": (8.0, 0.4),
    "DescribeStep": (8.0, 0.4),
    "TerminateJobFlows": (8.0, 0.4),
}
SHARED_RATE = (20.0, 4.0)


class EmrEc2Engine:
    name = NAME
    # The sweeper's describes of this engine's jobs, paced below the quotas they spend (DescribeCluster and
    # ListSteps per job; ListSteps burst 10, 0.5/s binds): a fifth of it left for the tracker and operators.
    describe_rate = (8.0, 0.4)
    # The orphan search's ListClusters pages (50 clusters each): burst 20, 0.5/s, and the account-wide EMR bucket
    # RunJobFlow needs (FACTS.md): half of ListClusters' own quota.
    list_rate = (10.0, 0.25)
    event_source = DECLARATION.event_source

    def __init__(
        self, settings: Settings, client: EMRClient | None = None, start_client: EMRClient | None = None
    ) -> None:
        self._settings = settings
        self._given_client = client
        self._given_start_client = start_client or client
        self._list_pace = ListPacer(*self.list_rate)
        self._calls = CallPacer(CALL_RATES, shared=SHARED_RATE)

    @property
    def _client(self) -> EMRClient:
        return self._given_client or client()

    @property
    def _start_client(self) -> EMRClient:
        """RunJobFlow's own client: sent once, never resent by the SDK (it has no idempotency token)."""
        return self._given_start_client or run_job_flow_client()

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
            step_names=tuple(step["Name"] for step in request["Steps"]),
        )

    def _found_after_ambiguous_start(self, job: Job, exc: Exception) -> StartedJob | None:
        try:
            found = self.find_started(job)
        except EngineError as lookup:
            # Neither RunJobFlow nor the lookup answered (e.g. both throttled by the account-wide EMR bucket): the
            # cluster may exist, so the job neither fails nor starts again blindly. The claim stays, and the
            # abandoned-start path looks the cluster up by name before any new call.
            raise EngineStartUnknownError(
                f"RunJobFlow for job {job.job_id} failed ({error_code(exc) or exc}) and the lookup too: {lookup}"
            ) from lookup
        logger.warning(
            "run job flow outcome ambiguous",
            job_id=job.job_id,
            error=str(exc),
            cluster_id=found.engine_id if found else None,
        )
        return found

    def find_started(self, job: Job, until: float | None = None) -> StartedJob | None:
        """RunJobFlow has no client token: find the cluster by its name, unique to the job's attempt, among the
        clusters created around the attempt's start call (lookup.py), paced like the orphan search's pages."""
        return find_cluster(self._client, self._list_pace, job, log_uri(self._settings), until)

    # ------------------------------------------------------------------ events
    def parse_event(self, event: dict[str, Any]) -> EngineEvent | None:
        return parse_event(event)

    def describe(self, job: Job) -> EngineEvent | None:
        """The steps' end decides a job (steps.describe_steps); before it, the cluster's state says how far it
        got. Either way the event carries every step's status for the ledger."""
        if not job.engine_id:
            return None
        cluster = self._describe_cluster(job.engine_id)
        status = cluster.get("Status", {})
        reason = status.get("StateChangeReason", {})
        steps = self._steps(job.engine_id)
        names = [str(step.get("name", "")) for step in ordered_steps(job)]
        decided = describe_steps(job.engine_id, steps, names)
        if decided is not None:
            return decided
        return EngineEvent(
            engine=NAME,
            engine_id=job.engine_id,
            kind="cluster",
            state=str(status.get("State", "")),
            name=str(cluster.get("Name", "")),
            reason_code=text(reason.get("Code")),
            reason_message=text(reason.get("Message")),
            steps=step_statuses(steps),
        )

    def describe_cost(self, job: Job) -> int:
        """The sweeper's tokens for one describe: ListSteps pages (50 steps each) bind, not DescribeCluster."""
        return list_steps_pages(job)

    def interpret(self, event: EngineEvent, job: Job) -> StateUpdate | None:
        return interpret_steps(event, job, self._steps)

    def _steps(self, cluster_id: str) -> list[dict[str, Any]]:
        """Every step of the cluster in the order it was submitted (ListSteps lists the newest first)."""
        try:

            def fetch(marker: str | None) -> Mapping[str, Any]:
                more: dict[str, Any] = {"Marker": marker} if marker else {}
                return self._client.list_steps(ClusterId=cluster_id, **more)

            pages = self._calls.pages("ListSteps", fetch, "Marker")
            steps = [dict(step) for page in pages for step in page.get("Steps", [])]
        except ClientError as exc:
            raise EngineError(f"ListSteps {cluster_id} failed: {exc}", error_code(exc)) from exc
        return steps[::-1]

    # ------------------------------------------------------------------ failure and cleanup
    def inspect(self, job: Job, event: EngineEvent, update: StateUpdate) -> Inspection | None:
        """Failures only: a cluster that succeeded terminates itself (no steps left, no keep-alive)."""
        if update.state not in ALERTING_STATES or not job.engine_id:
            return None
        cluster_id = job.engine_id or event.engine_id
        cluster = self._describe_cluster(cluster_id)
        status = cluster.get("Status", {})
        log_uri = s3_uri(cluster.get("LogUri") or job.engine_details.get("log_uri", ""))
        details: dict[str, Any] = {"cluster_id": cluster_id, "cluster_state": status.get("State", "UNKNOWN")}
        reason = status.get("StateChangeReason", {})
        if reason.get("Code"):
            details["cluster_reason_code"] = reason["Code"]
        if reason.get("Message"):
            details["cluster_reason_message"] = reason["Message"]
        step = self._failed_step(cluster_id, update.detail.get("step_id") or event.sub_id)
        logs = [f"{log_uri}{cluster_id}/"] if log_uri else []
        if step:
            details["step_id"] = step["Id"]
            details["step_name"] = str(step.get("Name", "")).removeprefix(NAME_PREFIX)
            details["step_state"] = step.get("Status", {}).get("State")
            failure = step.get("Status", {}).get("FailureDetails", {})
            for source, target in (("Reason", "reason"), ("Message", "message"), ("LogFile", "log_file")):
                if failure.get(source):
                    details[target] = failure[source]
            if log_uri:
                logs.insert(0, f"{log_uri}{cluster_id}/steps/{step['Id']}/stderr.gz")
        if details.get("log_file"):
            logs.insert(0, s3_uri(details["log_file"]))
        return Inspection(
            details=details,
            log_locations=list(dict.fromkeys(logs)),
            resource_alive=status.get("State") in ALIVE_STATES,
        )

    def stop(self, job: Job) -> None:
        if not job.engine_id:
            return
        try:
            self._calls.take("TerminateJobFlows")
            self._client.terminate_job_flows(JobFlowIds=[job.engine_id])
        except ClientError as exc:
            raise EngineError(f"TerminateJobFlows {job.engine_id} failed: {exc}", error_code(exc)) from exc

    def on_terminal(self, job: Job) -> list[str]:
        return []

    def list_running(
        self, until: float | None = None, marks: MutableMapping[str, str] | None = None
    ) -> list[RunningResource]:
        found = []
        try:
            alive: Any = sorted(ALIVE_STATES)

            def fetch(marker: str | None) -> Mapping[str, Any]:
                more: dict[str, Any] = {"Marker": marker} if marker else {}
                return self._client.list_clusters(ClusterStates=alive, **more)

            for page in self._list_pace.pages(fetch, "Marker", until, marks, NAME):
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
            self._calls.take("TerminateJobFlows")
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
        log_uri = s3_uri(job.engine_details.get("log_uri", ""))
        return [f"{log_uri}{job.engine_id}/"] if log_uri and job.engine_id else []

    def _describe_cluster(self, cluster_id: str) -> dict[str, Any]:
        try:
            self._calls.take("DescribeCluster")
            cluster: dict[str, Any] = dict(self._client.describe_cluster(ClusterId=cluster_id)["Cluster"])
        except ClientError as exc:
            raise EngineError(f"DescribeCluster {cluster_id} failed: {exc}", error_code(exc)) from exc
        return cluster

    def _failed_step(self, cluster_id: str, step_id: str | None) -> dict[str, Any] | None:
        try:
            if step_id:
                self._calls.take("DescribeStep")
                return dict(self._client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"])
            self._calls.take("ListSteps")
            steps = self._client.list_steps(ClusterId=cluster_id, StepStates=["FAILED", "INTERRUPTED", "CANCELLED"])
        except ClientError as exc:
            raise EngineError(f"reading steps of {cluster_id} failed: {exc}", error_code(exc)) from exc
        found = steps.get("Steps", [])
        return dict(found[0]) if found else None
