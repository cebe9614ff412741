"""Sweeping: engine events are best effort, so on a schedule the sweeper asks the engines what happened.

For every job that is not terminal (within a per-run budget of engine calls): apply what the engine says
now, through the same state machine the tracker uses; past its route's timeout, record TIMED_OUT and the
reason first, then stop it. It also resends alerts whose publisher died, and asks the launcher to start
QUEUED jobs (their slots may have been freed by a job whose end only the sweep saw), and stops orphans:
clusters and job runs named as emr-dispatch's that the ledger does not know or holds as ended. It asks
again for attempts whose start request was lost, and recounts capacity counters a crash left too high. It
owns the batches no message will close: an OPEN or CLOSING batch past its deadline (its close-batch message
never sent, lost, or its invocation dead) is closed through the launcher's own close path — the sweeper sends
the close-batch control message (it may not write manifests or start engines itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from emr_dispatch import metrics
from emr_dispatch.alerts import Alert
from emr_dispatch.capacity import ALL_ROUTES, Capacity
from emr_dispatch.control import QueueSignal
from emr_dispatch.engines.base import Engine, EngineEvent, RunningResource, job_id_candidates
from emr_dispatch.errors import EmrDispatchError, EngineError
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.ledger import Ledger, alert_lease_cutoff
from emr_dispatch.observability import logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import RoutesFile
from emr_dispatch.timeutil import iso_seconds_ago

if TYPE_CHECKING:
    from emr_dispatch.batches import Batches

DEFAULT_BUDGET = 60
"""Jobs described per sweep: at two EMR calls each, well inside DescribeCluster's 1/s and ListSteps' 0.5/s
refill over a five-minute schedule, shared with the tracker."""
RETRY_GRACE_SECONDS = 60
"""A retry this far past its time that no launcher took had its start request lost."""


@dataclass
class SweepReport:
    examined: int = 0
    moved: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    alerts_resent: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    starts_requested: list[str] = field(default_factory=list)
    counters_corrected: list[str] = field(default_factory=list)
    batches_closed: list[str] = field(default_factory=list)  # overdue batches whose close was asked for
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

    def sweep(self, now: datetime | None = None) -> SweepReport:
        now = now or datetime.now(UTC)
        report = SweepReport()
        # Oldest first: the jobs most likely to have lost their events or to be past their timeout.
        active = [job for state in (JobState.RUNNING, JobState.SUBMITTED) for job in self._ledger.list_jobs(state)]
        for job in sorted(active, key=lambda job: job.created_at):
            if report.examined >= self._budget:
                report.budget_exhausted = True
                break
            report.examined += 1
            try:
                self._reconcile(job, now, report)
            except EngineError as exc:
                metrics.engine_error(job.engine, exc.code)
                # One unreachable resource must not stop the sweep of the others; it is tried next run.
                logger.error("sweep of job failed", job_id=job.job_id, engine=job.engine, error=str(exc))
                report.errors.append(f"{job.job_id}: {exc.code}")
        self._stop_orphans(report)
        self._resend_alerts(report)
        self._close_overdue_batches(now, report)
        submitting = list(self._ledger.list_jobs(JobState.SUBMITTING))  # read once: lost starts, then recount
        self._pending_starts(submitting, report)
        self._recount(submitting, report)
        if any(True for _ in self._ledger.list_jobs(JobState.QUEUED)):
            report.queued_waiting = True
            self._signal.slot_freed("*")
        logger.info(
            "sweep done",
            examined=report.examined,
            moved=len(report.moved),
            timed_out=len(report.timed_out),
            alerts_resent=len(report.alerts_resent),
            starts_requested=len(report.starts_requested),
            counters_corrected=report.counters_corrected,
            batches_closed=len(report.batches_closed),
            errors=len(report.errors),
            budget_exhausted=report.budget_exhausted,
        )
        return report

    def _reconcile(self, job: Job, now: datetime, report: SweepReport) -> None:
        engine = self._engines[job.engine]
        truth = engine.describe(job)
        update = engine.interpret(truth, job) if truth is not None else None
        if update is not None and update.state.can_follow(job.state):
            applied = self._outcomes.apply(job, _from_sweep(update), engine, truth)
            if applied.status == "moved":
                report.moved.append(job.job_id)
                if applied.job.state.is_terminal:
                    return
                job = applied.job
        route = self._routes.get(job.route)
        if route is None or not _past(job, route.timeout_minutes, now):
            return
        reason = f"running longer than the route's timeout of {route.timeout_minutes} min"
        timeout = StateUpdate(JobState.TIMED_OUT, "sweeper", "TIMEOUT", reason)
        applied = self._outcomes.apply(job, timeout, engine, truth or _no_event(job))
        if applied.status == "moved":
            report.timed_out.append(job.job_id)

    def _stop_orphans(self, report: SweepReport) -> None:
        """Resources named as emr-dispatch's that no live job owns: stopped, then alerted once (a stopped
        resource is not listed as running again)."""
        for engine in self._engines.values():
            try:
                running = engine.list_running()
            except EngineError as exc:
                logger.error("orphan search failed", engine=engine.name, error=str(exc))
                report.errors.append(f"{engine.name} orphan search: {exc.code}")
                continue
            for resource in running:
                job, why = self._owner(resource)
                if why is None:
                    continue
                try:
                    engine.stop_resource(resource)
                    actions = [f"stopped {resource.engine_id}"]
                except EngineError as exc:
                    actions = [f"could not stop {resource.engine_id}: {exc.code}"]
                logger.warning("orphan found", engine=engine.name, engine_id=resource.engine_id, why=why)
                self._outcomes.publish_orphan(Alert.for_orphan(resource, job, why, actions))
                report.orphans.append(resource.engine_id)

    def _owner(self, resource: RunningResource) -> tuple[Job | None, str | None]:
        """The job a running resource belongs to, and why it is an orphan (None: it is not)."""
        parsed = resource.job_id_and_attempt
        if parsed is None:
            return None, None  # named like ours but not in our format: not ours to stop
        named_job_id, attempt = parsed
        job = self._job_named(named_job_id)
        if job is None:
            return None, "the ledger has no job of this name"
        if attempt < job.attempt:
            return job, f"it runs attempt {attempt}; the job is at attempt {job.attempt}"
        if job.state.is_terminal:
            return job, f"its job already ended {job.state.value}"
        if job.engine_id is None:
            return job, None  # the launcher is still recording it (or will recover it by name)
        if job.engine_id != resource.engine_id:
            return job, f"its job runs on {job.engine_id}, not on this one"
        return job, None

    def _job_named(self, named_job_id: str) -> Job | None:
        """The job a resource name stands for; a name the engine's length limit made shorter (EMR on EKS) is
        looked up under each route its kept route part may belong to (engines.base.resource_name)."""
        route_names = [route.name for route in self._routes.routes]
        for job_id in job_id_candidates(named_job_id, route_names):
            job = self._ledger.get(job_id)
            if job is not None:
                return job
        return None

    def _pending_starts(self, submitting: list[Job], report: SweepReport) -> None:
        """Attempts waiting to start whose request was lost: a retry past its time that nobody took, or a
        start abandoned by a dead invocation. The launcher is asked again; starting is idempotent."""
        due_before = iso_seconds_ago(RETRY_GRACE_SECONDS)
        for job in submitting:
            if job.engine_id is not None:
                continue
            retry_overdue = job.retry_at is not None and job.starting_at is None and job.retry_at < due_before
            if retry_overdue or job.start_abandoned:
                self._signal.start_job(job.job_id, job.attempt)
                report.starts_requested.append(job.job_id)
                logger.warning("pending start requested again", job_id=job.job_id, attempt=job.attempt)

    def _recount(self, submitting: list[Job], report: SweepReport) -> None:
        """Capacity counters recounted from the jobs holding slots (a release lost to a crash), read after
        this sweep's own moves."""
        counters = [route.name for route in self._routes.routes if route.max_concurrent is not None]
        if self._routes.max_concurrent_jobs is not None:
            counters.append(ALL_ROUTES)
        if not counters:
            return
        held = dict.fromkeys(counters, 0)
        started = (job for state in (JobState.SUBMITTED, JobState.RUNNING) for job in self._ledger.list_jobs(state))
        for job in [*submitting, *started]:  # ACTIVE_STATES: every state in which a job holds its slots
            for counter in job.slots:
                if counter in held:
                    held[counter] += 1
        report.counters_corrected = self._capacity.recount(held)

    def _close_overdue_batches(self, now: datetime, report: SweepReport) -> None:
        """OPEN or CLOSING batches past their deadline: their close-batch message was never sent or was lost,
        or the invocation closing them died. The launcher is asked to close each (idempotent), at most once per
        grace period; one batch that cannot be taken or asked for is logged and never stops the others."""
        if self._batches is None:
            return
        try:
            overdue = list(self._batches.overdue(now))
        except EmrDispatchError as exc:
            logger.error("overdue batch search failed", error=str(exc))
            report.errors.append(f"overdue batches: {exc}")
            return
        for batch in overdue:
            try:
                if not self._batches.take_overdue(batch, now):
                    continue
                self._signal.close_batch(batch.batch_id)
            except EmrDispatchError as exc:
                logger.error("overdue batch not closed", batch_id=batch.batch_id, error=str(exc))
                report.errors.append(f"{batch.batch_id}: {exc}")
                continue
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

    def _resend_alerts(self, report: SweepReport) -> None:
        """Alerts left pending by a publisher that died (its claim older than the lease): a failure's, or a
        retry's notice on a job waiting for its next attempt."""
        for job in self._ledger.pending_alerts(alert_lease_cutoff()):
            claimed = self._ledger.claim_pending_alert(job.job_id)
            if claimed is not None:
                self._outcomes.publish_alert(claimed, self._engines[claimed.engine])
                report.alerts_resent.append(job.job_id)


def _from_sweep(update: StateUpdate) -> StateUpdate:
    return StateUpdate(
        update.state, f"sweeper: {update.source}", update.reason_code, update.reason_message, update.detail
    )


def _past(job: Job, timeout_minutes: int, now: datetime) -> bool:
    """Past the timeout counted from submission: time spent QUEUED waiting for a slot does not count."""
    started = datetime.fromisoformat((job.submitted_at or job.created_at).replace("Z", "+00:00"))
    return now > started + timedelta(minutes=timeout_minutes)


def _no_event(job: Job) -> EngineEvent:
    return EngineEvent(engine=job.engine, engine_id=job.engine_id or "", kind="sweep", state="")
