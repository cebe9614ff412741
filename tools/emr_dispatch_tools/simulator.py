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

from moto.emr.models import Step, emr_backends

MOTO_ACCOUNT_ID = "123456789012"  # moto's default account


class Outcome(StrEnum):
    SUCCEED = "succeed"
    STEP_FAILURE = "step-failure"
    BOOTSTRAP_FAILURE = "bootstrap-failure"


class _FailedStep(Step):
    """A moto step that also reports Status.FailureDetails, as DescribeStep does on AWS."""

    failure_details: dict[str, str]

    @property
    def status(self) -> dict[str, Any]:
        status = dict(super().status)
        status["FailureDetails"] = self.failure_details
        return status


class EmrEc2Simulator:
    def __init__(self, region: str = "us-east-1", account_id: str = MOTO_ACCOUNT_ID) -> None:
        self._region = region
        self._account_id = account_id
        self._clock = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def run(self, cluster_id: str, outcome: Outcome = Outcome.SUCCEED) -> Iterator[dict[str, Any]]:
        """Drive one cluster (and its single step) to its end, yielding each state-change event."""
        # moto's models are edited in place; typed loosely because the simulator adds attributes.
        cluster: Any = emr_backends[self._account_id][self._region].clusters[cluster_id]
        step: Any = cluster.steps[0] if cluster.steps else None
        cluster.state = "STARTING"
        if step is not None:
            step.state = "PENDING"
        yield self._cluster_event(cluster, "STARTING", None)
        if outcome is Outcome.BOOTSTRAP_FAILURE:
            cluster.state = "TERMINATED_WITH_ERRORS"
            cluster.last_state_change_reason = "Master instance failed bootstrap action 1"
            if step is not None:
                step.state = "CANCELLED"
            yield self._cluster_event(
                cluster, "TERMINATED_WITH_ERRORS", ("BOOTSTRAP_FAILURE", "Master instance failed bootstrap action 1")
            )
            return
        cluster.state = "RUNNING"
        yield self._cluster_event(cluster, "RUNNING", None)
        if step is None:
            return
        step.state = "RUNNING"
        yield self._step_event(cluster, step, "RUNNING")
        if outcome is Outcome.SUCCEED:
            step.state = "COMPLETED"
            cluster.state = "TERMINATING"
            yield self._step_event(cluster, step, "COMPLETED")
            cluster.state = "TERMINATED"
            cluster.last_state_change_reason = "Steps completed"
            yield self._cluster_event(cluster, "TERMINATED", ("ALL_STEPS_COMPLETED", "Steps completed"))
            return
        step.__class__ = _FailedStep
        step.failure_details = {
            "Reason": "Exception in thread main: org.apache.spark.SparkException: Malformed CSV record",
            "Message": "Job aborted due to stage failure: Malformed records are detected in record parsing.",
            "LogFile": f"s3://{cluster.log_uri.split('://', 1)[-1]}{cluster.id}/steps/{step.id}/stderr.gz",
        }
        step.state = "FAILED"
        cluster.state = "TERMINATING"
        yield self._step_event(cluster, step, "FAILED")
        cluster.state = "TERMINATED_WITH_ERRORS"
        cluster.last_state_change_reason = "Shut down as step failed"
        yield self._cluster_event(cluster, "TERMINATED_WITH_ERRORS", ("STEP_FAILURE", "Shut down as step failed"))

    # ---------------------------------------------------------------- event shapes (as AWS sends them)
    def _envelope(self, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
        self._clock += timedelta(seconds=45)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.emr",
            "account": self._account_id,
            "time": self._clock.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [],
            "detail": detail,
        }

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
