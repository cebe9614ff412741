"""Sweeping: engine events are best effort, so on a schedule the sweeper asks the engines what happened.

Timeouts first, decided from the ledger before any engine call: every active job past its own deadline (from
its route snapshot), the most overdue first and whatever the budget, is recorded TIMED_OUT and stopped, unless
the engine says it already ended (then that end is recorded). Then, within a per-run budget of engine calls,
every other active job gets what the engine says now, through the same state machine the tracker uses. It
ends the waiting work of removed routes (ROUTE_REMOVED), resends alerts whose publisher died, asks the launcher
to start QUEUED jobs, stops orphans (clusters and job runs named as emr-dispatch's that the ledger does not know
or holds as ended; each alerted once, remembered in the ledger), asks again for attempts whose start request
was lost, and audits capacity counters against their slot items. It owns the batches no message will close: an
OPEN or CLOSING batch past its deadline (its close-batch message never sent, lost, or its invocation dead) is
closed through the launcher's own close path — the sweeper sends the close-batch control message (it may not
write manifests or start engines itself).

Each item is isolated: a failure (an engine, the ledger, SNS) is logged, counted (SweepItemFailures, alarmed)
and never stops the rest; the next sweep tries it again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from emr_dispatch import metrics, tagging
from emr_dispatch.capacity import ALL_ROUTES, Capacity
from emr_dispatch.control import QueueSignal
from emr_dispatch.engines.base import Engine, EngineEvent, RunningResource
from emr_dispatch.errors import EmrDispatchError, EngineError
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import logger
from emr_dispatch.orphans import OrphanMemory
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.route_snapshots import ROUTE_REMOVED, route_removed_message
from emr_dispatch.routes import RoutesFile
from emr_dispatch.sweep_orphans import OrphanSweep
from emr_dispatch.sweep_pace import ORPHAN_SEARCH_SECONDS, DescribePacer
from emr_dispatch.sweep_starts import PendingStarts
from emr_dispatch.timeutil import epoch_now, parse_iso, utc_now

if TYPE_CHECKING:
    from emr_dispatch.batches import Batches, WaitingBatch

DEFAULT_BUDGET = 60
"""Jobs described per sweep, beyond the overdue ones: at two EMR calls each, well inside DescribeCluster's 1/s and
ListSteps' 0.5/s refill over a five-minute schedule, shared with the tracker."""
SWEEP_PERIOD_SECONDS = 300
"""The sweeper's schedule (template.yaml: rate(5 minutes))."""
DEFAULT_TIMEOUT_MINUTES = 120
"""The timeout of a job created before jobs carried their route's (Route.timeout_minutes' default)."""

T = TypeVar("T")
_ISOLATED = (EmrDispatchError, ClientError, BotoCoreError)
"""Failures of one item the sweep expects and outlives: logged, counted, tried again next run."""


@dataclass
class SweepReport:
    examined: int = 0
    moved: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    alerts_resent: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    starts_requested: list[str] = field(default_factory=list)
    starts_abandoned: list[str] = field(default_factory=list)  # pending starts ended after MAX_START_REQUESTS
    counters_corrected: list[str] = field(default_factory=list)
    route_removed: list[str] = field(default_factory=list)
    batches_closed: list[str] = field(default_factory=list)  # overdue batches whose close was asked for
    tags_resumed: list[str] = field(default_factory=list)  # ended jobs whose input tags this sweep wrote on
    errors: list[str] = field(default_factory=list)
    budget_exhausted: bool = False
    queued_waiting: bool = False


class Sweeper:
    def __init__(
        self,
        routes: RoutesFile,
        ledger: Ledger,
        engines: dict[str, Engine],
        outcomes: OutcomeRecorder,
        signal: QueueSignal,
        capacity: Capacity,
        budget: int = DEFAULT_BUDGET,
        orphans: OrphanMemory | None = None,
        batches: Batches | None = None,
    ) -> None:
        self._batches = batches
        self._routes = routes
        self._ledger = ledger
        self._capacity = capacity
        self._engines = engines
        self._outcomes = outcomes
        self._signal = signal
        self._budget = budget
        self._orphan_sweep = OrphanSweep(routes, ledger, outcomes, orphans)
        self._pending_starts = PendingStarts(ledger, signal, outcomes, engines)

    @property
    def orphan_memory(self) -> OrphanMemory | None:
        return self._orphan_sweep.memory

    def sweep(self, now: datetime | None = None) -> SweepReport:
        now = now or utc_now()
        report = SweepReport()
        active = self._isolated(report, "ledger", "active jobs", self._active_jobs) or []
        # Deadlines from the ledger, before any engine call: overdue jobs, the most overdue first, are timed out
        # whatever the job budget (a describe that fails does not keep one alive), paced as every describe is and
        # within the reconcile time: what does not fit is timed out by the next run, most overdue first.
        overdue = sorted((job for job in active if now > self._deadline(job)), key=self._deadline)
        pacer = DescribePacer(self._engines)
        for job in overdue:
            if not pacer.wait_for(job.engine, job):
                report.budget_exhausted = True  # this engine's overdue jobs wait for the next run
                continue
            self._isolated(report, "timeout", job.job_id, partial(self._time_out, job, now, report))
        # Then the others, oldest first, within the budget: the ones most likely to have lost their events.
        late = {job.job_id for job in overdue}
        for job in sorted((job for job in active if job.job_id not in late), key=lambda job: job.created_at):
            if report.examined >= self._budget:
                report.budget_exhausted = True
                break
            if not pacer.wait_for(job.engine, job):
                report.budget_exhausted = True  # this engine's describes wait for the next run
                continue
            report.examined += 1
            self._isolated(report, "reconcile", job.job_id, partial(self._reconcile, job, report))
        # The recovery work next (each item cheap, and each the owner of records that wait: DESIGN.md invariant 8),
        # then the orphan search, whose paced calls could otherwise keep them from running in the Lambda's time.
        self._resend_alerts(report)
        self._close_overdue_batches(now, report)
        submitting = self._isolated(report, "ledger", "submitting jobs", self._submitting) or []
        self._pending_starts.ask_again(submitting, report, self._isolated)
        holding = [*active, *submitting]
        self._isolated(report, "audit", "capacity", lambda: self._audit(report, holding))
        self._isolated(report, "queued", "queued jobs", lambda: self._queued(report))
        self._resume_tags(report)
        self._stop_orphans(report)
        logger.info(
            "sweep done",
            examined=report.examined,
            moved=len(report.moved),
            timed_out=len(report.timed_out),
            alerts_resent=len(report.alerts_resent),
            starts_requested=len(report.starts_requested),
            starts_abandoned=len(report.starts_abandoned),
            counters_corrected=report.counters_corrected,
            route_removed=len(report.route_removed),
            batches_closed=len(report.batches_closed),
            tags_resumed=len(report.tags_resumed),
            errors=len(report.errors),
            budget_exhausted=report.budget_exhausted,
        )
        return report

    def _isolated(self, report: SweepReport, item: str, subject: str, action: Callable[[], T]) -> T | None:
        """Run one item of the sweep; an expected failure (an engine, the ledger, SNS, SQS) is logged, counted and
        kept from stopping the others. Anything else is a defect: it propagates (the invocation fails, alarmed)."""
        try:
            return action()
        except _ISOLATED as exc:
            code = str(getattr(exc, "code", "")) or type(exc).__name__
            logger.error("sweep item failed", item=item, subject=subject, error=str(exc), code=code)
        metrics.count(metrics.SWEEP_ITEM_FAILURES, item=item)
        report.errors.append(f"{item} {subject}: {code}")
        return None

    def _active_jobs(self) -> list[Job]:
        return [job for state in (JobState.RUNNING, JobState.SUBMITTED) for job in self._ledger.list_jobs(state)]

    def _submitting(self) -> list[Job]:
        return list(self._ledger.list_jobs(JobState.SUBMITTING))

    def _deadline(self, job: Job) -> datetime:
        if job.timeout_minutes is None:  # created before jobs carried their route's timeout
            route = self._routes.get(job.route)
            return job.deadline(route.timeout_minutes if route else DEFAULT_TIMEOUT_MINUTES)
        return job.deadline(job.timeout_minutes)

    def _describe(self, job: Job, engine: Engine) -> EngineEvent | None:
        try:
            return engine.describe(job)
        except EngineError as exc:
            metrics.engine_error(job.engine, exc.code)
            raise

    def _reconcile(self, job: Job, report: SweepReport) -> None:
        engine = self._engines[job.engine]
        truth = self._describe(job, engine)
        if truth is not None:
            self._ledger.record_steps(job, truth.steps)  # lost step events: the list says where each step is
        update = engine.interpret(truth, job) if truth is not None else None
        if update is not None and update.state.can_follow(job.state):
            applied = self._outcomes.apply(job, _from_sweep(update), engine, truth)
            if applied.status == "moved":
                report.moved.append(job.job_id)

    def _time_out(self, job: Job, now: datetime, report: SweepReport) -> None:
        """An overdue job: the engine's end if it already ended (an event lost), TIMED_OUT otherwise, also when
        the engine cannot be asked."""
        engine = self._engines[job.engine]
        try:
            truth = self._describe(job, engine)
        except EngineError as exc:
            logger.warning("overdue job not described: timing it out", job_id=job.job_id, error=str(exc))
            truth = None
        if truth is not None:
            self._ledger.record_steps(job, truth.steps)
        update = engine.interpret(truth, job) if truth is not None else None
        if update is not None and update.state.is_terminal and update.state.can_follow(job.state):
            applied = self._outcomes.apply(job, _from_sweep(update), engine, truth)
            if applied.status == "moved":
                report.moved.append(job.job_id)
                if applied.job.state is JobState.TIMED_OUT:
                    report.timed_out.append(job.job_id)
            return
        minutes = round((self._deadline(job) - parse_submitted(job)).total_seconds() / 60)
        reason = f"running longer than its route's timeout of {minutes} min"
        timeout = StateUpdate(JobState.TIMED_OUT, "sweeper", "TIMEOUT", reason)
        applied = self._outcomes.apply(job, timeout, engine, truth or _no_event(job))
        if applied.status == "moved":
            report.timed_out.append(job.job_id)

    def _stop_orphans(self, report: SweepReport) -> None:
        """Resources named as emr-dispatch's that no live job owns: stopped on every sweep that sees them, alerted
        once (remembered in the ledger)."""
        memory = self._orphan_sweep.memory
        marks = self._isolated(report, "ledger", "orphan search marks", memory.search_marks) if memory else None
        left = dict(marks or {})
        ends = epoch_now() + ORPHAN_SEARCH_SECONDS
        engines = list(self._engines.values())
        found: list[tuple[Engine, RunningResource]] = []
        for index, engine in enumerate(engines):
            # Each engine an equal share of what is left, so one busy listing never starves the others' searches.
            until = epoch_now() + (ends - epoch_now()) / (len(engines) - index)
            running = self._isolated(report, "orphans", engine.name, partial(engine.list_running, until, left))
            found += [(engine, resource) for resource in running or []]
        if memory is not None and marks is not None and left != marks:
            # Saved before the stops (paced, maybe many): a sweep that runs out of time still goes on next run.
            self._isolated(report, "ledger", "orphan search marks", partial(memory.save_search_marks, left))
        for engine, resource in found:
            self._isolated(
                report, "orphan", resource.engine_id, partial(self._orphan_sweep.stop, engine, resource, report)
            )

    def _audit(self, report: SweepReport, holding: list[Job]) -> None:
        """Capacity counters checked against the slot items they count (a strongly consistent count; a
        correction applies only if no slot moved meanwhile). Slots move only with their job's state, in one
        transaction, so a difference means an item edited by hand or written before slot items existed.

        Counted only when a counter disagrees with the slots of the active jobs this sweep listed (one read of every
        counter): a counter that agrees is right for what it is for, the cap (a slot item no job holds is released
        by the next count, which it does not change). A counter that says more or less than the jobs holding it is
        counted in the same sweep, as every counter was before (the listing lags a little: a false alarm costs only
        that count)."""
        counters = [route.name for route in self._routes.routes if route.max_concurrent is not None]
        if self._routes.max_concurrent_jobs is not None:
            counters.append(ALL_ROUTES)
        if not counters:
            return
        # A job this sweep moved (ended: its slots given back) counts as holding or not: either agrees.
        moved = {*report.moved, *report.timed_out}
        held = Counter(counter for job in holding if job.job_id not in moved for counter in job.slots)
        maybe = Counter(counter for job in holding if job.job_id in moved for counter in job.slots)
        active = self._capacity.counted(counters)
        counters = [c for c in counters if not held[c] <= active[c] <= held[c] + maybe[c]]
        if counters:
            report.counters_corrected = self._capacity.audit(counters)

    def _close_overdue_batches(self, now: datetime, report: SweepReport) -> None:
        """OPEN or CLOSING batches past their deadline: their close-batch message was never sent or was lost,
        or the invocation closing them died. The launcher is asked to close each (idempotent), at most once per
        grace period; each batch is an isolated item."""
        batches = self._batches
        if batches is None:
            return
        overdue = self._isolated(report, "ledger", "overdue batches", lambda: list(batches.overdue(now))) or []
        for batch in overdue:
            self._isolated(report, "batch", batch.batch_id, partial(self._close_overdue, batches, batch, now, report))

    def _close_overdue(self, batches: Batches, batch: WaitingBatch, now: datetime, report: SweepReport) -> None:
        if not batches.take_overdue(batch, now):
            return  # closed meanwhile, or another sweep took it
        self._signal.close_batch(batch.batch_id)
        metrics.count(metrics.BATCHES_OVERDUE, route=batch.route)
        logger.warning(
            "overdue batch: close requested",
            batch_id=batch.batch_id,
            route=batch.route,
            state=batch.state,
            close_by=batch.close_by,
            close_requests=batch.close_requests + 1,
        )
        report.batches_closed.append(batch.batch_id)

    def _queued(self, report: SweepReport) -> None:
        """QUEUED jobs: those of a removed route end ROUTE_REMOVED here (no start request would ever start them);
        if others wait, the launcher is asked to start what the caps allow. Read in proportion to the routes: the
        names of every route that ever queued a job (one item, queue_names.py), the queue of each name the routes
        file lacks, and one item of each route's queue; the whole QUEUED partition only while the ledger may hold
        jobs queued before the names existed."""
        names = self._capacity.queue_names
        began = epoch_now()
        seen = names.read()
        current = [route.name for route in self._routes.routes]
        if not seen.complete:
            waiting, queued_under = False, set()
            for job in self._ledger.list_jobs(JobState.QUEUED):
                queued_under.add(job.route)
                if self._routes.get(job.route) is not None:
                    waiting = True
                    continue
                self._isolated(report, "route-removed", job.job_id, partial(self._route_removed, job, report))
            names.full_read_done(queued_under, began)
        else:
            for name in seen.outside(current):
                for job in self._capacity.all_queued(name):
                    self._isolated(report, "route-removed", job.job_id, partial(self._route_removed, job, report))
            # A route absent from the (complete, just read) names never queued a job: nothing to look for.
            waiting = any(self._capacity.waiting(name) for name in current if name in seen.names)
        if waiting:
            report.queued_waiting = True
            self._signal.slot_freed("*")

    def _route_removed(self, job: Job, report: SweepReport) -> None:
        update = StateUpdate(JobState.FAILED, "sweeper", ROUTE_REMOVED, route_removed_message(job))
        applied = self._outcomes.apply(job, update, self._engines[job.engine], None)
        if applied.status == "moved":
            report.route_removed.append(job.job_id)
            logger.error("route removed: queued job not started", job_id=job.job_id, route=job.route)

    def _resend_alerts(self, report: SweepReport) -> None:
        """Alerts left pending by a publisher that died (its claim older than the lease): a failure's, or a
        retry's notice on a job waiting for its next attempt."""
        pending = self._isolated(report, "ledger", "pending alerts", lambda: list(self._outcomes.outbox.pending()))
        for job in pending or []:
            if self._isolated(report, "alert", job.job_id, partial(self._resend, job)):
                report.alerts_resent.append(job.job_id)

    def _resend(self, job: Job) -> bool:
        return self._outcomes.outbox.resend(job, self._engines[job.engine])

    def _resume_tags(self, report: SweepReport) -> None:
        """Input tags released by their writer or left by one that died, within tagging.SWEEP_SECONDS."""
        tags = self._outcomes.tags
        if tags is None:
            return
        pending = self._isolated(report, "ledger", "pending input tags", lambda: list(tags.pending())) or []
        ends = time.monotonic() + tagging.SWEEP_SECONDS
        for job in pending:
            left = ends - time.monotonic()
            if left <= 0:
                break
            claimed = self._isolated(report, "tags", job.job_id, partial(tags.claim, job))
            if claimed is not None:
                self._isolated(report, "tags", job.job_id, partial(tags.run, claimed, left))
                report.tags_resumed.append(job.job_id)


def _from_sweep(update: StateUpdate) -> StateUpdate:
    return StateUpdate(
        update.state, f"sweeper: {update.source}", update.reason_code, update.reason_message, update.detail
    )


def parse_submitted(job: Job) -> datetime:
    return parse_iso(job.submitted_at or job.created_at)


def _no_event(job: Job) -> EngineEvent:
    return EngineEvent(engine=job.engine, engine_id=job.engine_id or "", kind="sweep", state="")
