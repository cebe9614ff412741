"""Tracking: an engine state-change event → the job's state, moved forward, with cleanup and alert."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emr_dispatch.engines import EVENT_SOURCES
from emr_dispatch.engines.base import Engine
from emr_dispatch.errors import MalformedEventError
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import correlate, logger
from emr_dispatch.outcomes import OutcomeRecorder


@dataclass(frozen=True)
class TrackResult:
    status: str  # moved | stale | ignored | skipped
    reason: str = ""
    job_id: str | None = None
    state: str | None = None


class Tracker:
    def __init__(self, ledger: Ledger, engines: dict[str, Engine], outcomes: OutcomeRecorder) -> None:
        self._ledger = ledger
        self._engines = engines
        self._outcomes = outcomes

    def handle(self, event: Any) -> TrackResult:
        if not isinstance(event, dict):
            raise MalformedEventError(f"event is a {type(event).__name__}, not an object")
        engine_name = EVENT_SOURCES.get(str(event.get("source")))
        if engine_name is None:
            raise MalformedEventError(f"not an engine event: source={event.get('source')!r}")
        engine = self._engines[engine_name]
        engine_event = engine.parse_event(event)
        if engine_event is None:
            return _skipped("untracked detail-type", detail_type=event.get("detail-type"))
        job = self._ledger.find_by_engine_id(engine_event.engine_id)
        if job is None:
            return _skipped("unknown engine resource", engine_id=engine_event.engine_id)
        correlate(job.job_id)
        # A step's own state and times are kept whatever the job's state (a late event still says how it ended).
        self._ledger.record_steps(job, engine_event.steps)
        if job.state.is_terminal:
            if job.alert_pending:
                # If the publisher of this alert died before clearing it (its lease expired), this delivery sends it.
                self._outcomes.outbox.resend(job, engine)
            logger.info(
                "job already terminal", job_id=job.job_id, state=job.state.value, event_state=engine_event.state
            )
            return TrackResult("ignored", "job already terminal", job.job_id, job.state.value)
        update = engine.interpret(engine_event, job)
        if update is None or not update.state.can_follow(job.state):
            logger.info(
                "event changes nothing", job_id=job.job_id, state=job.state.value, event_state=engine_event.state
            )
            return TrackResult("ignored", "no forward move", job.job_id, job.state.value)
        applied = self._outcomes.apply(job, update, engine, engine_event)
        return TrackResult(applied.status, update.reason_code or "", job.job_id, applied.job.state.value)


def _skipped(reason: str, **fields: Any) -> TrackResult:
    logger.info("event skipped", reason=reason, **fields)
    return TrackResult("skipped", reason)
