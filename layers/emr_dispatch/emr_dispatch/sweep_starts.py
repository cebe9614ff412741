"""Attempts waiting to start whose start request was lost (the sweeper's part): a retry past its time that no
launcher took, or a start abandoned by a dead invocation or left unresolved. The launcher is asked again, each
request counted on the attempt; an attempt still pending after MAX_START_REQUESTS requests ends FAILED
START_ABANDONED, its deadline (DESIGN.md invariant 8)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from emr_dispatch import jobs
from emr_dispatch.engines.base import Engine
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.timeutil import iso_seconds_ago

if TYPE_CHECKING:
    from emr_dispatch.control import QueueSignal
    from emr_dispatch.sweep import SweepReport

RETRY_GRACE_SECONDS = 60
"""A retry this far past its time that no launcher took had its start request lost."""

Isolated = Callable[["SweepReport", str, str, Callable[[], Any]], Any]
"""The sweeper's isolation of one item (Sweeper._isolated): a failure is logged and counted, never stops the rest."""


class PendingStarts:
    def __init__(
        self, ledger: Ledger, signal: QueueSignal, outcomes: OutcomeRecorder, engines: Mapping[str, Engine]
    ) -> None:
        self._ledger = ledger
        self._signal = signal
        self._outcomes = outcomes
        self._engines = engines

    def ask_again(self, submitting: list[Job], report: SweepReport, isolated: Isolated) -> None:
        """Attempts waiting to start whose request was lost: a retry past its time that nobody took, or a
        start abandoned by a dead invocation or left unresolved (its lookup throttled or out of time). The launcher
        is asked again; starting is idempotent (a removed route's attempt ends ROUTE_REMOVED there). Each request is
        counted on the attempt; one still pending after MAX_START_REQUESTS of them ends FAILED START_ABANDONED
        (its deadline: DESIGN.md invariant 8)."""
        due_before = iso_seconds_ago(RETRY_GRACE_SECONDS)
        for job in submitting:
            if job.engine_id is not None:
                continue
            retry_overdue = job.retry_at is not None and job.starting_at is None and job.retry_at < due_before
            if not (retry_overdue or job.start_abandoned):
                continue
            if job.start_requests >= jobs.MAX_START_REQUESTS:
                isolated(report, "pending-start", job.job_id, partial(self._give_up_start, job, report))
                continue
            sent = isolated(report, "pending-start", job.job_id, partial(self._request_start, job))
            if sent:
                report.starts_requested.append(job.job_id)
                logger.warning(
                    "pending start requested again",
                    job_id=job.job_id,
                    attempt=job.attempt,
                    requests=job.start_requests + 1,
                )

    def _request_start(self, job: Job) -> bool:
        if not self._ledger.ask_start_again(job):
            return False  # taken in hand or started since it was read
        self._signal.start_job(job.job_id, job.attempt)
        return True

    def _give_up_start(self, job: Job, report: SweepReport) -> None:
        """An attempt whose start was asked for MAX_START_REQUESTS times and is still neither started nor ruled out:
        FAILED START_ABANDONED, alerted once, its slots given back. Not retried automatically: a cluster its start
        call may have created is still named and tagged for this attempt, so the orphan search stops it (its job
        ended), while a new attempt could run the same inputs beside it; ``emr-dispatch jobs retry`` starts one."""
        message = (
            f"attempt {job.attempt} was asked to start {job.start_requests} times by the sweeper and never got an "
            "engine id: its start call went unanswered or its lookup could not finish (throttled or out of time). "
            "Whatever it may have started is an orphan the sweeper stops; `emr-dispatch jobs retry` starts a new "
            "attempt"
        )
        update = StateUpdate(JobState.FAILED, "sweeper", jobs.START_ABANDONED, message)
        applied = self._outcomes.apply(job, update, self._engines[job.engine], None)
        if applied.status == "moved":
            report.starts_abandoned.append(job.job_id)
            logger.error("pending start given up", job_id=job.job_id, attempt=job.attempt, requests=job.start_requests)
