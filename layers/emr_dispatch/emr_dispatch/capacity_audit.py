"""The sweeper's audit of the capacity counters: each counter is set to the slot items it counts (a strongly
consistent query of its partition), a slot item whose job no longer holds it is given back, and a correction
applies only if no slot moved since the count (the counter's version). Slots move only with their job's state, in
one transaction (capacity.py), so a difference means an item edited by hand or written before slot items existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch import timeutil
from emr_dispatch.errors import LedgerError
from emr_dispatch.jobs import ACTIVE_STATES, JobState
from emr_dispatch.observability import logger
from emr_dispatch.slots import release_items
from emr_dispatch.table import (
    COUNTER_SK,
    SLOT_PREFIX,
    Cancelled,
    Condition,
    Table,
    Update,
    counter_key,
    counter_pk,
    decode,
    decode_job,
    job_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_KEYS = 100  # BatchGetItem: at most 100 keys per request
_BATCH_GET_ATTEMPTS = 5


class CapacityAudit:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self.table = Table(table_name, client)

    def audit(self, counters: list[str]) -> list[str]:
        """Counters set to the slot items they hold, counted by a strongly consistent query of their partition.
        A correction is conditioned on the counter's version: if any slot moved since the count, it is left for
        the next sweep. Returns what was corrected."""
        corrected = []
        for counter in counters:
            active, version, holders = self._count(counter)
            holding = self._holding(counter, holders)  # the usual case: every one, read in one call per hundred
            unheld = [job_id for job_id in holders if job_id not in holding]
            released = [job_id for job_id in unheld if self._release_if_not_held(counter, job_id)]
            if released:
                corrected.append(f"{counter}: released the slots of {len(released)} ended or vanished job(s)")
                active, version, holders = self._count(counter)
            held = len(holders)
            if active == held:
                continue
            correct = Update().set("active", held, "held").add("ver", 1, "one")
            if version is not None:
                correct.when("#ver = :seen", seen=version)
            else:
                correct.when("attribute_not_exists(#ver)")
            if self.table.update(counter_key(counter), correct, f"correcting {counter}") is None:
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

    def _holding(self, counter: str, job_ids: list[str]) -> set[str]:
        """Of the jobs with a slot item in ``counter``, those that hold it (active, the counter in their slots):
        read strongly consistent, a hundred jobs per call (BatchGetItem's limit), not one call per job."""
        holding: set[str] = set()
        for start in range(0, len(job_ids), BATCH_GET_KEYS):
            for item in self._get_jobs(job_ids[start : start + BATCH_GET_KEYS]):
                fields = decode(item)
                state, slots = fields.get("state"), fields.get("slots") or []
                if counter in slots and state in {active.value for active in ACTIVE_STATES}:
                    holding.add(str(fields["job_id"]))
        return holding

    def _get_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """Job items by id (those that exist), strongly consistent; keys DynamoDB leaves unprocessed are asked
        again after a short wait (BatchGetItem answers part of a request when it is throttled or too large)."""
        # What holding a slot depends on, not the whole job.
        keys = [job_key(job_id) for job_id in job_ids]
        return batch_get(
            self._client, self._table, keys, "job_id, #state, slots", {"#state": "state"}, f"{len(job_ids)} jobs"
        )

    def _release_if_not_held(self, counter: str, job_id: str) -> bool:
        """Give back a slot item whose job no longer holds it (gone, ended or queued: only possible for items
        written before slots moved with their job, or edited by hand). The job's state is checked in the same
        transaction: a job that holds its slot keeps it."""
        found = self.table.get(job_key(job_id), f"reading job {job_id}")
        job = decode_job(found) if found else None
        if job is not None and counter in job.slots and job.state in ACTIVE_STATES:
            return False  # the usual case: a read, no write
        not_held = [JobState.QUEUED, *(state for state in JobState if state.is_terminal)]
        unheld = Condition().when(
            "attribute_not_exists(#pk) OR NOT contains(#slots, :counter) OR #state IN ("
            + ", ".join(f":s{i}" for i in range(len(not_held)))
            + ")",
            counter=counter,
            **{f"s{i}": state.value for i, state in enumerate(not_held)},
        )
        check = self.table.tx_check(job_key(job_id), unheld)
        try:
            self.table.transact([check, *release_items(self._table, job_id, [counter])], "capacity")
        except Cancelled:
            return False
        logger.warning("slot of a job that does not hold it released", counter=counter, job_id=job_id)
        return True


def batch_get(
    client: DynamoDBClient, table: str, keys: list[dict[str, Any]], projection: str, names: dict[str, str], what: str
) -> list[Any]:
    """Items by key (those that exist; at most 100 keys), strongly consistent; keys DynamoDB leaves unprocessed
    are asked again after a short wait (BatchGetItem answers part of a request when it is throttled)."""
    found: list[dict[str, Any]] = []
    wanted = {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": projection}
    wanted["ExpressionAttributeNames"] = names
    request: dict[str, Any] = {table: wanted}
    for attempt in range(_BATCH_GET_ATTEMPTS):
        try:
            response = client.batch_get_item(RequestItems=request)
        except ClientError as exc:
            raise LedgerError(f"reading {what} failed: {exc}") from exc
        found += response.get("Responses", {}).get(table, [])
        request = dict(response.get("UnprocessedKeys") or {})
        if not request:
            return found
        timeutil.sleep(0.05 * 2**attempt)
    raise LedgerError(f"reading {what}: keys left unprocessed after {_BATCH_GET_ATTEMPTS} attempts")
