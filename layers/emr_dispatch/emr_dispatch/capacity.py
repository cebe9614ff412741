"""Capacity caps: how many jobs may hold a slot (SUBMITTING, SUBMITTED, RUNNING) per route and overall.

A slot is a counter (+1) and a slot item of the job (slots.py), taken in the same transaction as the job's
claim, so two launchers can never both take the last slot. A job over the cap is written QUEUED instead and
started, oldest first per route, when a slot frees. A job gives its slots back in the same transaction as its
terminal state (Ledger.transition) or its return to QUEUED (``park``), so no crash leaves them apart; the
sweeper's audit (capacity_audit.py) counts the slot items and corrects a counter only if it did not move.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.capacity_audit import BATCH_GET_KEYS, CapacityAudit, batch_get
from emr_dispatch.errors import LedgerError
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.object_claims import holder, object_claim
from emr_dispatch.observability import logger
from emr_dispatch.pauses import ROUTE_PAUSED, route_open_check
from emr_dispatch.queue_names import QueueNames
from emr_dispatch.slots import ALL_ROUTES, release_items, take_items
from emr_dispatch.table import (
    BY_QUEUE,
    Cancelled,
    Condition,
    Table,
    counter_key,
    counter_pk,
    decode_job,
    encode_job,
    job_key,
)
from emr_dispatch.timeutil import now_iso
from emr_dispatch.transitions import PARK, START_FROM_QUEUE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ALL_ROUTES", "Capacity", "Caps", "Room", "SlotClaim"]


@dataclass(frozen=True)
class Caps:
    """The caps a route's jobs are held to: its own and the overall one (None: unlimited)."""

    route: str
    route_limit: int | None
    total_limit: int | None

    @property
    def limited(self) -> bool:
        return self.route_limit is not None or self.total_limit is not None

    def slots(self) -> list[tuple[str, int]]:
        """(counter, limit) pairs a job of this route must take a slot in."""
        pairs = []
        if self.route_limit is not None:
            pairs.append((self.route, self.route_limit))
        if self.total_limit is not None:
            pairs.append((ALL_ROUTES, self.total_limit))
        return pairs


@dataclass
class Room:
    """Free slots per counter, read strongly consistent when a drain begins (``Capacity.room``), and kept up to date
    with the drain's own takes and give-backs: a take the counter would refuse is not tried (no transaction that can
    only be cancelled), and a route whose cap is reached has its queue left unread. A slot freed after the read is
    started by the drain its release asks for (every release that frees a slot sends one), as a take refused by a
    concurrent launcher's is today."""

    free: dict[str, int]  # counter → free slots; a counter not named is not capped

    def refuses(self, caps: Caps) -> str | None:
        """Why a take under ``caps`` would be refused: "total" (the overall cap is full), "cap" (its route's), None."""
        if self.free.get(ALL_ROUTES, 1) <= 0 and caps.total_limit is not None:
            return "total"
        if self.free.get(caps.route, 1) <= 0 and caps.route_limit is not None:
            return "cap"
        return None

    def full(self) -> bool:
        """Whether the overall cap has no free slot (no route's job can start)."""
        return self.free.get(ALL_ROUTES, 1) <= 0

    def took(self, caps: Caps, slots: int = 1) -> None:
        """A job took its slots (``slots`` = -1: gave them back)."""
        for counter, _ in caps.slots():
            if counter in self.free:
                self.free[counter] -= slots

    def left(self) -> int | None:
        """Free slots of the overall cap (None: not capped)."""
        return self.free.get(ALL_ROUTES)


@dataclass(frozen=True)
class SlotClaim:
    status: str  # claimed | queued | duplicate
    held_by: Job | None = None
    reason: str = ""  # why it was queued: a cap reached, or the route paused


class Capacity:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self.table = Table(table_name, client)
        self.queue_names = QueueNames(table_name, client)

    def claim(self, job: Job, caps: Caps) -> SlotClaim:
        """Claim a new job and take its slots at once; over a cap, claim it QUEUED instead."""
        slots = caps.slots()
        job.slots = [counter for counter, _ in slots]
        job.start_sent_at = job.created_at  # claimed SUBMITTING, its start call goes out next (jobs.Job.start_sent_at)
        taken = take_items(self._table, job.job_id, slots, job.created_at)
        claimed_object = object_claim(self._table, job)  # no other job, of any route, for this object version
        try:
            # The route's pause is checked in the same transaction: no extra call per arrival.
            self._transact([self._put_new(job), *claimed_object, *taken, route_open_check(self._table, job.route)])
        except Cancelled as cancelled:
            if _lost(cancelled, claimed_object):
                return SlotClaim("duplicate", self._holder(cancelled))
            paused = cancelled.codes[-1] == "ConditionalCheckFailed"
            reason = ROUTE_PAUSED if paused else "capacity cap reached"
            job.slots = []
            job.start_sent_at = None
            job.state = JobState.QUEUED
            job.wait_reason = reason
            named = self.queue_names.add_item(job.route)  # its route's name with it: found even once removed
            try:
                self._transact([self._put_new(job), *claimed_object, *named])
            except Cancelled as again:
                return SlotClaim("duplicate", self._holder(again))
            self.queue_names.added(job.route)
            logger.info("job queued", job_id=job.job_id, route=job.route, reason=reason)
            return SlotClaim("queued", reason=reason)
        return SlotClaim("claimed")

    def start_queued(self, job: Job, caps: Caps) -> Job | None:
        """Move a QUEUED job to SUBMITTING, taking its slots if free; None if a cap is reached (or it moved)."""
        taken, _ = self.take_from_queue(job, caps)
        return taken

    def take_from_queue(self, job: Job, caps: Caps) -> tuple[Job | None, str]:
        """Move a QUEUED job to SUBMITTING, taking its slots: (job, "taken"), or (None, "moved") if the job is no
        longer QUEUED at this attempt, (None, "total") if the overall cap is reached (no route's job can start),
        or (None, "cap") if its route's cap is reached or its route is paused."""
        slots = caps.slots()
        now = now_iso()
        entry = {"at": now, "state": JobState.SUBMITTING.value, "source": "launcher (from the queue)"}
        write = (
            START_FROM_QUEUE.write(job).set("slots", [counter for counter, _ in slots]).set("updated_at", now, "now")
        )
        write.set("starting_at", now, "now")  # taken in hand: never re-asked as a retry nobody took (breaker F6)
        write.set("start_sent_at", now, "now")  # its start call goes out next, with no lookup first
        write.set_expression("history", "list_append(#history, :entry)", entry=[entry])
        update = self.table.tx_update(job_key(job.job_id), write)
        try:
            taken = take_items(self._table, job.job_id, slots, now)
            self._transact([update, *taken, route_open_check(self._table, job.route)])
        except Cancelled as cancelled:
            # Moved meanwhile; or a cap reached, or the route paused: it stays QUEUED. The reasons come in the
            # transaction's item order: the job, then an update and a put per slot, then the route's pause check.
            codes = cancelled.codes
            if codes[0] == "ConditionalCheckFailed":
                return None, "moved"
            counters = [counter for counter, _ in slots]
            total = 1 + 2 * counters.index(ALL_ROUTES) if ALL_ROUTES in counters else None
            if total is not None and total < len(codes) and codes[total] == "ConditionalCheckFailed":
                return None, "total"
            return None, "cap"
        job.state, job.slots, job.updated_at = JobState.SUBMITTING, [counter for counter, _ in slots], now
        job.starting_at = job.start_sent_at = now
        job.history = [*job.history, entry]
        return job, "taken"

    def park(self, job: Job, reason: str, wait_until: str) -> bool:
        """A start that has to wait (a quota: the start rate, a throttle, a capacity refusal): back to QUEUED,
        keeping its place in its route's queue (ordered by creation), its slots given back in the same
        transaction, the reason and the time it will be tried again recorded. False if the job moved meanwhile."""
        now = now_iso()
        entry = {"at": now, "state": JobState.QUEUED.value, "source": f"launcher ({reason})", "attempt": job.attempt}
        write = PARK.write(job).set("updated_at", now, "now").set("queue", job.route, "route")
        write.set_expression("history", "list_append(#history, :entry)", entry=[entry])
        write.set("queued_at", job.queued_at or job.created_at).set("wait_reason", reason, "reason")
        update = self.table.tx_update(job_key(job.job_id), write.set("wait_until", wait_until, "until"))
        named = self.queue_names.add_item(job.route)  # its route's name with it: found even once removed
        try:
            self._transact([update, *release_items(self._table, job.job_id, job.slots), *named])
        except Cancelled:
            return False
        self.queue_names.added(job.route)
        logger.info("job waits", job_id=job.job_id, route=job.route, reason=reason, until=wait_until)
        job.state, job.slots, job.wait_reason, job.wait_until = JobState.QUEUED, [], reason, wait_until
        return True

    def queued(self, route: str, limit: int) -> tuple[list[Job], bool]:
        """A route's QUEUED jobs, oldest first (the sparse by_queue index: only QUEUED jobs carry ``queue``), and
        whether more may follow."""
        response = self._queue_query(route, f"listing queued jobs of {route}", ScanIndexForward=True, Limit=limit)
        # The index is eventually consistent: a job may have left QUEUED already (its start is conditional).
        items = response.get("Items", [])
        jobs = [job for job in map(decode_job, items) if job.state is JobState.QUEUED]
        return jobs, len(items) >= limit or "LastEvaluatedKey" in response

    def waiting(self, route: str) -> bool:
        """Whether any job waits in the route's queue: one item read (Limit 1), whatever the backlog. A job the
        eventually consistent index still shows after it left QUEUED counts: a start request finds nothing."""
        # Only whether one exists (the index projects all attributes).
        what = f"looking for queued jobs of {route}"
        response = self._queue_query(route, what, ProjectionExpression="#queue", Limit=1)
        return bool(response.get("Items"))

    def _queue_query(self, route: str, what: str, **extra: Any) -> dict[str, Any]:
        """One Query of a route's queue (the by_queue index)."""
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=BY_QUEUE,
                KeyConditionExpression="#queue = :route",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues={":route": {"S": route}},
                **extra,
            )
        except ClientError as exc:
            raise LedgerError(f"{what} failed: {exc}") from exc
        return dict(response)

    def all_queued(self, route: str) -> Iterator[Job]:
        """Every QUEUED job of a route, oldest first, page by page (the queue of a removed route: each ends)."""
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=BY_QUEUE,
                KeyConditionExpression="#queue = :route",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues={":route": {"S": route}},
                ScanIndexForward=True,
            )
            for page in pages:
                for job in map(decode_job, page.get("Items", [])):
                    if job.state is JobState.QUEUED:
                        yield job
        except ClientError as exc:
            raise LedgerError(f"listing queued jobs of {route} failed: {exc}") from exc

    def audit(self, counters: list[str]) -> list[str]:
        """The sweeper's check of the counters against the slot items they count (capacity_audit.py)."""
        return CapacityAudit(self._table, self._client).audit(counters)

    def counted(self, counters: list[str]) -> dict[str, int]:
        """Each counter's ``active`` (a missing item: 0), strongly consistent, in one BatchGetItem per hundred."""
        keys = [counter_key(counter) for counter in counters]
        names = {"#pk": "pk", "#active": "active"}
        items = [
            item
            for start in range(0, len(keys), BATCH_GET_KEYS)
            for item in batch_get(
                self._client, self._table, keys[start : start + BATCH_GET_KEYS], "#pk, #active", names, "counters"
            )
        ]
        active = {
            str(item["pk"]["S"]).removeprefix(counter_pk("")): int(item.get("active", {}).get("N", "0"))
            for item in items
        }
        return {counter: active.get(counter, 0) for counter in counters}

    def room(self, limits: dict[str, int]) -> Room:
        """The free slots of each counter (counter → its limit): one strongly consistent BatchGetItem of the
        counter items, whatever the number of routes (a missing item is a counter at 0)."""
        if not limits:
            return Room({})
        active = self.counted(list(limits))
        return Room({counter: max(limit - active[counter], 0) for counter, limit in limits.items()})

    def active(self, counter: str) -> int:
        response = self._client.get_item(TableName=self._table, Key=counter_key(counter), ConsistentRead=True)
        return int(response.get("Item", {}).get("active", {}).get("N", "0"))

    # ---------------------------------------------------------------------- internals
    def _put_new(self, job: Job) -> dict[str, Any]:
        return self.table.tx_put(encode_job(job), Condition().when("attribute_not_exists(#pk)"))

    def _holder(self, cancelled: Cancelled) -> Job | None:
        """The job that holds what the claim lost: the job item itself, or the job the object claim names (read
        strongly consistent: it was written before its object claim, in one transaction)."""
        held = decode_job(cancelled.old) if cancelled.old else None
        if held is not None or cancelled.codes[0] == "ConditionalCheckFailed":
            return held
        job_id = holder(cancelled.olds[1] if len(cancelled.olds) > 1 else None)
        if job_id is None:
            return None
        item = self.table.get(job_key(job_id), f"reading job {job_id}")
        return decode_job(item) if item else None

    def _transact(self, items: list[dict[str, Any]]) -> None:
        # Concurrent launchers taking slots of the same counter: a TransactionConflict is retried in place.
        self.table.transact(items, "capacity")


def _lost(cancelled: Cancelled, claimed_object: list[dict[str, Any]]) -> bool:
    """The claim lost to a job that already exists: this job's id, or another job holding the object."""
    codes = cancelled.codes
    return codes[0] == "ConditionalCheckFailed" or (
        bool(claimed_object) and len(codes) > 1 and codes[1] == "ConditionalCheckFailed"
    )
