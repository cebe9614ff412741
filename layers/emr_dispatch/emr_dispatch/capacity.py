"""Capacity caps: how many jobs may hold a slot (SUBMITTING, SUBMITTED, RUNNING) per route and overall.

A slot is a counter (+1) and a slot item of the job (slots.py), taken in the same transaction as the job's
claim, so two launchers can never both take the last slot. A job over the cap is written QUEUED instead and
started, oldest first per route, when a slot frees. A job gives its slots back in the same transaction as its
terminal state (Ledger.transition) or its return to QUEUED (``park``), so no crash leaves them apart; the
sweeper's ``audit`` counts the slot items (strongly consistent) and corrects a counter only if it did not move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from emr_dispatch.conflicts import retry_conflicts
from emr_dispatch.errors import LedgerError
from emr_dispatch.jobs import ACTIVE_STATES, Job, JobState
from emr_dispatch.ledger import BY_QUEUE, job_key, new_job_item, serialize, to_job
from emr_dispatch.object_claims import holder, object_claim
from emr_dispatch.observability import logger
from emr_dispatch.pauses import ROUTE_PAUSED, route_open_check
from emr_dispatch.slots import ALL_ROUTES, COUNTER_SK, SLOT_PREFIX, counter_key, counter_pk, release_items, take_items
from emr_dispatch.timeutil import now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ALL_ROUTES", "Capacity", "Caps", "SlotClaim"]


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


@dataclass(frozen=True)
class SlotClaim:
    status: str  # claimed | queued | duplicate
    held_by: Job | None = None
    reason: str = ""  # why it was queued: a cap reached, or the route paused


class Capacity:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def claim(self, job: Job, caps: Caps) -> SlotClaim:
        """Claim a new job and take its slots at once; over a cap, claim it QUEUED instead."""
        slots = caps.slots()
        job.slots = [counter for counter, _ in slots]
        taken = take_items(self._table, job.job_id, slots, job.created_at)
        claimed_object = object_claim(self._table, job)  # no other job, of any route, for this object version
        try:
            # The route's pause is checked in the same transaction: no extra call per arrival.
            self._transact([self._put_new(job), *claimed_object, *taken, route_open_check(self._table, job.route)])
        except _Cancelled as cancelled:
            if self._lost(cancelled, claimed_object):
                return SlotClaim("duplicate", self._holder(cancelled))
            paused = cancelled.codes[-1] == "ConditionalCheckFailed"
            reason = ROUTE_PAUSED if paused else "capacity cap reached"
            job.slots = []
            job.state = JobState.QUEUED
            job.wait_reason = reason
            try:
                self._transact([self._put_new(job), *claimed_object])
            except _Cancelled as again:
                return SlotClaim("duplicate", self._holder(again))
            logger.info("job queued", job_id=job.job_id, route=job.route, reason=reason)
            return SlotClaim("queued", reason=reason)
        return SlotClaim("claimed")

    def start_queued(self, job: Job, caps: Caps) -> Job | None:
        """Move a QUEUED job to SUBMITTING, taking its slots if free; None if a cap is reached (or it moved)."""
        taken, _ = self.take_from_queue(job, caps)
        return taken

    def take_from_queue(self, job: Job, caps: Caps) -> tuple[Job | None, str]:
        """Move a QUEUED job to SUBMITTING, taking its slots: (job, "taken"), or (None, "moved") if the job is no
        longer QUEUED at this attempt, or (None, "cap") if one of its caps is reached."""
        slots = caps.slots()
        now = now_iso()
        entry = {"at": now, "state": JobState.SUBMITTING.value, "source": "launcher (from the queue)"}
        update = {
            "Update": {
                "TableName": self._table,
                "Key": job_key(job.job_id),
                "UpdateExpression": "SET #state = :submitting, slots = :slots, updated_at = :now, "
                "history = list_append(history, :entry) REMOVE #queue, wait_until",
                "ConditionExpression": "#state = :queued AND attempt = :attempt",
                "ExpressionAttributeNames": {"#state": "state", "#queue": "queue"},
                "ExpressionAttributeValues": {
                    ":submitting": serialize(JobState.SUBMITTING.value),
                    ":queued": serialize(JobState.QUEUED.value),
                    ":slots": serialize([counter for counter, _ in slots]),
                    ":now": serialize(now),
                    ":entry": serialize([entry]),
                    ":attempt": serialize(job.attempt),
                },
            }
        }
        try:
            taken = take_items(self._table, job.job_id, slots, now)
            self._transact([update, *taken, route_open_check(self._table, job.route)])
        except _Cancelled as cancelled:
            # Moved meanwhile; or a cap reached, or the route paused: it stays QUEUED.
            return None, "moved" if cancelled.codes[0] == "ConditionalCheckFailed" else "cap"
        job.state, job.slots, job.updated_at = JobState.SUBMITTING, [counter for counter, _ in slots], now
        job.history = [*job.history, entry]
        return job, "taken"

    def park(self, job: Job, reason: str, wait_until: str) -> bool:
        """A start that has to wait (a quota: the start rate, a throttle, a capacity refusal): back to QUEUED,
        keeping its place in its route's queue (ordered by creation), its slots given back in the same
        transaction, the reason and the time it will be tried again recorded. False if the job moved meanwhile."""
        now = now_iso()
        entry = {"at": now, "state": JobState.QUEUED.value, "source": f"launcher ({reason})", "attempt": job.attempt}
        update = {
            "Update": {
                "TableName": self._table,
                "Key": job_key(job.job_id),
                "UpdateExpression": "SET #state = :queued, updated_at = :now, history = list_append(history, :entry), "
                "#queue = :route, queued_at = :queued_at, wait_reason = :reason, wait_until = :until "
                "REMOVE slots, starting_at",
                "ConditionExpression": "#state = :submitting AND attempt = :attempt "
                "AND attribute_not_exists(engine_id)",
                "ExpressionAttributeNames": {"#state": "state", "#queue": "queue"},
                "ExpressionAttributeValues": {
                    ":queued": serialize(JobState.QUEUED.value),
                    ":submitting": serialize(JobState.SUBMITTING.value),
                    ":attempt": serialize(job.attempt),
                    ":now": serialize(now),
                    ":entry": serialize([entry]),
                    ":route": serialize(job.route),
                    ":queued_at": serialize(job.queued_at or job.created_at),
                    ":reason": serialize(reason),
                    ":until": serialize(wait_until),
                },
            }
        }
        try:
            self._transact([update, *release_items(self._table, job.job_id, job.slots)])
        except _Cancelled:
            return False
        logger.info("job waits", job_id=job.job_id, route=job.route, reason=reason, until=wait_until)
        job.state, job.slots, job.wait_reason, job.wait_until = JobState.QUEUED, [], reason, wait_until
        return True

    def queued(self, route: str, limit: int) -> tuple[list[Job], bool]:
        """A route's QUEUED jobs, oldest first (the sparse by_queue index: only QUEUED jobs carry ``queue``), and
        whether more may follow."""
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=BY_QUEUE,
                KeyConditionExpression="#queue = :route",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues={":route": {"S": route}},
                ScanIndexForward=True,
                Limit=limit,
            )
        except ClientError as exc:
            raise LedgerError(f"listing queued jobs of {route} failed: {exc}") from exc
        # The index is eventually consistent: a job may have left QUEUED already (its start is conditional).
        items = response.get("Items", [])
        jobs = [job for job in map(to_job, items) if job.state is JobState.QUEUED]
        return jobs, len(items) >= limit or "LastEvaluatedKey" in response

    def audit(self, counters: list[str]) -> list[str]:
        """Counters set to the slot items they hold, counted by a strongly consistent query of their partition.
        A correction is conditioned on the counter's version: if any slot moved since the count, it is left for
        the next sweep. Returns what was corrected."""
        corrected = []
        for counter in counters:
            active, version, holders = self._count(counter)
            released = [job_id for job_id in holders if self._release_if_not_held(counter, job_id)]
            if released:
                corrected.append(f"{counter}: released the slots of {len(released)} ended or vanished job(s)")
                active, version, holders = self._count(counter)
            held = len(holders)
            if active == held:
                continue
            condition = "ver = :seen" if version is not None else "attribute_not_exists(ver)"
            values = {":held": {"N": str(held)}, ":one": {"N": "1"}}
            if version is not None:
                values[":seen"] = {"N": str(version)}
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=counter_key(counter),
                    UpdateExpression="SET active = :held ADD ver :one",
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise LedgerError(f"correcting {counter} failed: {exc}") from exc
                continue  # a slot moved meanwhile: the next sweep counts again
            corrected.append(f"{counter}: {active} → {held}")
        if corrected:
            logger.warning("capacity counters corrected", corrected=corrected)
        return corrected

    def _count(self, counter: str) -> tuple[int, int | None, list[str]]:
        """(counter's active, its version, the jobs holding a slot item), from one strongly consistent read of
        the partition."""
        active, version, holders = 0, None, []
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": counter_pk(counter)}},
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    sk = item["sk"]["S"]
                    if sk == COUNTER_SK:
                        active = int(item.get("active", {}).get("N", "0"))
                        version = int(item["ver"]["N"]) if "ver" in item else None
                    elif sk.startswith(SLOT_PREFIX):
                        holders.append(sk.removeprefix(SLOT_PREFIX))
        except ClientError as exc:
            raise LedgerError(f"counting {counter} failed: {exc}") from exc
        return active, version, holders

    def _release_if_not_held(self, counter: str, job_id: str) -> bool:
        """Give back a slot item whose job no longer holds it (gone, ended or queued: only possible for items
        written before slots moved with their job, or edited by hand). The job's state is checked in the same
        transaction: a job that holds its slot keeps it."""
        try:
            found = self._client.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True).get("Item")
        except ClientError as exc:
            raise LedgerError(f"reading job {job_id} failed: {exc}") from exc
        job = to_job(found) if found else None
        if job is not None and counter in job.slots and job.state in ACTIVE_STATES:
            return False  # the usual case: a read, no write
        not_held = [JobState.QUEUED, *(state for state in JobState if state.is_terminal)]
        names = [f":s{i}" for i in range(len(not_held))]
        check = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": job_key(job_id),
                "ConditionExpression": f"attribute_not_exists(pk) OR NOT contains(slots, :counter) "
                f"OR #state IN ({', '.join(names)})",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":counter": {"S": counter},
                    **{name: {"S": state.value} for name, state in zip(names, not_held, strict=True)},
                },
            }
        }
        try:
            self._transact([check, *release_items(self._table, job_id, [counter])])
        except _Cancelled:
            return False
        logger.warning("slot of a job that does not hold it released", counter=counter, job_id=job_id)
        return True

    def active(self, counter: str) -> int:
        response = self._client.get_item(TableName=self._table, Key=counter_key(counter), ConsistentRead=True)
        return int(response.get("Item", {}).get("active", {}).get("N", "0"))

    # ---------------------------------------------------------------------- internals
    def _put_new(self, job: Job) -> dict[str, Any]:
        item = new_job_item(job)
        if job.state is JobState.QUEUED:  # in its route's queue (by_queue)
            item["queue"], item["queued_at"] = serialize(job.route), serialize(job.created_at)
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    @staticmethod
    def _lost(cancelled: _Cancelled, claimed_object: list[dict[str, Any]]) -> bool:
        """The claim lost to a job that already exists: this job's id, or another job holding the object."""
        codes = cancelled.codes
        return codes[0] == "ConditionalCheckFailed" or (
            bool(claimed_object) and len(codes) > 1 and codes[1] == "ConditionalCheckFailed"
        )

    def _holder(self, cancelled: _Cancelled) -> Job | None:
        """The job that holds what the claim lost: the job item itself, or the job the object claim names (read
        strongly consistent: it was written before its object claim, in one transaction)."""
        if cancelled.held_by is not None or cancelled.codes[0] == "ConditionalCheckFailed":
            return cancelled.held_by
        job_id = holder(cancelled.items[1] if len(cancelled.items) > 1 else None)
        if job_id is None:
            return None
        try:
            response = self._client.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
        except ClientError as exc:
            raise LedgerError(f"reading job {job_id} failed: {exc}") from exc
        item = response.get("Item")
        return to_job(item) if item else None

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            # Concurrent launchers taking slots of the same counter: a TransactionConflict is retried in place.
            retry_conflicts(
                lambda: self._client.transact_write_items(TransactItems=items),  # type: ignore[arg-type]
                "capacity",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise LedgerError(f"ledger transaction failed: {exc}") from exc
            reasons = exc.response.get("CancellationReasons", [])
            codes = [str(reason.get("Code", "None")) for reason in reasons] or ["Unknown"]
            if any(code not in ("None", "ConditionalCheckFailed") for code in codes):
                raise LedgerError(f"ledger transaction cancelled: {codes}") from exc
            held: Any = reasons[0].get("Item") if reasons else None
            items_back = [cast(dict[str, Any] | None, reason.get("Item")) for reason in reasons]
            raise _Cancelled(codes, to_job(held) if held else None, items_back) from exc


class _Cancelled(Exception):
    def __init__(self, codes: list[str], held_by: Job | None, items: list[dict[str, Any] | None]) -> None:
        super().__init__(codes)
        self.codes = codes
        self.held_by = held_by
        self.items = items  # each cancelled item's old image, when it had one
