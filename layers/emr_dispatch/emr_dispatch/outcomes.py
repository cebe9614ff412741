"""Applying a state update to a job: record first, then clean up, then alert — once.

Shared by the launcher (a start the engine refused) and the tracker (engine events).
"""

from __future__ import annotations

from dataclasses import dataclass

from emr_dispatch.alerts import Alert, Alerter
from emr_dispatch.engines.base import Engine, EngineEvent, FailureReport
from emr_dispatch.errors import EngineError
from emr_dispatch.jobs import ALERTING_STATES, Job, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import logger


@dataclass(frozen=True)
class Applied:
    status: str  # moved | stale
    job: Job


class OutcomeRecorder:
    def __init__(self, ledger: Ledger, alerter: Alerter) -> None:
        self._ledger = ledger
        self._alerter = alerter

    def apply(self, job: Job, update: StateUpdate, engine: Engine, event: EngineEvent | None) -> Applied:
        report: FailureReport | None = None
        actions: list[str] = []
        alerting = update.state in ALERTING_STATES
        if alerting and job.engine_id and event is not None:
            report = engine.inspect_failure(job, event)
            if report.resource_alive:
                # Recorded before terminating: the cluster's own reason will only say USER_REQUEST.
                actions.append(f"terminating {job.engine_id}: job {update.state.value} ({update.reason_code})")
        moved = self._ledger.transition(
            job,
            update,
            failure=report.details if report else None,
            actions=actions,
            alert=alerting,
        )
        if moved is None:
            logger.info(
                "state update not applied", job_id=job.job_id, target=update.state.value, stale_from=job.state.value
            )
            return Applied("stale", job)
        logger.info(
            "job state changed",
            job_id=moved.job_id,
            route=moved.route,
            state=moved.state.value,
            previous=job.state.value,
            reason=update.reason_code,
        )
        if report is not None and report.resource_alive:
            moved = self._stop(moved, engine)
        if moved.alert_pending:
            self.publish_alert(moved, engine, report.log_locations if report else None)
        return Applied("moved", moved)

    def publish_alert(self, job: Job, engine: Engine, log_locations: list[str] | None = None) -> None:
        """Publish a job's pending alert and clear it; an SNS failure leaves it pending and raises."""
        alert = Alert.for_job(
            job,
            log_locations=log_locations if log_locations is not None else engine.log_locations(job),
            console_link=engine.console_link(job),
        )
        message_id = self._alerter.publish(alert)
        self._ledger.mark_alerted(job.job_id)
        logger.info("alert published", job_id=job.job_id, state=job.state.value, message_id=message_id)

    def _stop(self, job: Job, engine: Engine) -> Job:
        try:
            engine.stop(job)
        except EngineError as exc:
            # Still alert (saying so); the sweeper terminates what is left behind.
            logger.error("cleanup failed", job_id=job.job_id, engine_id=job.engine_id, error=str(exc))
            note = f"could not terminate {job.engine_id}: {exc.code}"
        else:
            note = f"terminated {job.engine_id}"
        self._ledger.add_actions(job.job_id, [note])
        job.actions = [*job.actions, note]
        return job
