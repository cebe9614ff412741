"""Applying a state update to a job: record first, then clean up, then alert — once.

Shared by the launcher (a start the engine refused) and the tracker (engine events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from emr_dispatch import metrics, retries, tagging
from emr_dispatch.alerts import Alert, Alerter
from emr_dispatch.capacity import Capacity
from emr_dispatch.control import QueueSignal
from emr_dispatch.engines.base import Engine, EngineEvent, Inspection
from emr_dispatch.errors import EngineError
from emr_dispatch.jobs import ALERTING_STATES, Job, JobState, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import correlate, logger
from emr_dispatch.outbox import AlertOutbox
from emr_dispatch.retries import Retry
from emr_dispatch.tagging import TagWork
from emr_dispatch.timeutil import seconds_between

if TYPE_CHECKING:
    from emr_dispatch.routes import RoutesFile


@dataclass(frozen=True)
class Applied:
    status: str  # moved | stale
    job: Job


class OutcomeRecorder:
    def __init__(
        self,
        ledger: Ledger,
        alerter: Alerter,
        capacity: Capacity,
        signal: QueueSignal,
        routes: RoutesFile | Callable[[], RoutesFile],
        tags: TagWork | None = None,
    ) -> None:
        self._ledger = ledger
        self._alerter = alerter
        self.outbox = AlertOutbox(ledger.table, alerter)
        self._capacity = capacity
        self._signal = signal
        # The routes file, or how to read it: wiring passes a reader, so a tracker reads (and imports pydantic
        # for) its routes only when a failure needs a retry policy, never at init (docs/decisions.md).
        self._routes = routes if callable(routes) else (lambda: routes)
        # Input outcome tags, written inline by the writer of a job's end; None (an operator's CLI): the sweeper
        # writes them once the claim's lease is over (tagging.py).
        self.tags = tags

    def apply(
        self, job: Job, update: StateUpdate, engine: Engine, event: EngineEvent | None, *, stop: bool = False
    ) -> Applied:
        """``stop``: stop the engine resource after recording the update, whatever it is (an operator's cancel)."""
        correlate(job.job_id)
        # An operator's cancel (``stop``) is theirs; a cancel the engine reports on a job past its deadline timed out.
        update, ended_by_engine = (update, False) if stop else _cancelled_past_deadline(job, update)
        inspection: Inspection | None = None
        actions: list[str] = []
        alerting = update.state in ALERTING_STATES
        if update.state.is_terminal and job.engine_id and event is not None:
            inspection = self._inspect(job, event, update, engine)
            if inspection and not update.reason_message and inspection.details.get("message"):
                # EMR Serverless events carry no details: what GetJobRun said is the reason (and the cause).
                update = replace(update, reason_message=str(inspection.details["message"]))
        # Only a failure consults its route (retry policy): other states skip reading the routes file.
        route = None
        if update.state is JobState.FAILED:
            from emr_dispatch.route_snapshots import route_of  # pydantic: only on a failure (tracker cold start)

            route = route_of(job, self._routes())
        retry = retries.decide(job, update, route)
        if retry is not None:
            return self._retry(job, update, retry, engine, inspection)
        final_words = retries.final_words(job, update, route)
        if final_words:
            actions.append(final_words)
        # A failed job's cluster is stopped if still alive; a timed-out job is always stopped (a job run
        # that is merely slow reports itself alive only to the engine).
        stop = (
            stop
            or bool(inspection and inspection.resource_alive and alerting)
            or (update.state is JobState.TIMED_OUT and not ended_by_engine)
        )
        if stop:
            # Recorded before terminating: the engine's own reason will only say USER_REQUEST.
            actions.append(f"terminating {job.engine_id}: job {update.state.value} ({update.reason_code})")
        moved = self._ledger.transition(
            job,
            update,
            failure=inspection.details if inspection else None,
            metrics=inspection.metrics if inspection else None,
            log_locations=inspection.log_locations if inspection else None,
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
        if stop:
            moved = self._record(moved, self._stop(moved, engine))
        if moved.state.is_terminal:
            _count_end(moved)
            moved = self._record(moved, self._housekeeping(moved, engine))
            if moved.slots:
                # The slots were given back in the terminal write itself (Ledger.transition): the route's
                # queue may start its next job.
                self._signal.slot_freed(moved.route)
        if moved.alert_pending:
            self.publish_alert(moved, engine)
        if moved.state.is_terminal and moved.tags_due and self.tags is not None:
            moved = self.tags.run(moved, tagging.INLINE_SECONDS)
        return Applied("moved", moved)

    def _retry(
        self, job: Job, update: StateUpdate, retry: Retry, engine: Engine, inspection: Inspection | None
    ) -> Applied:
        """Record the failed attempt and the next one (first), stop what is left of the failed attempt, ask
        for the next attempt after its backoff, then announce the retry — once, through the outbox."""
        alive = bool(inspection and inspection.resource_alive)
        actions = [retry.describe(job)]
        if alive:
            actions.append(f"terminating {job.engine_id}: attempt {job.attempt} failed ({update.reason_code})")
        moved = self._ledger.schedule_retry(
            job,
            update,
            retry,
            failure=inspection.details if inspection else None,
            log_locations=inspection.log_locations if inspection else engine.log_locations(job),
            console_link=engine.console_link(job),
            actions=actions,
        )
        if moved is None:
            logger.info("retry not scheduled: the attempt already moved on", job_id=job.job_id, attempt=job.attempt)
            return Applied("stale", job)
        metrics.count(metrics.JOBS_RETRIED, route=job.route, engine=job.engine)
        logger.warning(
            "job attempt failed: retrying",
            job_id=job.job_id,
            route=job.route,
            attempt=job.attempt,
            next_attempt=retry.attempt,
            cause=retry.cause,
            reason=update.reason_code,
            delay_seconds=retry.delay_seconds,
        )
        if alive:
            moved = self._record(moved, self._stop(job, engine))
        self._signal.start_job(moved.job_id, moved.attempt, retry.delay_seconds)
        if moved.alert_pending:
            self.publish_alert(moved, engine)
        return Applied("moved", moved)

    def publish_alert(self, job: Job, engine: Engine) -> None:
        """Publish a job's pending alert through the outbox (outbox.py); an SNS failure leaves it pending."""
        self.outbox.publish(job, engine)

    def publish_orphan(self, alert: Alert) -> None:
        message_id = self._alerter.publish(alert)
        logger.info("orphan alert published", engine_id=alert.engine_id, message_id=message_id)

    def _inspect(self, job: Job, event: EngineEvent, update: StateUpdate, engine: Engine) -> Inspection | None:
        """Details of a terminal update. A timeout is emr-dispatch's own decision: an engine that cannot be asked
        (the reason a sweep may be timing it out) delays neither the record nor the stop; any other end waits for
        them (its delivery fails and is retried)."""
        try:
            return engine.inspect(job, event, update)
        except EngineError as exc:
            if update.state is not JobState.TIMED_OUT:
                raise
            logger.warning("timed-out job not inspected", job_id=job.job_id, error=str(exc))
            return None

    def _stop(self, job: Job, engine: Engine) -> list[str]:
        try:
            engine.stop(job)
        except EngineError as exc:
            # Still alert (saying so); the sweeper terminates what is left behind.
            logger.error("cleanup failed", job_id=job.job_id, engine_id=job.engine_id, error=str(exc))
            return [f"could not terminate {job.engine_id}: {exc.code}"]
        return [f"terminated {job.engine_id}"]

    def _housekeeping(self, job: Job, engine: Engine) -> list[str]:
        try:
            return engine.on_terminal(job)
        except EngineError as exc:
            logger.error("housekeeping failed", job_id=job.job_id, engine=job.engine, error=str(exc))
            return [f"housekeeping failed: {exc.code}"]

    def _record(self, job: Job, actions: list[str]) -> Job:
        if actions:
            self._ledger.add_actions(job.job_id, actions)
            job.actions = [*job.actions, *actions]
        return job


def _cancelled_past_deadline(job: Job, update: StateUpdate) -> tuple[StateUpdate, bool]:
    """A run the engine cancelled past the job's deadline timed out (EMR Serverless cancels a run past its
    executionTimeoutMinutes: CANCELLING → CANCELLED). emr-dispatch records its own cancels and timeouts before
    stopping anything, so a CANCELLED that reaches a live job came from elsewhere. Returns the update to apply and
    whether the engine already ended the run (nothing left to stop)."""
    if update.state is not JobState.CANCELLED or job.timeout_minutes is None or job.submitted_at is None:
        return update, False
    deadline = job.deadline(job.timeout_minutes)
    if datetime.now(UTC) <= deadline:
        return update, False
    reason = (
        f"the engine cancelled the run ({update.reason_code or 'CANCELLED'}) after the job's timeout of "
        f"{job.timeout_minutes} min: it timed out"
    )
    return StateUpdate(JobState.TIMED_OUT, update.source, "TIMEOUT", reason, update.detail), True


def _count_end(job: Job) -> None:
    metrics.count(metrics.ENDED_METRICS[job.state.value], route=job.route, engine=job.engine)
    if job.submitted_at and job.ended_at:
        metrics.seconds(metrics.JOB_DURATION, seconds_between(job.submitted_at, job.ended_at), route=job.route)
