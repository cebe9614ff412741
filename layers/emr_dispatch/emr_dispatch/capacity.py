"""Capacity caps: how many jobs may hold a slot (SUBMITTING, SUBMITTED, RUNNING) per route and overall.

Slots are counter items in the ledger table, taken in the same transaction as the job's claim, so two
launchers can never both take the last slot. A job over the cap is written QUEUED instead and started,
oldest first, when a slot frees. Counters drift only if an invocation dies between a job's terminal write
and its release; the sweeper recounts them from the jobs that hold slots (``recount``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.conflicts import retry_conflicts
from emr_dispatch.errors import LedgerError
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import BY_STATE, job_key, new_job_item, serialize, to_job
from emr_dispatch.observability import logger
from emr_dispatch.pauses import ROUTE_PAUSED, route_open_check
from emr_dispatch.timeutil import now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ALL_ROUTES = "*"


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


def _counter_key(counter: str) -> dict[str, Any]:
    return {"pk": {"S": f"CAPACITY#{counter}"}, "sk": {"S": "CAPACITY"}}


class Capacity:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def claim(self, job: Job, caps: Caps) -> SlotClaim:
        """Claim a new job and take its slots at once; over a cap, claim it QUEUED instead."""
        slots = caps.slots()
        job.slots = [counter for counter, _ in slots]
        taken = [self._take(counter, limit) for counter, limit in slots]
        try:
            # The route's pause is checked in the same transaction: no extra call per arrival.
            self._transact([self._put_new(job), *taken, route_open_check(self._table, job.route)])
        except _Cancelled as cancelled:
            if cancelled.codes[0] == "ConditionalCheckFailed":
                return SlotClaim("duplicate", cancelled.held_by)
            paused = cancelled.codes[-1] == "ConditionalCheckFailed"
            reason = ROUTE_PAUSED if paused else "capacity cap reached"
            job.slots = []
            job.state = JobState.QUEUED
            try:
                self._transact([self._put_new(job)])
            except _Cancelled as again:
                return SlotClaim("duplicate", again.held_by)
            logger.info("job queued", job_id=job.job_id, route=job.route, reason=reason)
            return SlotClaim("queued", reason=reason)
        return SlotClaim("claimed")

    def start_queued(self, job: Job, caps: Caps) -> Job | None:
        """Move a QUEUED job to SUBMITTING if its slots are free; None if a cap is still reached."""
        slots = caps.slots()
        now = now_iso()
        entry = {"at": now, "state": JobState.SUBMITTING.value, "source": "launcher (slot freed)"}
        update = {
            "Update": {
                "TableName": self._table,
                "Key": job_key(job.job_id),
                "UpdateExpression": "SET #state = :submitting, slots = :slots, updated_at = :now, "
                "history = list_append(history, :entry)",
                "ConditionExpression": "#state = :queued",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":submitting": serialize(JobState.SUBMITTING.value),
                    ":queued": serialize(JobState.QUEUED.value),
                    ":slots": serialize([counter for counter, _ in slots]),
                    ":now": serialize(now),
                    ":entry": serialize([entry]),
                },
            }
        }
        try:
            taken = [self._take(counter, limit) for counter, limit in slots]
            self._transact([update, *taken, route_open_check(self._table, job.route)])
        except _Cancelled:
            return None  # a cap reached, or the route paused: it stays QUEUED
        job.state, job.slots, job.updated_at = JobState.SUBMITTING, [counter for counter, _ in slots], now
        job.history = [*job.history, entry]
        return job

    def requeue(self, job: Job) -> None:
        """A start that was throttled: back to QUEUED (keeping its place), its slots given back."""
        now = now_iso()
        entry = {"at": now, "state": JobState.QUEUED.value, "source": "launcher (start throttled)"}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression="SET #state = :queued, updated_at = :now, history = list_append(history, :entry) "
                "REMOVE slots",
                ConditionExpression="#state = :submitting AND attribute_not_exists(engine_id)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":queued": serialize(JobState.QUEUED.value),
                    ":submitting": serialize(JobState.SUBMITTING.value),
                    ":now": serialize(now),
                    ":entry": serialize([entry]),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise LedgerError(f"requeueing job {job.job_id} failed: {exc}") from exc
            return
        self.release(job)

    def release(self, job: Job) -> None:
        """Give back the slots a job held (it ended, or never started)."""
        for counter in job.slots:
            try:
                # A launcher's claim transaction on the same counter makes DynamoDB refuse this write with a
                # TransactionConflictException: tried again in place (emr_dispatch.conflicts).
                retry_conflicts(
                    partial(
                        self._client.update_item,
                        TableName=self._table,
                        Key=_counter_key(counter),
                        UpdateExpression="ADD active :minus_one",
                        ConditionExpression="active > :zero",
                        ExpressionAttributeValues={":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
                    ),
                    f"capacity {counter}",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise LedgerError(f"releasing a {counter} slot of job {job.job_id} failed: {exc}") from exc
                logger.warning("slot counter already at zero", counter=counter, job_id=job.job_id)

    def recount(self, held: dict[str, int]) -> list[str]:
        """Correct counters that count more slots than jobs hold (``held``: slots held per counter).

        A release can be in flight, and the jobs are read from an eventually consistent index, so a
        counter is only lowered when the previous sweep saw it too high as well, by no more than both
        sweeps saw, and only if it has not moved since this read. Returns what was corrected."""
        corrected = []
        for counter, holding in held.items():
            try:
                item = self._client.get_item(TableName=self._table, Key=_counter_key(counter), ConsistentRead=True)
            except ClientError as exc:
                raise LedgerError(f"reading {counter} failed: {exc}") from exc
            fields = item.get("Item", {})
            active = int(fields.get("active", {}).get("N", "0"))
            seen_before = int(fields.get("drift_seen", {}).get("N", "0"))
            drift = active - holding
            if drift <= 0 and not seen_before:
                continue
            if drift <= 0 or not seen_before:
                expression, values = "SET drift_seen = :drift", {":drift": {"N": str(max(drift, 0))}}
            else:
                fix = min(drift, seen_before)
                expression, values = "ADD active :minus REMOVE drift_seen", {":minus": {"N": str(-fix)}}
                corrected.append(f"{counter}: {active} → {active - fix}")
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_counter_key(counter),
                    UpdateExpression=expression,
                    ConditionExpression="active = :active",
                    ExpressionAttributeValues={**values, ":active": {"N": str(active)}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise LedgerError(f"recounting {counter} failed: {exc}") from exc
                corrected = [line for line in corrected if not line.startswith(f"{counter}:")]
        if corrected:
            logger.warning("capacity counters corrected", corrected=corrected)
        return corrected

    def oldest_queued(self, limit: int = 25) -> list[Job]:
        """QUEUED jobs, oldest first (FIFO across routes; per route too)."""
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=BY_STATE,
                KeyConditionExpression="#state = :queued",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":queued": {"S": JobState.QUEUED.value}},
                ScanIndexForward=True,
                Limit=limit,
            )
        except ClientError as exc:
            raise LedgerError(f"listing queued jobs failed: {exc}") from exc
        return [to_job(item) for item in response.get("Items", [])]

    def active(self, counter: str) -> int:
        response = self._client.get_item(TableName=self._table, Key=_counter_key(counter), ConsistentRead=True)
        return int(response.get("Item", {}).get("active", {}).get("N", "0"))

    # ---------------------------------------------------------------------- internals
    def _put_new(self, job: Job) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": new_job_item(job),
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _take(self, counter: str, limit: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _counter_key(counter),
                "UpdateExpression": "ADD active :one",
                "ConditionExpression": "attribute_not_exists(active) OR active < :limit",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}},
            }
        }

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
            raise _Cancelled(codes, to_job(held) if held else None) from exc


class _Cancelled(Exception):
    def __init__(self, codes: list[str], held_by: Job | None) -> None:
        super().__init__(codes)
        self.codes = codes
        self.held_by = held_by
