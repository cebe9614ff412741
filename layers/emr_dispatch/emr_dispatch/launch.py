"""Launching: arrivals → route → claim (and capacity slot) → engine start → ledger.

Also starts QUEUED jobs when asked to (a slot was freed, a start token is due): per route, the route that freed
the slot first, then the others in turn, oldest first within a route; pending attempts (retries), and an ended
job's next attempt when an operator asks (``emr-dispatch jobs retry``, ``replay --force``).

A quota is a reason to wait, never to lose an arrival (DESIGN.md invariant 10): starts are paced to each
engine's start rate (pacing.py); a start that must wait, or that the engine throttled or refused for a quota,
waits QUEUED in the ledger with its reason and the time it is tried again, and the message succeeds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from emr_dispatch import metrics
from emr_dispatch.arrivals import Arrival, TestEvent, load_json, parse_s3_event
from emr_dispatch.batches import Batches, ClosedBatch
from emr_dispatch.capacity import Capacity, Caps
from emr_dispatch.control import CLOSE_BATCH, REPLAY, RETRY_JOB, START_JOB, START_QUEUED, QueueSignal, control_kind
from emr_dispatch.engines.base import Engine
from emr_dispatch.errors import EngineError, EngineStartUnknownError, EngineThrottledError, LedgerError
from emr_dispatch.jobs import Job, JobState, StateUpdate, job_id_for
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import arrival_context, clear_arrival_context, correlate, logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.pacing import StartPacer
from emr_dispatch.routes import ROUTE_REMOVED, Route, RoutesFile, route_of, route_removed_message
from emr_dispatch.timeutil import epoch_now, iso_seconds_ahead, now_iso, seconds_between

DRAIN_PER_ROUTE = 10
"""QUEUED jobs read per route at a time (one query of the route's queue)."""
DRAIN_MAX_STARTS = 100
"""Starts per request to start queued jobs (well inside the launcher's timeout); more: a new request at once."""


@dataclass(frozen=True)
class LaunchResult:
    status: str  # started | queued | batched | recovered | duplicate | skipped | failed | retrying | unknown
    reason: str = ""
    job_id: str | None = None
    route: str | None = None
    uri: str | None = None
    engine_id: str | None = None
    retry_after: float = 0.0  # a job that waits: seconds until it is tried again


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
        pacer: StartPacer | None = None,
        signal: QueueSignal | None = None,
    ) -> None:
        self._pacer = pacer
        self._signal = signal
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
        if kind is not None:
            clear_arrival_context()
        if kind == START_QUEUED:
            return self.start_queued(str(event.get("route", "")) or None)
        if kind == CLOSE_BATCH:
            return self.close_batch(str(event.get("batch_id", "")))
        if kind == START_JOB:
            return [self.start_job(str(event.get("job_id", "")), _int(event.get("attempt")))]
        if kind == RETRY_JOB:
            job_id, request_id = str(event.get("job_id", "")), str(event.get("request_id", ""))
            result = self.retry(job_id, str(event.get("requested_by", "operator")))
            if result.status == "skipped" and job_id and request_id:
                self._ledger.record_refusal(job_id, request_id, result.reason)  # the asker's answer
            return [result]
        if kind == REPLAY:
            return self.replay(event.get("event"), str(event.get("requested_by", "operator")))
        return [self.launch(item) for item in parse_s3_event(event)]

    def launch(self, item: Arrival | TestEvent) -> LaunchResult:
        metrics.count(metrics.ARRIVALS)
        if isinstance(item, TestEvent):
            return _skip("s3 test event", uri=f"s3://{item.bucket}")
        arrival_context(item.uri, item.version)
        if item.is_folder_marker:
            return _skip("folder marker", uri=item.uri)
        decision = self._routes.decide(item.bucket, item.key, self._work_bucket)
        route = decision.route
        if route is None:
            self._ledger.record_skip(item.to_record(), None, decision.reason)  # for `emr-dispatch jobs find`
            return _skip(decision.reason, uri=item.uri)
        batching = route.batching
        if batching.mode == "batch":
            return self._join_batch(item, route)
        if batching.mode == "marker":
            if item.key.rsplit("/", 1)[-1] != batching.marker:
                marker = f"s3://{item.bucket}/{item.key[: len(item.key) - len(item.key.rsplit('/', 1)[-1])]}"
                marker += batching.marker
                self._ledger.record_skip(item.to_record(), route.name, "waiting for the marker object", marker)
                return _skip("waiting for the marker object", uri=item.uri)
            prefix = item.key[: -len(batching.marker)]
            inputs = [{**item.to_record(), "key": prefix, "marker": item.key}]
            return self._admit(self._new_job(route, item.identity(), inputs), route, item.uri)
        return self._admit(self._new_job(route, item.identity(), [item.to_record()]), route, item.uri)

    def close_batch(self, batch_id: str) -> list[LaunchResult]:
        """Close a batch (full, its window ended, or the sweeper found it overdue) and admit its one job over
        the manifest. The batch is CLOSED only once that job is in the ledger: until then a redelivery (or the
        sweeper) closes it again, and the job's id, derived from the batch, makes that idempotent."""
        closed = self._batches.close(batch_id)
        if closed is None:
            return []
        manifest = {
            "bucket": closed.manifest_bucket,
            "key": closed.manifest_key,
            "manifest": closed.manifest_uri,
            "count": closed.count,
            "size": closed.bytes,
        }
        route = self._routes.get(closed.route)
        if route is None:
            result = self._fail_route_removed(closed, manifest)
        else:
            result = self._admit(self._new_job(route, f"batch\x00{batch_id}", [manifest]), route, closed.manifest_uri)
        self._batches.mark_closed(batch_id)
        return [result]

    def _fail_route_removed(self, closed: ClosedBatch, manifest: dict[str, Any]) -> LaunchResult:
        """A closing batch whose route was renamed or removed: its arrivals end in a job FAILED with reason
        ROUTE_REMOVED and one alert (``jobs find`` and ``replay`` reach them through the manifest), never
        logged and dropped."""
        engine_name = closed.engine if closed.engine in self._engines else next(iter(self._engines))
        now = now_iso()
        job = Job(
            job_id=job_id_for(closed.route, f"batch\x00{closed.batch_id}"),
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
            route_snapshot=route.snapshot(),
            timeout_minutes=route.timeout_minutes,
        )

    def _admit(self, job: Job, route: Route, uri: str) -> LaunchResult:
        """Claim the job (taking a capacity slot when the route is capped) and start it, exactly once."""
        correlate(job.job_id)
        engine = self._engines[route.engine]
        # One transaction: the claim, the route's capacity slots (when capped) and its pause check.
        claimed = self._capacity.claim(job, self._caps(route))
        if claimed.status == "queued":
            metrics.count(metrics.JOBS_QUEUED, route=route.name, engine=route.engine)
            return LaunchResult("queued", claimed.reason, job.job_id, route.name, uri)
        if claimed.status == "claimed":
            return self._paced_start(job, route, engine, uri, behind_backlog=True)
        held = claimed.held_by
        if held is not None and held.start_abandoned:
            route = route_of(held, self._routes) or route  # the claim's own snapshot: its engine may have changed
            return self._recover(held, route, self._engines[route.engine], uri)
        metrics.count(metrics.DUPLICATE_ARRIVALS, route=route.name, engine=route.engine)
        # The job that holds this object version: ours, or one a route since renamed started (object_claims.py)
        job_id = held.job_id if held is not None else job.job_id
        logger.info("duplicate arrival", job_id=job_id, route=route.name, uri=uri)
        return LaunchResult("duplicate", "job already claimed for this object version", job_id, route.name, uri)

    def start_queued(self, first: str | None = None) -> list[LaunchResult]:
        """Start QUEUED jobs while caps and start rates allow: one job of each route in turn, beginning with
        ``first`` (the route that freed a slot), oldest first within a route. Each route's queue is read on its
        own, so no route's backlog (at its cap, or of a removed route) hides another's (issue 13, item 3)."""
        order = _rotated(self._routes.routes, first)
        results: list[LaunchResult] = []
        if first and self._routes.get(first) is None and first != "*":
            # A removed route's queue: no start can take its jobs; each ends ROUTE_REMOVED with one alert.
            jobs, _ = self._capacity.queued(first, DRAIN_MAX_STARTS)
            results += [self._route_removed(job, job.input_uris[0] if job.input_uris else "") for job in jobs]
        elif first is None or first == "*":
            # A request for every route (the sweeper's, an operator's) also ends the queued jobs of routes gone from
            # the routes file: the drain below reads only the queues of the routes it has.
            removed = self._ledger.queued_outside([route.name for route in self._routes.routes], DRAIN_MAX_STARTS)
            results += [self._route_removed(job, job.input_uris[0] if job.input_uris else "") for job in removed]
        queues: dict[str, deque[Job]] = {}
        more: dict[str, bool] = {route.name: True for route in order}
        blocked: dict[str, float] = {}  # engine → when its next start is due (epoch seconds)
        at_cap: set[str] = set()
        started = 0
        progressed = True
        while progressed and started < DRAIN_MAX_STARTS:
            progressed = False
            for route in order:
                if route.name in at_cap or route.engine in blocked:
                    continue
                queue = queues.setdefault(route.name, deque())
                if not queue and more[route.name]:
                    jobs, more[route.name] = self._capacity.queued(route.name, DRAIN_PER_ROUTE)
                    queue.extend(jobs)
                if not queue:
                    continue
                progressed = True
                result = self._start_from_queue(queue.popleft(), route, blocked, at_cap)
                if result is not None:
                    results.append(result)
                    started += result.status in ("started", "recovered")
        waiting_engines = {route.engine for route in order if queues.get(route.name) or more[route.name]}
        for engine, due in blocked.items():
            # Wake when a whole burst of tokens is due (not for each token): fewer invocations, same pace.
            burst = self._routes.start_rate(engine)
            self._nudge(engine, due + ((burst.burst - 1) / burst.per_second if burst else 0.0), backlog=True)
        if started >= DRAIN_MAX_STARTS and any(e not in blocked for e in waiting_engines):
            self._require_signal().drain_later(0)  # more to start now: a fresh invocation goes on
        if self._pacer is not None:
            for engine in {route.engine for route in order} - waiting_engines - set(blocked):
                self._pacer.backlog_cleared(engine)
        return results

    def _start_from_queue(
        self, job: Job, route: Route, blocked: dict[str, float], at_cap: set[str]
    ) -> LaunchResult | None:
        correlate(job.job_id)
        route = route_of(job, self._routes) or route  # its snapshot: the engine it was queued for
        taken, status = self._capacity.take_from_queue(job, self._caps(route))
        if taken is None:
            if status == "cap":
                at_cap.add(route.name)  # its later jobs wait too (FIFO per route)
            return None
        uri = taken.input_uris[0] if taken.input_uris else ""
        engine = self._engines[route.engine]
        metrics.seconds(metrics.QUEUE_WAIT, seconds_between(job.updated_at, taken.updated_at), route=route.name)
        result = self._paced_start(taken, route, engine, uri, behind_backlog=False)
        if result.status == "queued":
            blocked[route.engine] = epoch_now() + result.retry_after
        return result

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
            logger.info("start requested before the retry is due", job_id=job_id, retry_at=job.retry_at)
            return LaunchResult("skipped", "retry not due yet", job_id, job.route, uri)
        # A retry's attempt nobody has taken yet may start; any other pending start only once abandoned
        # (a launcher may be inside the engine call right now).
        if not ((job.retry_at is not None and job.starting_at is None) or job.start_abandoned):
            logger.info("duplicate start request", job_id=job_id, attempt=attempt)
            return LaunchResult("duplicate", "another delivery is starting this attempt", job_id, job.route, uri)
        if route is None:
            return self._route_removed(job, uri)
        taken = self._ledger.take_over(job, why=f"starting attempt {attempt}")
        if taken is None:
            return LaunchResult("duplicate", "another delivery is starting this attempt", job_id, job.route, uri)
        engine = self._engines[route.engine]
        found = engine.find_started(taken)
        if found is not None:
            self._ledger.record_submitted(taken, found.engine_id, found.details)
            return LaunchResult("recovered", "engine resource found by name", job_id, route.name, uri, found.engine_id)
        return self._paced_start(taken, route, engine, uri, behind_backlog=True)

    def _caps(self, route: Route) -> Caps:
        """The caps of the routes file in force (a cap edited while jobs wait applies to them)."""
        current = self._routes.get(route.name)
        limit = current.max_concurrent if current is not None else route.max_concurrent
        return Caps(route.name, limit, self._routes.max_concurrent_jobs)

    def _route_removed(self, job: Job, uri: str) -> LaunchResult:
        """A job waiting to start (QUEUED, or a pending attempt) whose route is gone from the routes file: it ends
        FAILED ROUTE_REMOVED, alerted once. Nothing of it runs: a removed route starts no new work."""
        correlate(job.job_id)
        update = StateUpdate(JobState.FAILED, "launcher", ROUTE_REMOVED, route_removed_message(job))
        applied = self._outcomes.apply(job, update, self._engines[job.engine], None)
        logger.error("route removed: job not started", job_id=job.job_id, route=job.route, state=job.state.value)
        status = "failed" if applied.status == "moved" else "duplicate"
        return LaunchResult(status, ROUTE_REMOVED, job.job_id, job.route, uri)

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
            return self._paced_start(job, route, engine, uri, behind_backlog=True)
        self._ledger.record_submitted(job, found.engine_id, found.details)
        logger.warning("recovered abandoned claim", job_id=job.job_id, route=route.name, engine_id=found.engine_id)
        return LaunchResult("recovered", "engine resource found by name", job.job_id, route.name, uri, found.engine_id)

    def _paced_start(self, job: Job, route: Route, engine: Engine, uri: str, *, behind_backlog: bool) -> LaunchResult:
        """Start now if the engine's start rate has a token; otherwise the job waits QUEUED for its turn."""
        wait = self._pacer.take(route.engine, behind_backlog=behind_backlog) if self._pacer else 0.0
        if wait > 0:
            metrics.count(metrics.STARTS_PACED, engine=route.engine)
            reason = f"start rate of {route.engine}" + (" (older jobs first)" if behind_backlog else "")
            return self._wait(job, route, uri, reason, wait)
        return self._start(job, route, engine, uri)

    def _wait(self, job: Job, route: Route, uri: str, reason: str, seconds: float) -> LaunchResult:
        """The job waits QUEUED (its slots given back, its place kept) and a start-queued request is due then."""
        if not self._capacity.park(job, reason, iso_seconds_ahead(seconds)):
            return LaunchResult("duplicate", "the job moved meanwhile", job.job_id, route.name, uri)
        metrics.count(metrics.JOBS_QUEUED, route=route.name, engine=route.engine)
        self._nudge(route.engine, epoch_now() + seconds, backlog=True)
        return LaunchResult("queued", reason, job.job_id, route.name, uri, retry_after=seconds)

    def _nudge(self, engine: str, at: float, *, backlog: bool) -> None:
        """One start-queued request per engine for when its next start is due (the sweeper nudges if lost)."""
        if self._pacer is None or self._pacer.nudge_due(engine, at, backlog=backlog):
            self._require_signal().drain_later(math.ceil(max(at - epoch_now(), 0)))

    def _require_signal(self) -> QueueSignal:
        if self._signal is None:
            raise LedgerError("the launcher has no arrivals queue to ask for queued jobs to be started")
        return self._signal

    def _start(self, job: Job, route: Route, engine: Engine, uri: str) -> LaunchResult:
        try:
            started = engine.start(job, route)
        except EngineThrottledError as exc:
            metrics.count(metrics.ENGINE_THROTTLES, engine=route.engine)
            # Not lost, not dead-lettered: the job waits QUEUED in the ledger (keeping its attempts and its
            # place) and is started when the quota allows; the message succeeds.
            # (A throttled RunJobFlow that created its cluster anyway was found by the engine: FACTS.md.)
            what = "throttled by " + route.engine if exc.quota == "rate" else f"{route.engine} quota: {exc}"
            seconds = exc.retry_after or max(self._pacer.interval(route.engine) if self._pacer else 0.0, 1.0)
            logger.warning("engine start must wait", job_id=job.job_id, route=route.name, quota=exc.quota)
            return self._wait(job, route, uri, what[:400], seconds)
        except EngineStartUnknownError as exc:
            # RunJobFlow got no answer and no cluster of the attempt's name is listed yet: the claim stays, and
            # the abandoned-start path looks the cluster up by name again before any new call (never two).
            logger.warning("start outcome unknown", job_id=job.job_id, route=route.name, error=str(exc))
            return LaunchResult("unknown", "start outcome unknown: looked up again before any new start", job.job_id)
        except EngineError as exc:
            update = StateUpdate(JobState.FAILED, "launcher", f"START_{exc.code}", str(exc))
            applied = self._outcomes.apply(job, update, engine, None)
            logger.error("engine refused job", job_id=job.job_id, route=route.name, error=str(exc))
            status = "failed" if applied.job.state.is_terminal else "retrying"  # a service fault is retried
            return LaunchResult(status, exc.code, job.job_id, route.name, uri, applied.job.engine_id)
        self._ledger.record_submitted(job, started.engine_id, started.details)
        metrics.count(metrics.JOBS_STARTED, route=route.name, engine=route.engine)
        logger.info("job started", job_id=job.job_id, route=route.name, engine_id=started.engine_id, uri=uri)
        return LaunchResult("started", "", job.job_id, route.name, uri, started.engine_id)


def _rotated(routes: list[Route], first: str | None) -> list[Route]:
    """Routes in file order, beginning with ``first`` (the one that freed a slot) when it is one of them."""
    names = [route.name for route in routes]
    start = names.index(first) if first in names else 0
    return [*routes[start:], *routes[:start]]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _skip(reason: str, uri: str) -> LaunchResult:
    metrics.count(metrics.ARRIVALS_SKIPPED, reason=metrics.skip_reason(reason))
    logger.info("arrival skipped", reason=reason, uri=uri)
    return LaunchResult("skipped", reason, uri=uri)
