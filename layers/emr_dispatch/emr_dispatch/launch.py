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
from emr_dispatch.routes import Route, RoutesFile
from emr_dispatch.timeutil import iso_seconds_ago, now_iso

ABANDONED_CLAIM_SECONDS = 300
"""Longer than the launcher's timeout (120 s): a claim this old with no engine id was left by a dead invocation.
SQS redelivers a failed message only after the queue's visibility timeout (720 s), so recovery waits for no one."""


@dataclass(frozen=True)
class LaunchResult:
    status: str  # started | recovered | duplicate | skipped | failed
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
        claim = self._ledger.claim(job)
        engine = self._engines[route.engine]
        if not claim:
            held = claim.held_by
            if held is None or not _abandoned(held):
                logger.info("duplicate arrival", job_id=job.job_id, route=route.name, uri=item.uri)
                return LaunchResult(
                    "duplicate", "job already claimed for this object version", job.job_id, route.name, item.uri
                )
            return self._recover(held, route, engine, item.uri)
        return self._start(job, route, engine, item.uri)

    def _recover(self, held: Job, route: Route, engine: Engine, uri: str) -> LaunchResult:
        """An earlier delivery claimed this job and died before recording an engine id: finish its work
        without starting the engine twice (EMR on EC2 is found by name; job runs by their token)."""
        job = self._ledger.take_over(held)
        if job is None:
            logger.info("duplicate arrival", job_id=held.job_id, route=route.name, uri=uri)
            return LaunchResult("duplicate", "another delivery is recovering this job", held.job_id, route.name, uri)
        found = engine.find_started(job)
        if found is None:
            logger.warning("recovering abandoned claim: starting", job_id=job.job_id, route=route.name)
            return self._start(job, route, engine, uri)
        self._ledger.record_submitted(job, found.engine_id, found.details)
        logger.warning("recovered abandoned claim", job_id=job.job_id, route=route.name, engine_id=found.engine_id)
        return LaunchResult("recovered", "engine resource found by name", job.job_id, route.name, uri, found.engine_id)

    def _start(self, job: Job, route: Route, engine: Engine, uri: str) -> LaunchResult:
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
            return LaunchResult("failed", exc.code, job.job_id, route.name, uri, applied.job.engine_id)
        self._ledger.record_submitted(job, started.engine_id, started.details)
        logger.info("job started", job_id=job.job_id, route=route.name, engine_id=started.engine_id, uri=uri)
        return LaunchResult("started", "", job.job_id, route.name, uri, started.engine_id)


def _abandoned(job: Job) -> bool:
    """A claim nobody can still be working on: no engine id, untouched for longer than an invocation lives."""
    return (
        job.state is JobState.SUBMITTING
        and job.engine_id is None
        and job.updated_at < iso_seconds_ago(ABANDONED_CLAIM_SECONDS)
    )


def _skip(reason: str, uri: str) -> LaunchResult:
    logger.info("arrival skipped", reason=reason, uri=uri)
    return LaunchResult("skipped", reason, uri=uri)
