"""Engine lifecycle simulator: moves moto's EMR clusters through their states and yields the
EventBridge events AWS would send at each step. moto never moves EMR states nor emits events.

Works wherever moto's backends live in this process (``mock_aws`` or a ThreadedMotoServer).
Each event is yielded right after moto's state is changed, so a handler called with it sees the
same world AWS would show at that moment.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from moto.emr.models import Cluster, Step, emr_backends
from moto.emrcontainers.models import emrcontainers_backends
from moto.emrserverless.models import emrserverless_backends

MOTO_ACCOUNT_ID = "123456789012"  # moto's default account


class Outcome(StrEnum):
    SUCCEED = "succeed"
    STEP_FAILURE = "step-failure"  # EMR on EC2: the Spark step fails; job runs: the application fails
    BOOTSTRAP_FAILURE = "bootstrap-failure"
    # A cause a second attempt can fix: EMR on EC2 loses its Spot instances, EMR Serverless fails with an
    # internal error, EMR on EKS finds its cluster unavailable.
    CAPACITY_FAILURE = "capacity-failure"
    # EMR Serverless only: the run outlived its executionTimeoutMinutes and EMR Serverless cancelled it itself.
    ENGINE_TIMEOUT = "engine-timeout"


SPOT_LOSS = (
    "INSTANCE_FAILURE",
    "Core instances were lost: Spot capacity reclaimed (Server.SpotInstanceTermination).",
)


BOOTSTRAP_LOSS = ("BOOTSTRAP_FAILURE", "Master instance failed bootstrap action 1")


class _Clock:
    """Event times that move forward, as a real lifecycle's would."""

    def __init__(self) -> None:
        self._now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def moment(self, seconds: int = 0) -> datetime:
        """The time the next event will carry (plus ``seconds``), for moto's step timeline."""
        return self._now + timedelta(seconds=seconds + 45)

    def tick(self, seconds: int = 45) -> str:
        self._now += timedelta(seconds=seconds)
        return self._now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(
    source: str, detail_type: str, detail: dict[str, Any], account: str, region: str, time: str
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": time,
        "region": region,
        "resources": [],
        "detail": detail,
    }


class _FailedStep(Step):
    """A moto step that also reports Status.FailureDetails, as DescribeStep does on AWS."""

    failure_details: dict[str, str]

    @property
    def status(self) -> dict[str, Any]:
        status = dict(super().status)
        status["FailureDetails"] = self.failure_details
        return status


class _EndedCluster(Cluster):
    """A moto cluster whose Status.StateChangeReason also carries the Code, as DescribeCluster's does on AWS."""

    last_state_change_code: str

    @property
    def status(self) -> dict[str, Any]:
        status = dict(super().status)
        status["StateChangeReason"] = {**status["StateChangeReason"], "Code": self.last_state_change_code}
        return status


def _end(cluster: Any, state: str, code: str, message: str) -> None:
    cluster.__class__ = _EndedCluster
    cluster.state = state
    cluster.last_state_change_code = code
    cluster.last_state_change_reason = message


class EmrEc2Simulator:
    engine = "emr-ec2"

    def __init__(self, region: str = "us-east-1", account_id: str = MOTO_ACCOUNT_ID) -> None:
        self._region = region
        self._account_id = account_id
        self._clock = _Clock()

    def lifecycle(self, job: Any, outcome: Outcome) -> Iterator[dict[str, Any]]:
        """The events of one job's attempt on its cluster."""
        return self.run(str(job.engine_id), outcome)

    def states(self) -> dict[str, str]:
        """Every cluster's state, by id (the demo checks that none outlives its job)."""
        clusters = emr_backends[self._account_id][self._region].clusters
        return {cluster_id: str(cluster.state) for cluster_id, cluster in clusters.items()}

    def run(
        self, cluster_id: str, outcome: Outcome = Outcome.SUCCEED, fail_at: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Drive one cluster and its steps, in order, to its end, yielding each state-change event. With
        STEP_FAILURE, the step named ``fail_at`` fails (default: the cluster's first Hive step, else its first);
        what follows is what its ActionOnFailure makes EMR do: TERMINATE_CLUSTER cancels the pending steps and
        ends the cluster with errors, CANCEL_AND_WAIT cancels them and leaves the cluster WAITING, CONTINUE runs
        the next steps."""
        # moto's models are edited in place; typed loosely because the simulator adds attributes.
        cluster: Any = emr_backends[self._account_id][self._region].clusters[cluster_id]
        steps: list[Any] = list(cluster.steps)
        cluster.state = "STARTING"
        for step in steps:
            step.state = "PENDING"
        yield self._cluster_event(cluster, "STARTING", None)
        if outcome in (Outcome.CAPACITY_FAILURE, Outcome.BOOTSTRAP_FAILURE):
            reason = SPOT_LOSS if outcome is Outcome.CAPACITY_FAILURE else BOOTSTRAP_LOSS
            _end(cluster, "TERMINATED_WITH_ERRORS", *reason)
            for step in steps:
                step.state = "CANCELLED"
            yield self._cluster_event(cluster, "TERMINATED_WITH_ERRORS", reason)
            return
        cluster.state = "RUNNING"
        yield self._cluster_event(cluster, "RUNNING", None)
        if not steps:
            return
        hive = [step.name for step in steps if step.args[:1] == ["hive-script"]]
        failing = (fail_at or (hive or [steps[0].name])[0]) if outcome is Outcome.STEP_FAILURE else None
        for index, step in enumerate(steps):
            step.state = "RUNNING"
            step.start_date_time = self._clock.moment()
            yield self._step_event(cluster, step, "RUNNING")
            step.end_date_time = self._clock.moment(30)
            if step.name != failing:
                step.state = "COMPLETED"
                if index == len(steps) - 1:
                    cluster.state = "TERMINATING"
                yield self._step_event(cluster, step, "COMPLETED")
                continue
            step.__class__ = _FailedStep
            step.failure_details = {
                "Reason": "Exception in thread main: org.apache.spark.SparkException: Malformed CSV record",
                "Message": "Job aborted due to stage failure: Malformed records are detected in record parsing.",
                "LogFile": f"s3://{cluster.log_uri.split('://', 1)[-1]}{cluster.id}/steps/{step.id}/stderr.gz",
            }
            step.state = "FAILED"
            if step.action_on_failure == "CONTINUE":
                yield self._step_event(cluster, step, "FAILED")
                continue
            cluster.state = "TERMINATING" if step.action_on_failure != "CANCEL_AND_WAIT" else "RUNNING"
            yield self._step_event(cluster, step, "FAILED")
            for pending in steps[index + 1 :]:
                pending.state = "CANCELLED"
                yield self._step_event(cluster, pending, "CANCELLED")
            if step.action_on_failure == "CANCEL_AND_WAIT":
                cluster.state = "WAITING"
                yield self._cluster_event(cluster, "WAITING", None)
                return
            _end(cluster, "TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Shut down as step failed")
            yield self._cluster_event(cluster, "TERMINATED_WITH_ERRORS", ("STEP_FAILURE", "Shut down as step failed"))
            return
        cluster.state = "TERMINATING"
        # With CONTINUE, a failed step still lets the cluster end as its steps are over.
        _end(cluster, "TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed")
        yield self._cluster_event(cluster, "TERMINATED", ("ALL_STEPS_COMPLETED", "Steps completed"))

    # ---------------------------------------------------------------- event shapes (as AWS sends them)
    def _envelope(self, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
        return _envelope("aws.emr", detail_type, detail, self._account_id, self._region, self._clock.tick())

    def _cluster_event(self, cluster: Any, state: str, reason: tuple[str, str] | None) -> dict[str, Any]:
        code, message = reason if reason else ("", "")
        severity = "CRITICAL" if state == "TERMINATED_WITH_ERRORS" else "INFO"
        text = f"Amazon EMR cluster {cluster.id} ({cluster.name}) is {state}"
        if code:
            text += f" with a reason of {code}"
        return self._envelope(
            "EMR Cluster State Change",
            {
                "severity": severity,
                "stateChangeReason": json.dumps({"code": code, "message": message} if code else {"code": ""}),
                "name": cluster.name,
                "clusterId": cluster.id,
                "state": state,
                "message": text + ".",
            },
        )

    def _step_event(self, cluster: Any, step: Any, state: str) -> dict[str, Any]:
        severity = {"FAILED": "ERROR", "COMPLETED": "INFO"}.get(state, "INFO")
        return self._envelope(
            "EMR Step Status Change",
            {
                "severity": severity,
                "actionOnFailure": step.action_on_failure,
                "stepId": step.id,
                "name": step.name,
                "clusterId": cluster.id,
                "state": state,
                "message": f"Step {step.id} ({step.name}) in Amazon EMR cluster {cluster.id} "
                f"({cluster.name}) is {state}.",
            },
        )


class EmrServerlessSimulator:
    """Moves an EMR Serverless job run (moto: SUCCESS at once) through SUBMITTED → RUNNING → end."""

    engine = "emr-serverless"

    def __init__(self, region: str = "us-east-1", account_id: str = MOTO_ACCOUNT_ID) -> None:
        self._region = region
        self._account_id = account_id
        self._clock = _Clock()

    def lifecycle(self, job: Any, outcome: Outcome) -> Iterator[dict[str, Any]]:
        details = job.engine_details
        return self.run(details["application_id"], details["job_run_id"], outcome)

    def application_states(self) -> dict[str, str]:
        """Every application's state, by id (the demo checks that a managed one was stopped once idle)."""
        applications = emrserverless_backends[self._account_id][self._region].applications
        return {application_id: str(application.state) for application_id, application in applications.items()}

    def run(self, application_id: str, job_run_id: str, outcome: Outcome = Outcome.SUCCEED) -> Iterator[dict[str, Any]]:
        backend = emrserverless_backends[self._account_id][self._region]
        run: Any = next(r for r in backend.job_runs[application_id] if r.id == job_run_id)
        previous = "SUBMITTED"
        for state in ("SUBMITTED", "SCHEDULED", "RUNNING"):
            run.state = state
            yield self._event(run, state, previous)
            previous = state
        run.total_execution_duration_seconds = 312
        run.billed_resource_utilization = {"vCPUHour": 0.347, "memoryGBHour": 1.388, "storageGBHour": 0.0}
        if outcome is Outcome.ENGINE_TIMEOUT:
            run.state = "CANCELLING"  # "If the job run exceeds this duration, Amazon EMR Serverless cancels it"
            yield self._event(run, run.state, previous)
            previous, run.state = run.state, "CANCELLED"
        elif outcome is Outcome.SUCCEED:
            run.state = "SUCCESS"
        elif outcome is Outcome.CAPACITY_FAILURE:
            run.state = "FAILED"
            run.state_details = "Job run failed because of an internal error. Retry the job run."
        else:
            run.state = "FAILED"
            run.state_details = "Job failed, please check complete logs in configured logging destination. ExitCode: 1."
        yield self._event(run, run.state, previous)

    def _event(self, run: Any, state: str, previous: str) -> dict[str, Any]:
        time = self._clock.tick()
        return _envelope(
            "aws.emr-serverless",
            "EMR Serverless Job Run State Change",
            {
                "jobRunId": run.id,
                "jobRunName": run.name,
                "applicationId": run.application_id,
                "arn": run.arn,
                "releaseLabel": run.release_label,
                "state": state,
                "previousState": previous,
                "createdBy": f"arn:aws:sts::{self._account_id}:assumed-role/emr-dispatch-launcher/launcher",
                "updatedAt": time,
                "createdAt": time,
            },
            self._account_id,
            self._region,
            time,
        )


class EmrEksSimulator:
    """Moves an EMR on EKS job run (moto: RUNNING forever) through PENDING → RUNNING → end."""

    engine = "emr-eks"

    def __init__(self, region: str = "us-east-1", account_id: str = MOTO_ACCOUNT_ID) -> None:
        self._region = region
        self._account_id = account_id
        self._clock = _Clock()

    def lifecycle(self, job: Any, outcome: Outcome) -> Iterator[dict[str, Any]]:
        return self.run(job.engine_details["job_run_id"], outcome)

    def run(self, job_run_id: str, outcome: Outcome = Outcome.SUCCEED) -> Iterator[dict[str, Any]]:
        run: Any = emrcontainers_backends[self._account_id][self._region].job_runs[job_run_id]
        for state in ("PENDING", "SUBMITTED", "RUNNING"):
            run.state = state
            yield self._event(run)
        if outcome is Outcome.SUCCEED:
            run.state = "COMPLETED"
        elif outcome is Outcome.CAPACITY_FAILURE:
            run.state = "FAILED"
            run.failure_reason = "CLUSTER_UNAVAILABLE"
            run.state_details = "Job run failed: the virtual cluster's EKS cluster is unavailable."
        else:
            run.state = "FAILED"
            run.failure_reason = "USER_ERROR"
            run.state_details = "Job run failed: driver pod exited with code 1 (see the driver's stderr)."
        yield self._event(run)

    def _event(self, run: Any) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "severity": "ERROR" if run.state == "FAILED" else "INFO",
            "name": run.name,
            "id": run.id,
            "arn": run.arn,
            "virtualClusterId": run.virtual_cluster_id,
            "state": run.state,
            "releaseLabel": run.release_label,
            "executionRoleArn": run.execution_role_arn,
            "message": f"Job run {run.id} ({run.name}) is {run.state}.",
        }
        if run.failure_reason:
            detail["failureReason"] = run.failure_reason
            detail["stateDetails"] = run.state_details
        return _envelope(
            "aws.emr-containers", "EMR Job Run State Change", detail, self._account_id, self._region, self._clock.tick()
        )


SIMULATORS = (EmrEc2Simulator, EmrServerlessSimulator, EmrEksSimulator)
"""One simulator per engine (each says which by its ``engine``): the demo and the sandbox run them all."""
