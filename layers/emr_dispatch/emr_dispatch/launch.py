"""Launching: what arrives on the arrivals queue becomes jobs.

An S3 arrival goes where its launch plan says (launch_plan.py: skip, join its route's batch, or a new job); a
control message (control.py) closes a batch, starts QUEUED jobs or a pending attempt, or carries an operator's
request: an ended job's next attempt (``emr-dispatch jobs retry``, ``replay --force``). Jobs are claimed and
started by starts.py (capacity, start rates, engine call, ledger), exactly once.
"""

from __future__ import annotations

import math
from typing import Any

from emr_dispatch import metrics
from emr_dispatch.arrivals import Arrival, TestEvent, load_json, parse_s3_event
from emr_dispatch.batches import Batches, ClosedBatch
from emr_dispatch.capacity import Capacity
from emr_dispatch.control import (
    CloseBatch,
    ControlMessageError,
    QueueSignal,
    RetryJob,
    StartJob,
    StartQueued,
    parse_control,
)
from emr_dispatch.engines.base import Engine
from emr_dispatch.inputs import ManifestInput
from emr_dispatch.jobs import Job, JobState, StateUpdate, job_id_for
from emr_dispatch.launch_plan import BATCH, START, batch_identity, batch_job, plan_arrival
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import arrival_context, clear_arrival_context, correlate, logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.pacing import StartPacer
from emr_dispatch.route_snapshots import ROUTE_REMOVED, route_of
from emr_dispatch.routes import Route, RoutesFile
from emr_dispatch.starts import LaunchResult, Starter
from emr_dispatch.timeutil import now_iso, seconds_between

__all__ = ["LaunchResult", "Launcher"]  # LaunchResult: what the launcher answers, defined with the starts


class Launcher(Starter):
    def __init__(
        self,
        routes: RoutesFile,
        ledger: Ledger,
        capacity: Capacity,
        batches: Batches,
        engines: dict[str, Engine],
        outcomes: OutcomeRecorder,
        work_bucket: str,
        pacer: StartPacer | None = None,
        signal: QueueSignal | None = None,
    ) -> None:
        super().__init__(routes, ledger, capacity, engines, outcomes, pacer, signal)
        self._work_bucket = work_bucket
        self._batches = batches

    def handle_message(self, body: str) -> list[LaunchResult]:
        """One SQS message body: an S3 event of either shape, or a control message."""
        return self.handle_event(load_json(body))

    def handle_event(self, event: Any) -> list[LaunchResult]:
        """An un-wrapped S3 event or control message (or an SQS message body, parsed)."""
        try:
            control = parse_control(event)
        except ControlMessageError as exc:
            logger.error("control message refused", kind=exc.kind, problem=exc.problem)
            raise
        if control is None:
            return [self.launch(item) for item in parse_s3_event(event)]
        clear_arrival_context()
        if isinstance(control, StartQueued):
            return self.start_queued(control.route)
        if isinstance(control, CloseBatch):
            return self.close_batch(control.batch_id)
        if isinstance(control, StartJob):
            return [self.start_job(control.job_id, control.attempt)]
        if isinstance(control, RetryJob):
            result = self.retry(control.job_id, control.requested_by)
            if result.status == "skipped" and control.request_id:
                self._ledger.record_refusal(control.job_id, control.request_id, result.reason)  # the asker's answer
            return [result]
        return self.replay(control.event, control.requested_by)

    def launch(self, item: Arrival | TestEvent) -> LaunchResult:
        """One arrival, as its launch plan says (launch_plan.py: the decision `routes explain` shows)."""
        metrics.count(metrics.ARRIVALS)
        if isinstance(item, Arrival):
            arrival_context(item.uri, item.version)
        plan = plan_arrival(item, self._routes, self._work_bucket)
        if plan.outcome == BATCH and plan.route is not None and isinstance(item, Arrival):
            return self._join_batch(item, plan.route)
        if plan.outcome == START and plan.route is not None and plan.job is not None:
            return self._admit(plan.job, plan.route, plan.uri)
        route = plan.route.name if plan.route else None
        if plan.remember and isinstance(item, Arrival):  # for `emr-dispatch jobs find`
            self._ledger.record_skip(item.to_record(), route, plan.reason, plan.marker_uri)
        return _skip(plan.reason, uri=plan.uri, route=route)

    def close_batch(self, batch_id: str) -> list[LaunchResult]:
        """Close a batch (full, its window ended, or the sweeper found it overdue) and admit its one job over
        the manifest. The batch is CLOSED only once that job is in the ledger: until then a redelivery (or the
        sweeper) closes it again, and the job's id, derived from the batch, makes that idempotent."""
        closed = self._batches.close(batch_id)
        if closed is None:
            return []
        manifest = ManifestInput(closed.manifest_bucket, closed.manifest_key, closed.count, closed.bytes)
        route = self._routes.get(closed.route)
        if route is None:
            result = self._fail_route_removed(closed, manifest)
        else:
            result = self._admit(batch_job(route, batch_id, manifest), route, closed.manifest_uri)
        self._batches.mark_closed(batch_id)
        return [result]

    def _fail_route_removed(self, closed: ClosedBatch, manifest: ManifestInput) -> LaunchResult:
        """A closing batch whose route was renamed or removed: its arrivals end in a job FAILED with reason
        ROUTE_REMOVED and one alert (``jobs find`` and ``replay`` reach them through the manifest), never
        logged and dropped."""
        engine_name = closed.engine if closed.engine in self._engines else next(iter(self._engines))
        now = now_iso()
        job = Job(
            job_id=job_id_for(closed.route, batch_identity(closed.batch_id)),
            route=closed.route,
            engine=engine_name,
            state=JobState.SUBMITTING,
            attempt=1,
            inputs=[manifest],
            created_at=now,
            updated_at=now,
        )
        correlate(job.job_id)
        claim = self._ledger.claim(job)
        held = job if claim else claim.held_by
        if held is None or held.state is not JobState.SUBMITTING or held.engine_id is not None:
            logger.info("closed batch's job already recorded", batch_id=closed.batch_id, job_id=job.job_id)
            return LaunchResult("duplicate", "the batch's job is already recorded", job.job_id, closed.route)
        logger.error("closed batch's route is gone from the routes file", batch_id=closed.batch_id, route=closed.route)
        reason = (
            f"route {closed.route!r} is gone from the routes file (renamed or removed) while batch "
            f"{closed.batch_id} was open: its {closed.count} inputs are listed in {closed.manifest_uri}"
        )
        update = StateUpdate(JobState.FAILED, "launcher", ROUTE_REMOVED, reason)
        applied = self._outcomes.apply(held, update, self._engines[engine_name], None)
        status = "failed" if applied.status == "moved" else "duplicate"
        return LaunchResult(status, ROUTE_REMOVED, job.job_id, closed.route, closed.manifest_uri)

    def _join_batch(self, item: Arrival, route: Route) -> LaunchResult:
        joined = self._batches.join(item, route.name, route.batching, route.engine)
        if joined.status == "duplicate":
            metrics.count(metrics.DUPLICATE_ARRIVALS, route=route.name, engine=route.engine)
            logger.info("duplicate arrival", batch_id=joined.batch_id, route=route.name, uri=item.uri)
            return LaunchResult("duplicate", "already in a batch", None, route.name, item.uri)
        if joined.full:
            self.close_batch(joined.batch_id)
        return LaunchResult("batched", joined.batch_id, None, route.name, item.uri)

    def retry(self, job_id: str, requested_by: str = "operator") -> LaunchResult:
        """An operator's new attempt of an ended job, same inputs (``emr-dispatch jobs retry``), started like a
        queued job: the route's caps hold (over a cap it waits QUEUED). The move to the next attempt is one
        conditional write on the attempt seen, so a request delivered twice starts one attempt."""
        correlate(job_id)
        job = self._ledger.get(job_id)
        if job is None:
            logger.warning("retry of an unknown job", job_id=job_id, requested_by=requested_by)
            return LaunchResult("skipped", "no such job", job_id)
        route = route_of(job, self._routes)
        uri = job.input_uris[0] if job.input_uris else ""
        if route is None:
            logger.error("retried job's route is gone from the routes file", job_id=job_id, route=job.route)
            return LaunchResult("skipped", f"route {job.route} is not in the routes file", job_id, job.route, uri)
        if not job.state.is_terminal:
            return LaunchResult("skipped", f"job is {job.state.value}: only an ended job is retried", job_id, job.route)
        if job.alert_pending:
            # A new attempt clears the outbox: its end's alert would never go out. The next sweep resends it.
            return LaunchResult("skipped", "the job's alert is not yet published: retry after that", job_id, job.route)
        self._capacity.queue_names.add(job.route)  # before the job is QUEUED under it (queue_names.py)
        queued = self._ledger.begin_attempt(job, f"retry requested by {requested_by}")
        if queued is None:
            return LaunchResult("duplicate", "the job moved meanwhile (another retry?)", job_id, job.route, uri)
        logger.info("job retried", job_id=job_id, route=job.route, attempt=queued.attempt, requested_by=requested_by)
        taken = self._capacity.start_queued(queued, self._caps(route))
        if taken is None:
            metrics.count(metrics.JOBS_QUEUED, route=route.name, engine=route.engine)
            return LaunchResult("queued", "capacity cap reached or route paused", job_id, route.name, uri)
        return self._paced_start(taken, route, self._engines[route.engine], uri, behind_backlog=True)

    def replay(self, event: Any, requested_by: str = "operator") -> list[LaunchResult]:
        """Arrivals launched as usual, except that an object whose job already ended gets a new attempt
        (``replay --force``); a job still running is never started twice."""
        results = []
        for item in parse_s3_event(event):
            result = self.launch(item)
            if result.status == "duplicate" and result.job_id:
                held = self._ledger.get(result.job_id)
                if held is not None and held.state.is_terminal:
                    result = self.retry(result.job_id, f"{requested_by} (replay --force)")
            results.append(result)
        return results

    def start_job(self, job_id: str, attempt: int) -> LaunchResult:
        """Start an attempt whose start is pending: a retry after its backoff, or one the sweeper found
        abandoned. Two deliveries of the request race for one conditional write; the loser starts nothing."""
        job = self._ledger.get(job_id) if job_id else None
        if job is None:
            logger.error("start requested for a job the ledger does not hold", job_id=job_id, attempt=attempt)
            return LaunchResult("skipped", "no such job", job_id or None)
        route = route_of(job, self._routes)
        uri = job.input_uris[0] if job.input_uris else ""
        if job.state is not JobState.SUBMITTING or job.attempt != attempt or job.engine_id is not None:
            logger.info("start request changes nothing", job_id=job_id, attempt=attempt, state=job.state.value)
            return LaunchResult("duplicate", "the attempt is no longer waiting to start", job_id, job.route, uri)
        if job.retry_at and job.retry_at > now_iso():
            # Early: a backoff longer than SQS's longest delay (900 s), or a request sent again. The rest of the
            # wait is asked for, so the retry starts on time rather than at the sweeper's next pass.
            wait = math.ceil(seconds_between(now_iso(), job.retry_at))
            self._require_signal().start_job(job_id, attempt, wait)
            logger.info("start requested before the retry is due", job_id=job_id, retry_at=job.retry_at, wait=wait)
            return LaunchResult("skipped", "retry not due yet", job_id, job.route, uri, retry_after=wait)
        # A retry's attempt nobody has taken yet may start; any other pending start only once abandoned
        # (a launcher may be inside the engine call right now).
        if not ((job.retry_at is not None and job.starting_at is None) or job.start_abandoned):
            logger.info("duplicate start request", job_id=job_id, attempt=attempt)
            return LaunchResult("duplicate", "another delivery is starting this attempt", job_id, job.route, uri)
        if route is None:
            return self._route_removed(job, uri)
        result = self._resume(job, route, self._engines[route.engine], uri, f"starting attempt {attempt}")
        if result is None:
            return LaunchResult("duplicate", "another delivery is starting this attempt", job_id, job.route, uri)
        return result


def _skip(reason: str, uri: str, route: str | None = None) -> LaunchResult:
    metrics.count(metrics.ARRIVALS_SKIPPED, reason=metrics.skip_reason(reason))
    logger.info("arrival skipped", reason=reason, uri=uri, route=route)
    return LaunchResult("skipped", reason, route=route, uri=uri)
