"""The one DynamoDB table: its keys, item encoding and decoding, and conditional writes.

Every item kind (a job, a batch and its members, the arrivals' claims, a capacity counter and its slots, an
engine's start-rate bucket, a paused route, a remembered orphan, a skipped arrival) is keyed here, so no other
module spells a ``pk``. Key schema and index names come from template.yaml (LedgerTable); a test compares.

``Update`` and ``Condition`` (expressions.py, re-exported here) build the expressions and their placeholders
from calls instead of hand-written strings. ``Table`` sends them, turning a failed condition into an answer
(None / False) and any other error into a LedgerError.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from emr_dispatch.arrivals import object_version
from emr_dispatch.conflicts import retry_conflicts
from emr_dispatch.errors import LedgerError
from emr_dispatch.expressions import Condition, Update, serialize
from emr_dispatch.inputs import inputs_from_items
from emr_dispatch.jobs import Job, JobState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["Condition", "Update", "serialize"]  # with everything defined here: one import for the table's users

# ---------------------------------------------------------------------- schema (template.yaml, LedgerTable)
PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
BY_ENGINE_ID = "by_engine_id"
BY_STATE = "by_state"
BY_QUEUE = "by_queue"
"""Sparse index of the QUEUED jobs of each route (``queue`` = route, set only while QUEUED), oldest first."""
BY_PENDING_ALERT = "by_pending_alert"
"""Sparse index of the jobs whose alert is not yet published (alert_due set), by when it was claimed."""
BY_PENDING_TAGS = "by_pending_tags"
"""Sparse index of the ended jobs whose input outcome tags are not all written (tags_due set), by claim time."""
BY_OBJECT = "by_object"
"""Index of the items that stand for one input object (jobs, batch members, skipped arrivals) by uri and version."""
INDEX_KEYS = {
    BY_ENGINE_ID: ("engine_id", None),
    BY_STATE: ("state", "created_at"),
    BY_QUEUE: ("queue", "queued_at"),
    BY_PENDING_ALERT: ("alert_due", "alert_claimed_at"),
    BY_OBJECT: ("object_uri", "object_version"),
    BY_PENDING_TAGS: ("tags_due", "tags_claimed_at"),
}
OBJECT_URI = "object_uri"
OBJECT_VERSION = "object_version"

# ---------------------------------------------------------------------- keys
JOB_SK = "JOB"
BATCH_PREFIX = "BATCH#"
MEMBER_PREFIX = "ARRIVAL#"
COUNTER_SK = "CAPACITY"
SLOT_PREFIX = "SLOT#"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": pk}, SORT_KEY: {"S": sk}}


def job_key(job_id: str) -> dict[str, Any]:
    return _key(f"JOB#{job_id}", JOB_SK)


def batch_pk(batch_id: str) -> str:
    return f"{BATCH_PREFIX}{batch_id}"


def batch_key(batch_id: str) -> dict[str, Any]:
    return _key(batch_pk(batch_id), "BATCH")


def member_key(batch_id: str, arrival_hash: str) -> dict[str, Any]:
    """A batch member: one arrival of the batch, in the batch's partition."""
    return _key(batch_pk(batch_id), f"{MEMBER_PREFIX}{arrival_hash}")


def arrival_claim_key(route: str, arrival_hash: str) -> dict[str, Any]:
    """An arrival's claim on its batch membership: a re-delivery never joins twice."""
    return _key(f"ARRIVAL#{route}#{arrival_hash}", "ARRIVAL")


def window_key(route: str, window: int) -> dict[str, Any]:
    """A batching window's pointer to its current batch."""
    return _key(f"BATCHSEQ#{route}#{window}", "SEQ")


def counter_pk(counter: str) -> str:
    return f"CAPACITY#{counter}"


def counter_key(counter: str) -> dict[str, Any]:
    return _key(counter_pk(counter), COUNTER_SK)


def slot_key(counter: str, job_id: str) -> dict[str, Any]:
    return _key(counter_pk(counter), f"{SLOT_PREFIX}{job_id}")


def pace_key(engine: str) -> dict[str, Any]:
    return _key(f"PACE#{engine}", "PACE")


def route_key(route: str) -> dict[str, Any]:
    return _key(f"ROUTE#{route}", "ROUTE")


def orphan_key(engine_id: str) -> dict[str, Any]:
    return _key(f"ORPHAN#{engine_id}", "ORPHAN")


def search_marks_key() -> dict[str, Any]:
    """Where the orphan search left off in each engine's listing (orphans.OrphanMemory.search_marks)."""
    return _key("ORPHAN-SEARCH", "MARKS")


def object_claim_key(uri: str, version: str) -> dict[str, Any]:
    """An object version's claim, naming the one job it starts whatever route names it (object_claims.py)."""
    return _key(f"OBJECT#{uri}#{version}", "OBJECT")


def skip_key(uri: str, version: str) -> dict[str, Any]:
    return _key(f"SKIP#{uri}#{version}", "SKIP")


def queue_names_key() -> dict[str, Any]:
    """The one item naming every route that ever queued a job (queue_names.py): never a job (sk is not JOB)."""
    return _key("QUEUES", "QUEUE_NAMES")


def is_job_item(item: dict[str, Any]) -> bool:
    return bool(item.get(SORT_KEY, {}).get("S") == JOB_SK)


# ---------------------------------------------------------------------- encoding
_DESERIALIZER = TypeDeserializer()


def encode(item: dict[str, Any]) -> dict[str, Any]:
    """A plain mapping as a DynamoDB-typed item (None values left out)."""
    return {name: serialize(value) for name, value in item.items() if value is not None}


def plain(value: Any) -> Any:
    """A deserialized value with DynamoDB's Decimals back to ints and floats, sets to lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    return value


def decode(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB-typed item as a plain mapping."""
    return {name: plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}


# Job fields read from another attribute name (a new job's empty ``metrics`` is written as is, never read).
_STORED_AS = {"metrics": "engine_metrics"}
_JOB_FIELDS = tuple(Job.__dataclass_fields__)


def object_index(record: dict[str, Any]) -> dict[str, str]:
    """The by_object index's attributes for one object an item stands for (a job's single input, its marker,
    a batch member): ``emr-dispatch jobs find s3://bucket/key`` reads them instead of scanning the ledger."""
    key = str(record.get("marker") or record.get("key") or "")
    if not record.get("bucket") or not key or record.get("manifest"):
        return {}
    version = object_version(record.get("version_id"), record.get("etag"), record.get("size"))
    return {OBJECT_URI: f"s3://{record['bucket']}/{key}", OBJECT_VERSION: version}


def encode_job(job: Job, source: str = "launcher") -> dict[str, Any]:
    """A new job's item, as its claim writes it, indexed by its input object when it has one (and in its
    route's queue, by_queue, when it is created QUEUED)."""
    # A new job has no input outcome tags to write yet (the tags_* fields belong to its end).
    item = {name: value for name, value in asdict(job).items() if value is not None and not name.startswith("tags_")}
    item["state"] = job.state.value
    item["inputs"] = [each.to_item() for each in job.inputs]  # inputs.py: the shape jobs were always stored in
    item["history"] = [{"at": job.created_at, "state": job.state.value, "source": source}]
    if len(job.inputs) == 1:
        item.update(object_index(job.inputs[0].to_item()))
    if job.state is JobState.QUEUED:
        item["queue"], item["queued_at"] = job.route, job.created_at
    return {**job_key(job.job_id), **encode(item)}


def decode_job(item: dict[str, Any]) -> Job:
    data = decode(item)
    values = {name: data[_STORED_AS.get(name, name)] for name in _JOB_FIELDS if _STORED_AS.get(name, name) in data}
    values["state"] = JobState(data["state"])
    values["attempt"] = int(data["attempt"])
    values["alert_pending"] = bool(data.get("alert_pending", False))
    values["max_attempts"] = int(data.get("max_attempts", 1))
    values["inputs"] = inputs_from_items(data.get("inputs"))
    values["tags_cursor"] = int(data.get("tags_cursor", 0))
    values["start_requests"] = int(data.get("start_requests", 0))
    values["tags_counts"] = {name: int(count) for name, count in (data.get("tags_counts") or {}).items()}
    if values.get("timeout_minutes") is not None:
        values["timeout_minutes"] = int(values["timeout_minutes"])
    return Job(**values)


class Cancelled(Exception):
    """A transaction refused by a failed condition: the codes of its items, in order, and their old images."""

    def __init__(self, codes: list[str], olds: list[dict[str, Any] | None]) -> None:
        super().__init__(codes)
        self.codes = codes
        self.olds = olds  # each item's old image, when it asked for one and had one
        self.old = olds[0] if olds else None


def _failed_condition(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class Table:
    """The table's writes and reads with their errors translated: a failed condition is an answer."""

    def __init__(self, name: str, client: DynamoDBClient) -> None:
        self.name = name
        self.client = client

    def update(self, key: dict[str, Any], update: Update, what: str, *, new: bool = False) -> dict[str, Any] | None:
        """Apply ``update``: the new item (``new``) or {} when applied, None when its condition failed."""
        extra: dict[str, Any] = {"ReturnValues": "ALL_NEW"} if new else {}
        try:
            response = self.client.update_item(TableName=self.name, Key=key, **update.request(), **extra)
        except ClientError as exc:
            if _failed_condition(exc):
                return None
            raise LedgerError(f"{what} failed: {exc}") from exc
        return dict(response.get("Attributes", {}))

    def try_update(self, key: dict[str, Any], update: Update, what: str) -> tuple[bool, dict[str, Any]]:
        """(applied, the item as it was when the condition refused it)."""
        try:
            self.client.update_item(
                TableName=self.name, Key=key, **update.request(), ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except ClientError as exc:
            if _failed_condition(exc):
                return False, dict(exc.response.get("Item", {}))  # type: ignore[call-overload]
            raise LedgerError(f"{what} failed: {exc}") from exc
        return True, {}

    def put(self, item: dict[str, Any], what: str, condition: Condition | None = None) -> tuple[bool, dict[str, Any]]:
        """(written, the item that made the condition fail, if any)."""
        extra = {**condition.request(), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if condition else {}
        try:
            self.client.put_item(TableName=self.name, Item=item, **extra)
        except ClientError as exc:
            if _failed_condition(exc):
                return False, dict(exc.response.get("Item", {}))  # type: ignore[call-overload]
            raise LedgerError(f"{what} failed: {exc}") from exc
        return True, {}

    def delete(self, key: dict[str, Any], condition: Condition, what: str) -> dict[str, Any] | None:
        """The deleted item, or None when the condition failed."""
        try:
            response = self.client.delete_item(
                TableName=self.name, Key=key, ReturnValues="ALL_OLD", **condition.condition_request()
            )
        except ClientError as exc:
            if _failed_condition(exc):
                return None
            raise LedgerError(f"{what} failed: {exc}") from exc
        return dict(response.get("Attributes", {}))

    def get(self, key: dict[str, Any], what: str) -> dict[str, Any] | None:
        try:
            item = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True).get("Item")
        except ClientError as exc:
            raise LedgerError(f"{what} failed: {exc}") from exc
        return dict(item) if item else None

    # -------------------------------------------------------------- transactions
    def tx_update(self, key: dict[str, Any], update: Update) -> dict[str, Any]:
        return {"Update": {"TableName": self.name, "Key": key, **update.request()}}

    def tx_put(self, item: dict[str, Any], condition: Condition | None = None) -> dict[str, Any]:
        extra = {**condition.request(), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if condition else {}
        return {"Put": {"TableName": self.name, "Item": item, **extra}}

    def tx_check(self, key: dict[str, Any], condition: Condition) -> dict[str, Any]:
        return {"ConditionCheck": {"TableName": self.name, "Key": key, **condition.condition_request()}}

    def tx_delete(self, key: dict[str, Any]) -> dict[str, Any]:
        return {"Delete": {"TableName": self.name, "Key": key}}

    def transact(self, items: list[dict[str, Any]], what: str, *, conflicts: bool = True) -> None:
        """Write ``items`` in one transaction; a transaction conflict is retried in place (conflicts.py) unless
        ``conflicts`` is False. Raises Cancelled when a condition failed, LedgerError for anything else."""

        def write() -> Any:
            return self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]

        try:
            retry_conflicts(write, what) if conflicts else write()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise LedgerError(f"{what} failed: {exc}") from exc
            reasons = exc.response.get("CancellationReasons", [])
            codes = [str(reason.get("Code", "None")) for reason in reasons] or ["Unknown"]
            if any(code not in ("None", "ConditionalCheckFailed") for code in codes):
                raise LedgerError(f"{what} was cancelled: {codes}") from exc
            olds = [cast(dict[str, Any] | None, reason.get("Item")) for reason in reasons]
            raise Cancelled(codes, olds) from exc
