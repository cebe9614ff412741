"""Launching: arrivals → route → claim (and capacity slot) → engine start → ledger.

Also starts QUEUED jobs, oldest first, when asked to (a slot was freed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emr_dispatch.arrivals import Arrival, TestEvent, load_json, parse_s3_event
from emr_dispatch.batches import Batches
from emr_dispatch.capacity import Capacity, Caps
from emr_dispatch.control import CLOSE_BATCH, START_JOB, START_QUEUED, control_kind
from emr_dispatch.engines.base import Engine
from emr_dispatch.errors import EngineError, EngineThrottledError
from emr_dispatch.jobs import Job, JobState, StateUpdate, job_id_for
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import Route, RoutesFile
from emr_dispatch.timeutil import now_iso

DRAIN_BATCH = 25
"""QUEUED jobs looked at per request to start queued jobs."""


@dataclass(frozen=True)
class LaunchResult:
    status: str  # started | queued | batched | recovered | duplicate | skipped | failed | retrying
    reason: str = ""
    job_id: str | None = None
    route: str | None = None
    uri: str | None = None
    engine_id: str | None = None


class Launcher:
    def __init__(
        self,
        routes: RoutesFile,
        ledger: Ledger,
        capacity: Capacity,
        batches: Batches,
        engines: dict[str, Engine],
        outcomes: OutcomeRecorder,
        work_bucket: str,
    ) -> None:
        self._routes = routes
        self._work_bucket = work_bucket
        self._ledger = ledger
        self._capacity = capacity
        self._batches = batches
        self._engines = engines
        self._outcomes = outcomes

    def handle_message(self, body: str) -> list[LaunchResult]:
        """One SQS message body: an S3 event of either shape, or a control message."""
        return self.handle_event(load_json(body))

    def handle_event(self, event: Any) -> list[LaunchResult]:
        """An un-wrapped S3 event or control message (or an SQS message body, parsed)."""
        kind = control_kind(event)
        if kind == START_QUEUED:
            return self.start_queued()
        if kind == CLOSE_BATCH:
            return self.close_batch(str(event.get("batch_id", "")))
        if kind == START_JOB:
            return [self.start_job(str(event.get("job_id", "")), _int(event.get("attempt")))]
        return [self.launch(item) for item in parse_s3_event(event)]

    def launch(self, item: Arrival | TestEvent) -> LaunchResult:
        if isinstance(item, TestEvent):
            return _skip("s3 test event", uri=f"s3://{item.bucket}")
        if item.is_folder_marker:
            return _skip("folder marker", uri=item.uri)
        decision = self._routes.decide(item.bucket, item.key, self._work_bucket)
        route = decision.route
        if route is None:
            return _skip(decision.reason, uri=item.uri)
        batching = route.batching
        if batching.mode == "batch":
            return self._join_batch(item, route)
        if batching.mode == "marker":
            if item.key.rsplit("/", 1)[-1] != batching.marker:
                return _skip("waiting for the marker object", uri=item.uri)
            prefix = item.key[: -len(batching.marker)]
            inputs = [{**item.to_record(), "key": prefix, "marker": item.key}]
            return self._admit(self._new_job(route, item.identity(), inputs), route, item.uri)
        return self._admit(self._new_job(route, item.identity(), [item.to_record()]), route, item.uri)

    def close_batch(self, batch_id: str) -> list[LaunchResult]:
        """Close a batch (full, or its window ended) and admit its one job over the manifest."""
        closed = self._batches.close(batch_id)
        if closed is None:
            return []
        route = self._routes.get(closed.route)
        if route is None:
            logger.error("closed batch's route is gone from the routes file", batch_id=batch_id, route=closed.route)
            return []
        manifest = {
            "bucket": closed.manifest_bucket,
            "key": closed.manifest_key,
            "manifest": closed.manifest_uri,
            "count": closed.count,
            "size": closed.bytes,
        }
        job = self._new_job(route, f"batch\x00{batch_id}", [manifest])
        return [self._admit(job, route, closed.manifest_uri)]

    def _join_batch(self, item: Arrival, route: Route) -> LaunchResult:
        joined = self._batches.join(item, route.name, route.batching)
        if joined.status == "duplicate":
            logger.info("duplicate arrival", batch_id=joined.batch_id, route=route.name, uri=item.uri)
            return LaunchResult("duplicate", "already in a batch", None, route.name, item.uri)
        if joined.full:
            self.close_batch(joined.batch_id)
        return LaunchResult("batched", joined.batch_id, None, route.name, item.uri)

    def _new_job(self, route: Route, identity: str, inputs: list[dict[str, Any]]) -> Job:
        now = now_iso()
        return Job(
            job_id=job_id_for(route.name, identity),
            route=route.name,
            engine=route.engine,
            state=JobState.SUBMITTING,
            attempt=1,
            inputs=inputs,
            created_at=now,
            updated_at=now,
            max_attempts=route.retry.max_attempts,
        )

    def _admit(self, job: Job, route: Route, uri: str) -> LaunchResult:
        """Claim the job (taking a capacity slot when the route is capped) and start it, exactly once."""
        engine = self._engines[route.engine]
        caps = self._caps(route)
        if caps.limited:
            claimed = self._capacity.claim(job, caps)
            if claimed.status == "queued":
                return LaunchResult("queued", "capacity cap reached", job.job_id, route.name, uri)
            if claimed.status == "claimed":
                return self._start(job, route, engine, uri)
            held = claimed.held_by
        else:
            claim = self._ledger.claim(job)
            if claim:
                return self._start(job, route, engine, uri)
            held = claim.held_by
        if held is not None and held.start_abandoned:
            return self._recover(held, route, engine, uri)
        logger.info("duplicate arrival", job_id=job.job_id, route=route.name, uri=uri)
        return LaunchResult("duplicate", "job already claimed for this object version", job.job_id, route.name, uri)

    def start_queued(self) -> list[LaunchResult]:
        """Start QUEUED jobs, oldest first, while their route's and the overall caps allow."""
        results: list[LaunchResult] = []
        blocked: set[str] = set()  # routes at their cap: their later jobs wait too (FIFO per route)
        for job in self._capacity.oldest_queued(DRAIN_BATCH):
            route = self._routes.get(job.route)
            uri = job.input_uris[0] if job.input_uris else None
            if route is None:
                logger.error("queued job's route is gone from the routes file", job_id=job.job_id, route=job.route)
                continue
            if route.name in blocked:
                continue
            taken = self._capacity.start_queued(job, self._caps(route))
            if taken is None:
                blocked.add(route.name)
                continue
            results.append(self._start(taken, route, self._engines[route.engine], uri or "", on_throttle="requeue"))
        return results

    def start_job(self, job_id: str, attempt: int) -> LaunchResult:
        """Start an attempt whose start is pending: a retry after its backoff, or one the sweeper found
        abandoned. Two deliveries of the request race for one conditional write; the loser starts nothing."""
        job = self._ledger.get(job_id) if job_id else None
        if job is None:
            logger.error("start requested for a job the ledger does not hold", job_id=job_id, attempt=attempt)
            return LaunchResult("skipped", "no such job", job_id or None)
        route = self._routes.get(job.route)
        uri = job.input_uris[0] if job.input_uris else ""
        if job.state is not JobState.SUBMITTING or job.attempt != attempt or job.engine_id is not None:
            logger.info("start request changes nothing", job_id=job_id, attempt=attempt, state=job.state.value)
            return LaunchResult("duplicate", "the attempt is no longer waiting to start", job_id, job.route, uri)
        if job.retry_at and job.retry_at > now_iso():
            logger.info("start requested before the retry is due", job_id=job_id, retry_at=job.retry_at)
            return LaunchResult("skipped", "retry not due yet", job_id, job.route, uri)
        # A retry's attempt nobody has taken yet may start; any other pending start only once abandoned
        # (a launcher may be inside the engine call right now).
        if not ((job.retry_at is not None and job.starting_at is None) or job.start_abandoned):
            logger.info("duplicate start request", job_id=job_id, attempt=attempt)
            return LaunchResult("duplicate", "another delivery is starting this attempt", job_id, job.route, uri)
        if route is None:
            update = StateUpdate(JobState.FAILED, "launcher", "ROUTE_REMOVED", f"route {job.route!r} is gone")
            self._outcomes.apply(job, update, self._engines[job.engine], None)
            return LaunchResult("failed", "ROUTE_REMOVED", job_id, job.route, uri)
        taken = self._ledger.take_over(job, why=f"starting attempt {attempt}")
        if taken is None:
            return LaunchResult("duplicate", "another delivery is starting this attempt", job_id, job.route, uri)
        engine = self._engines[route.engine]
        found = engine.find_started(taken)
        if found is not None:
            self._ledger.record_submitted(taken, found.engine_id, found.details)
            return LaunchResult("recovered", "engine resource found by name", job_id, route.name, uri, found.engine_id)
        return self._start(taken, route, engine, uri, on_throttle="release-start")

    def _caps(self, route: Route) -> Caps:
        return Caps(route.name, route.max_concurrent, self._routes.max_concurrent_jobs)

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

    def _start(self, job: Job, route: Route, engine: Engine, uri: str, on_throttle: str = "release") -> LaunchResult:
        try:
            started = engine.start(job, route)
        except EngineThrottledError:
            # Not lost: a job from the queue goes back to it; a pending attempt's start is given back; an
            # arrival's claim is dropped. The message, which fails and comes back from SQS, tries again.
            if on_throttle == "requeue":
                self._capacity.requeue(job)
            elif on_throttle == "release-start":
                self._ledger.release_start(job)
            else:
                self._ledger.release(job)
                self._capacity.release(job)
            raise
        except EngineError as exc:
            update = StateUpdate(JobState.FAILED, "launcher", f"START_{exc.code}", str(exc))
            applied = self._outcomes.apply(job, update, engine, None)
            logger.error("engine refused job", job_id=job.job_id, route=route.name, error=str(exc))
            status = "failed" if applied.job.state.is_terminal else "retrying"  # a service fault is retried
            return LaunchResult(status, exc.code, job.job_id, route.name, uri, applied.job.engine_id)
        self._ledger.record_submitted(job, started.engine_id, started.details)
        logger.info("job started", job_id=job.job_id, route=route.name, engine_id=started.engine_id, uri=uri)
        return LaunchResult("started", "", job.job_id, route.name, uri, started.engine_id)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _skip(reason: str, uri: str) -> LaunchResult:
    logger.info("arrival skipped", reason=reason, uri=uri)
    return LaunchResult("skipped", reason, uri=uri)
