"""Starting jobs: claim (with the route's capacity slots) → start rate → engine start → ledger, exactly once.

The launcher (launch.py) hands jobs here: an arrival's new job (``_admit``), a QUEUED job when a slot frees or a
start token is due (``start_queued``: per route, one job of each in turn, beginning with the route whose full own
cap freed the slot, then the routes whose head job has waited longest; oldest first within a route), a pending or
retried attempt.

A quota is a reason to wait, never to lose an arrival (DESIGN.md invariant 10): starts are paced to each
engine's start rate (pacing.py); a start that must wait, or that the engine throttled or refused for a quota,
waits QUEUED in the ledger with its reason and the time it is tried again, and the message succeeds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from emr_dispatch import metrics
from emr_dispatch.aws import THROTTLING_CODES
from emr_dispatch.capacity import ALL_ROUTES, Capacity, Caps, Room
from emr_dispatch.control import MAX_DELAY_SECONDS, QueueSignal
from emr_dispatch.engines.base import Engine, StartedJob
from emr_dispatch.errors import EngineError, EngineStartUnknownError, EngineThrottledError, LedgerError
from emr_dispatch.invocation import lookup_until
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import correlate, logger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.pacing import StartPacer
from emr_dispatch.queue_names import QueueNamesSeen
from emr_dispatch.route_snapshots import ROUTE_REMOVED, route_of, route_removed_message
from emr_dispatch.routes import Route, RoutesFile
from emr_dispatch.timeutil import epoch_now, iso_seconds_ahead, seconds_between

DRAIN_PER_ROUTE = 10
"""QUEUED jobs read per route at a time (one query of the route's queue)."""
DRAIN_FIRST_READ = 2
"""QUEUED jobs read by a request's first look at a route's queue: a freed slot or a due token starts one or two."""
DRAIN_MAX_STARTS = 100
"""Starts per request to start queued jobs (well inside the launcher's timeout); more: a new request at once."""
NAMES_MAX_AGE = 300.0
"""Seconds a launcher container reuses the queue names it read (one sweep period): the sweeper reads them fresh."""


@dataclass(frozen=True)
class LaunchResult:
    status: str  # started | queued | batched | recovered | duplicate | skipped | failed | retrying | unknown
    reason: str = ""
    job_id: str | None = None
    route: str | None = None
    uri: str | None = None
    engine_id: str | None = None
    retry_after: float = 0.0  # a job that waits: seconds until it is tried again


class Starter:
    """Claims and starts jobs under the routes file in force, at the pace the engines allow."""

    def __init__(
        self,
        routes: RoutesFile,
        ledger: Ledger,
        capacity: Capacity,
        engines: dict[str, Engine],
        outcomes: OutcomeRecorder,
        pacer: StartPacer | None = None,
        signal: QueueSignal | None = None,
    ) -> None:
        self._pacer = pacer
        self._signal = signal
        self._routes = routes
        self._ledger = ledger
        self._capacity = capacity
        self._engines = engines
        self._outcomes = outcomes

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
        ``first`` when its full own cap freed the slot, then (or else) the routes whose head job has waited longest;
        oldest first within a route. Each route's queue is read on its
        own, so no route's backlog (at its cap, or of a removed route) hides another's (issue 13, item 3)."""
        order = _rotated(self._routes.routes, first)
        names = self._queue_names()
        results: list[LaunchResult] = []
        if first and self._routes.get(first) is None and first != "*":
            # A removed route's queue: no start can take its jobs; each ends ROUTE_REMOVED with one alert.
            jobs, _ = self._capacity.queued(first, DRAIN_MAX_STARTS)
            results += [self._route_removed(job, job.input_uris[0] if job.input_uris else "") for job in jobs]
        elif first is None or first == "*":
            # A request for every route (the sweeper's, an operator's) also ends the queued jobs of routes gone from
            # the routes file: the drain below reads only the queues of the routes it has.
            removed = self._removed_queued(names, DRAIN_MAX_STARTS)
            results += [self._route_removed(job, job.input_uris[0] if job.input_uris else "") for job in removed]
        queues: dict[str, deque[Job]] = {}
        queues_read: set[str] = set()
        # A route that never queued a job (absent from complete names) has an empty queue: not read.
        more: dict[str, bool] = {route.name: not names.complete or route.name in names.names for route in order}
        blocked: dict[str, float] = {}  # engine → when its next start is due (epoch seconds)
        at_cap: set[str] = set()  # routes at their cap; every route once the overall cap is reached (ALL_ROUTES)
        # Routes done for this request: the engine of its head job (the job's snapshot's) has no start token now,
        # or one of its jobs was parked. Its queue is not read again in this request (breaker F3: a route whose
        # engine changed while its jobs waited would otherwise be taken and parked over and over).
        done: set[str] = set()
        waits_on: set[str] = set()  # engines of the head jobs of routes done while jobs still wait in their queues
        # The free slots of the caps the routes are held to, in one read: a route at its cap is neither read nor
        # taken from, and no take the counters would refuse is tried (a cancelled transaction per drain, before).
        room = self._room(order, more)
        # Who goes first: a route whose own full cap freed a slot keeps it; otherwise (the overall cap's slot, a
        # start token, a request for every route) the route whose head job has waited longest (breaker F1, F5).
        keep = self._kept_by(first, room)
        for route in order:
            refused = room.refuses(self._caps(route))
            if refused is not None:
                at_cap.add(ALL_ROUTES if refused == "total" else route.name)
        for route in order:
            if route.name in at_cap or ALL_ROUTES in at_cap:
                continue
            if route.name != keep and more[route.name] and self._due(route.engine, blocked):
                self._read_queue(route.name, queues, more, queues_read, room)  # the read the drain makes first anyway
        order = sorted(order, key=lambda route: _waited(route.name, keep, queues))
        started = 0
        progressed = True
        while progressed and started < DRAIN_MAX_STARTS and ALL_ROUTES not in at_cap:
            progressed = False
            for route in order:
                if route.name in at_cap or route.name in done or ALL_ROUTES in at_cap:
                    continue
                if not self._due(route.engine, blocked):
                    continue  # its queued jobs are most likely for its engine: no queue read, no take
                queue = queues.setdefault(route.name, deque())
                if not queue and more[route.name]:
                    self._read_queue(route.name, queues, more, queues_read, room)
                if not queue:
                    continue
                # The job starts on the engine of its snapshot (the routes file may have moved the route since):
                # that engine's start rate decides, and the job is paced and blocked on it.
                head = route_of(queue[0], self._routes) or route
                if not self._due(head.engine, blocked):
                    done.add(route.name)
                    waits_on.add(head.engine)
                    continue
                progressed = True
                result = self._start_from_queue(queue.popleft(), head, blocked, at_cap, room)
                if result is not None:
                    results.append(result)
                    started += result.status in ("started", "recovered")
                    if result.status == "queued":
                        done.add(route.name)  # parked: its engine's rate is spent for now
                        waits_on.add(head.engine)
        waiting_engines = waits_on | {
            route.engine for route in order if route.name not in done and (queues.get(route.name) or more[route.name])
        }
        for engine, due in blocked.items():
            # Wake when a whole burst of tokens is due (not for each token): fewer invocations, same pace.
            burst = self._routes.start_rate(engine)
            self._nudge(engine, due + ((burst.burst - 1) / burst.per_second if burst else 0.0), backlog=True)
        if started >= DRAIN_MAX_STARTS and any(e not in blocked for e in waiting_engines):
            self._require_signal().drain_later(0)  # more to start now: a fresh invocation goes on
        if self._pacer is not None:
            # Engines whose queues were read and found empty (one never queued for has no backlog to clear).
            read = {route.engine for route in order if route.name in queues_read}
            for engine in read - waiting_engines - set(blocked):
                self._pacer.backlog_cleared(engine)
        return results

    def _kept_by(self, first: str | None, room: Room) -> str | None:
        """The route a freed slot goes back to first: the one whose job ended, when the slot is really its own, i.e.
        its own cap (max_concurrent) was full. Under an overall cap too, a route with own slots to spare freed only an
        overall slot, which goes to the oldest head job across routes (the reviewer's note after F5): the drain's
        read of the counters tells (a consistent read of the route's counter if the drain did not read it), asked
        only when both caps apply."""
        freed = self._routes.get(first) if first is not None else None
        if freed is None or freed.max_concurrent is None:
            return None
        if self._routes.max_concurrent_jobs is not None:
            free = room.free.get(freed.name)
            if free is None:
                free = freed.max_concurrent - self._capacity.active(freed.name)
            if free > 1:
                return None  # two or more of its own slots free: its own cap was not what held its jobs back
        return freed.name

    def _read_queue(
        self, name: str, queues: dict[str, deque[Job]], more: dict[str, bool], queues_read: set[str], room: Room
    ) -> None:
        """The next jobs of a route's queue, oldest first: a small first read (most requests start a job or two),
        the full one when jobs do start; never more than the overall cap has free slots."""
        size = DRAIN_PER_ROUTE if name in queues_read else DRAIN_FIRST_READ
        left = room.left()
        size = max(min(size, left), 1) if left is not None else size
        queues_read.add(name)
        jobs, more[name] = self._capacity.queued(name, size)
        queues.setdefault(name, deque()).extend(jobs)

    def _due(self, engine: str, blocked: dict[str, float]) -> bool:
        """Whether the engine may have a start token now, as far as this request knows (no call): not blocked
        by a start it refused, nor known not due (``StartPacer.not_due``, then recorded in ``blocked``)."""
        if engine in blocked:
            return False
        not_due = self._pacer.not_due(engine) if self._pacer is not None else 0.0
        if not_due > 0:
            blocked[engine] = epoch_now() + not_due  # no token yet: neither a queue read nor a take
            return False
        return True

    def _queue_names(self) -> QueueNamesSeen:
        """The names of the routes that ever queued a job: this container's copy (at most ``NAMES_MAX_AGE`` old)
        while it names every route of the routes file or is not yet complete; read again otherwise, since a route
        missing from the copy may have queued its first job since (the drain reads only the queues it names)."""
        queue_names = self._capacity.queue_names
        copy = queue_names.read(max_age=NAMES_MAX_AGE)
        if not copy.complete or all(route.name in copy.names for route in self._routes.routes):
            return copy
        return queue_names.read()

    def _removed_queued(self, names: QueueNamesSeen, limit: int) -> list[Job]:
        """QUEUED jobs of routes gone from the routes file, at most ``limit``: the queues (by_queue) of the names
        that ever queued a job (queue_names.py) and that the routes file lacks. A name added after the copy read,
        or a job queued before the names existed, is the sweeper's to find (it reads every QUEUED job until the
        names are complete)."""
        current = [route.name for route in self._routes.routes]
        found: list[Job] = []
        for name in names.outside(current):
            jobs, _ = self._capacity.queued(name, limit - len(found))
            found += jobs
            if len(found) >= limit:
                break
        return found

    def _start_from_queue(
        self, job: Job, route: Route, blocked: dict[str, float], at_cap: set[str], room: Room
    ) -> LaunchResult | None:
        """Take a queued job and start it under ``route``, its snapshot (the engine it was queued for)."""
        correlate(job.job_id)
        caps = self._caps(route)
        status = room.refuses(caps)  # the drain's own takes used the free slots it read: no take to be refused
        taken = None
        if status is None:
            taken, status = self._capacity.take_from_queue(job, caps)
        if taken is None:
            if status == "cap":
                at_cap.add(route.name)  # its later jobs wait too (FIFO per route)
            elif status == "total":
                at_cap.add(ALL_ROUTES)  # the overall cap: no route's job starts until a slot frees
            return None
        uri = taken.input_uris[0] if taken.input_uris else ""
        engine = self._engines[route.engine]
        metrics.seconds(metrics.QUEUE_WAIT, seconds_between(job.updated_at, taken.updated_at), route=route.name)
        room.took(caps)
        result = self._paced_start(taken, route, engine, uri, behind_backlog=False)
        if result.status == "queued":
            blocked[route.engine] = epoch_now() + result.retry_after
        if result.status in ("queued", "failed"):
            room.took(caps, -1)  # parked or ended: its slots were given back in the same write
        return result

    def _room(self, order: list[Route], more: dict[str, bool]) -> Room:
        """The free slots of the caps of the routes whose queues may hold jobs (one read; none when uncapped)."""
        limits = {counter: limit for route in order if more[route.name] for counter, limit in self._caps(route).slots()}
        return self._capacity.room(limits)

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
        result = self._resume(held, route, engine, uri, "recovering an abandoned claim")
        if result is None:
            logger.info("duplicate arrival", job_id=held.job_id, route=route.name, uri=uri)
            return LaunchResult("duplicate", "another delivery is recovering this job", held.job_id, route.name, uri)
        return result

    def _resume(self, job: Job, route: Route, engine: Engine, uri: str, why: str) -> LaunchResult | None:
        """Take a pending attempt's start in hand and finish it (None: another delivery took it first). An attempt
        whose start call never went out (a retry's, ``Job.start_never_sent``) starts at once; any other is looked
        up first: found, it is recorded; not found, its new send time is recorded, then it starts; no answer (a
        lookup throttled or out of time), it stays in hand for the sweeper to ask again (its deadline:
        jobs.MAX_START_REQUESTS)."""
        never_sent = job.start_never_sent
        taken = self._ledger.take_over(job, why=why, sends=never_sent)
        if taken is None:
            return None
        if never_sent:
            return self._paced_start(taken, route, engine, uri, behind_backlog=True)
        found, unknown = self._look_up(taken, route, engine, uri)
        if unknown is not None:
            return unknown
        if found is not None:
            self._ledger.record_submitted(taken, found.engine_id, found.details, found.step_names)
            logger.warning("recovered abandoned start", job_id=job.job_id, route=route.name, engine_id=found.engine_id)
            return LaunchResult(
                "recovered", "engine resource found by name", job.job_id, route.name, uri, found.engine_id
            )
        sending = self._ledger.send_start(taken)
        if sending is None:
            return LaunchResult("duplicate", "the attempt moved meanwhile", job.job_id, route.name, uri)
        logger.warning("abandoned start not found: starting", job_id=job.job_id, route=route.name)
        return self._paced_start(sending, route, engine, uri, behind_backlog=True)

    def _look_up(
        self, job: Job, route: Route, engine: Engine, uri: str
    ) -> tuple[StartedJob | None, LaunchResult | None]:
        """The resource an abandoned start may have made, found by name; a lookup the engine throttles, or that
        cannot finish within its time (``invocation.lookup_until``), leaves the attempt in hand, to be looked up
        again once abandoned (the sweeper asks): never a blind start, and never a failed message that SQS would
        retry into the DLQ."""
        try:
            return engine.find_started(job, lookup_until()), None
        except EngineStartUnknownError as exc:
            logger.warning("start lookup cut short: looked up again later", job_id=job.job_id, error=str(exc))
            why = "lookup out of time: looked up again before any new start"
        except EngineError as exc:
            if exc.code not in THROTTLING_CODES:
                raise
            logger.warning("start lookup throttled: looked up again later", job_id=job.job_id, error=str(exc))
            why = "lookup throttled: looked up again before any new start"
        return None, LaunchResult("unknown", why, job.job_id, route.name, uri)

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
        """One start-queued request per engine for when its next start is due (the sweeper nudges if lost). SQS
        delays a message at most ``MAX_DELAY_SECONDS``: a later start is woken for earlier, and the time recorded is
        the one scheduled, so that wake-up finds no request pending and schedules the rest of the wait."""
        now = epoch_now()
        at = min(at, now + MAX_DELAY_SECONDS)
        if self._pacer is None or self._pacer.nudge_due(engine, at, backlog=backlog):
            self._require_signal().drain_later(math.ceil(max(at - now, 0)))

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
        self._ledger.record_submitted(job, started.engine_id, started.details, started.step_names)
        metrics.count(metrics.JOBS_STARTED, route=route.name, engine=route.engine)
        logger.info("job started", job_id=job.job_id, route=route.name, engine_id=started.engine_id, uri=uri)
        return LaunchResult("started", "", job.job_id, route.name, uri, started.engine_id)


def _waited(name: str, keep: str | None, queues: dict[str, deque[Job]]) -> tuple[int, str]:
    """Sort key of a route in a drain: the kept route first, then routes by their head job's place in the queues
    (``queued_at``: when it first queued, kept when re-queued), oldest first; routes not read last (stable)."""
    if name == keep:
        return 0, ""
    queue = queues.get(name)
    if not queue:
        return 2, ""
    return 1, queue[0].queued_at or queue[0].created_at


def _rotated(routes: list[Route], first: str | None) -> list[Route]:
    """Routes in file order, beginning with ``first`` (the one that freed a slot) when it is one of them."""
    names = [route.name for route in routes]
    start = names.index(first) if first in names else 0
    return [*routes[start:], *routes[:start]]
