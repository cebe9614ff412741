"""Launching: arrivals → route → claim → engine start → ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emr_dispatch.arrivals import Arrival, TestEvent, parse_s3_event
from emr_dispatch.engines.base import Engine
from emr_dispatch.errors import EngineError, EngineThrottledError
from emr_dispatch.jobs import Job, JobState, StateUpdate, job_id_for
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import RoutesFile
from emr_dispatch.timeutil import now_iso


@dataclass(frozen=True)
class LaunchResult:
    status: str  # started | duplicate | skipped | failed
    reason: str = ""
    job_id: str | None = None
    route: str | None = None
    uri: str | None = None
    engine_id: str | None = None


class Launcher:
    def __init__(
        self, routes: RoutesFile, ledger: Ledger, engines: dict[str, Engine], outcomes: OutcomeRecorder
    ) -> None:
        self._routes = routes
        self._ledger = ledger
        self._engines = engines
        self._outcomes = outcomes

    def handle_event(self, event: Any) -> list[LaunchResult]:
        """An un-wrapped S3 event (or an SQS message body, parsed): launch each of its arrivals."""
        return [self.launch(item) for item in parse_s3_event(event)]

    def launch(self, item: Arrival | TestEvent) -> LaunchResult:
        if isinstance(item, TestEvent):
            return _skip("s3 test event", uri=f"s3://{item.bucket}")
        if item.is_folder_marker:
            return _skip("folder marker", uri=item.uri)
        route = self._routes.match(item.bucket, item.key)
        if route is None:
            return _skip("no route matches", uri=item.uri)
        now = now_iso()
        job = Job(
            job_id=job_id_for(route.name, item.identity()),
            route=route.name,
            engine=route.engine,
            state=JobState.SUBMITTING,
            attempt=1,
            inputs=[item.to_record()],
            created_at=now,
            updated_at=now,
        )
        if not self._ledger.claim(job):
            logger.info("duplicate arrival", job_id=job.job_id, route=route.name, uri=item.uri)
            return LaunchResult(
                "duplicate", "job already claimed for this object version", job.job_id, route.name, item.uri
            )
        engine = self._engines[route.engine]
        try:
            started = engine.start(job, route)
        except EngineThrottledError:
            # Let the message come back; releasing the claim lets that delivery start the job.
            self._ledger.release(job)
            raise
        except EngineError as exc:
            update = StateUpdate(JobState.FAILED, "launcher", f"START_{exc.code}", str(exc))
            applied = self._outcomes.apply(job, update, engine, None)
            logger.error("engine refused job", job_id=job.job_id, route=route.name, error=str(exc))
            return LaunchResult("failed", exc.code, job.job_id, route.name, item.uri, applied.job.engine_id)
        self._ledger.record_submitted(job, started.engine_id, started.details)
        logger.info("job started", job_id=job.job_id, route=route.name, engine_id=started.engine_id, uri=item.uri)
        return LaunchResult("started", "", job.job_id, route.name, item.uri, started.engine_id)


def _skip(reason: str, uri: str) -> LaunchResult:
    logger.info("arrival skipped", reason=reason, uri=uri)
    return LaunchResult("skipped", reason, uri=uri)
