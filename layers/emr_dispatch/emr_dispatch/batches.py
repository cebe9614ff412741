"""Batches: arrivals of a route within a window (up to a count and a size) become one job.

Every arrival joins its batch in one transaction — its own claim (so a re-delivery never joins twice,
in this batch or a later one), the batch's counters, and a member item — so none is lost if the
invocation dies midway. A batch closes when full, or when its window ends (a delayed control message);
closing writes the members to a manifest object in the work bucket, which the job reads.

A batch waits OPEN, then CLOSING (no arrival joins any more) until its job is admitted, then CLOSED. Each
OPEN or CLOSING batch carries its deadline (``close_by``): if the close-batch message was never sent, was
lost, or its invocation died, the sweeper asks for the close again once the deadline passed
(docs/WAITING.md). Every item a batch writes (the batch, its members, the arrivals' claims, the window's
pointer) expires (``expires_at``, the table's TTL attribute) long after the batch's deadline.

Closing streams the members from DynamoDB into the manifest a page at a time (spooled to /tmp beyond a few
MB, uploaded in parts), so a batch of ``max_count`` 100,000 fits the launcher's memory: measured by
``make bench`` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.arrivals import Arrival
from emr_dispatch.conflicts import cancellation_codes, retry_conflicts
from emr_dispatch.control import MAX_DELAY_SECONDS, QueueSignal
from emr_dispatch.errors import LedgerError
from emr_dispatch.ledger import BY_STATE, RETENTION_SECONDS, object_index, serialize
from emr_dispatch.locations import manifest_key
from emr_dispatch.observability import logger
from emr_dispatch.timeutil import epoch_seconds, now_iso, parse_iso, to_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from emr_dispatch.routes import Batching

_ATTEMPTS = 8  # batches tried per arrival before giving up (each full batch moves the window's pointer on)

OPEN = "OPEN"
CLOSING = "CLOSING"
CLOSED = "CLOSED"
WAITING_STATES = (OPEN, CLOSING)
"""Batch states that wait for a close: each has a deadline (close_by) and the sweeper as its owner."""
CLOSE_MARGIN_SECONDS = 300
"""An OPEN batch is overdue this long after its close message was due (SQS delivers delayed messages within
seconds; one sweep interval of slack)."""
CLOSING_GRACE_SECONDS = 900
"""A CLOSING batch (or one the sweeper asked to close) is overdue this long after the close began: longer than
the arrivals queue's visibility timeout (720 s), so SQS redelivers a failed close before the sweeper asks."""
MANIFEST_SPOOL_BYTES = 8 * 1024 * 1024
"""A manifest is built in memory up to this size, then in /tmp (512 MB by default in Lambda)."""
MANIFEST_PART_BYTES = 8 * 1024 * 1024
"""Parts of a large manifest's multipart upload, one at a time (no upload threads)."""


@dataclass(frozen=True)
class Joined:
    status: str  # joined | duplicate
    batch_id: str
    full: bool = False  # the batch reached its count or size: close it now


@dataclass(frozen=True)
class ClosedBatch:
    batch_id: str
    route: str
    manifest_bucket: str
    manifest_key: str
    count: int
    bytes: int
    engine: str = ""  # the route's engine when the batch opened ("" for batches opened before it was kept)

    @property
    def manifest_uri(self) -> str:
        return f"s3://{self.manifest_bucket}/{self.manifest_key}"


@dataclass(frozen=True)
class WaitingBatch:
    """An OPEN or CLOSING batch, as the sweeper sees it."""

    batch_id: str
    route: str
    state: str
    close_by: str
    close_requests: int = 0


class Batches:
    def __init__(
        self,
        table_name: str,
        work_bucket: str,
        dynamodb: DynamoDBClient,
        signal: QueueSignal,
        s3: S3Client | None = None,
    ) -> None:
        self._table = table_name
        self._work_bucket = work_bucket
        self._dynamodb = dynamodb
        self._signal = signal
        self._given_s3 = s3

    def join(self, arrival: Arrival, route: str, batching: Batching, engine: str = "") -> Joined:
        window = _landed_epoch(arrival) // batching.window_seconds
        arrival_hash = hashlib.sha256(arrival.identity().encode()).hexdigest()[:32]
        for _ in range(_ATTEMPTS):
            seq = self._current_seq(route, window)
            batch_id = f"{route}-w{window}-{seq}"
            delay = min(batching.window_seconds, MAX_DELAY_SECONDS)
            if self._open(batch_id, route, engine, delay):
                self._schedule_close(batch_id, delay)
            outcome = self._add(batch_id, route, arrival, arrival_hash, batching)
            if outcome == "duplicate":
                return Joined("duplicate", batch_id)
            if outcome == "full":
                self._advance(route, window, seq)
                continue
            batch = self._get(batch_id)
            if batch.get("close_at") and not batch.get("close_scheduled"):
                # Its creator died (or is slow) between opening it and asking for its close: ask now, for
                # the same moment (a second close message is harmless). The sweeper is the backstop. (A batch
                # opened before close_at was kept had its close asked for by its creator.)
                due = parse_iso(str(batch["close_at"]))
                self._schedule_close(batch_id, max(int((due - datetime.now(UTC)).total_seconds()), 0))
            full = int(batch.get("count", 0)) >= batching.max_count or int(batch.get("bytes", 0)) >= batching.max_bytes
            logger.info("arrival joined batch", batch_id=batch_id, route=route, uri=arrival.uri)
            return Joined("joined", batch_id, full)
        raise LedgerError(f"no open batch of route {route} took {arrival.uri} after {_ATTEMPTS} tries")

    def close(self, batch_id: str) -> ClosedBatch | None:
        """Close a batch (idempotent until its job is admitted) and write its manifest; None if the batch is
        unknown, already CLOSED or empty. The batch stays CLOSING, with a new deadline, until ``mark_closed``."""
        now = datetime.now(UTC)
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=_batch_key(batch_id),
                UpdateExpression="SET #state = :closing, closing_at = if_not_exists(closing_at, :now), "
                "close_by = :grace",
                ConditionExpression="attribute_exists(pk) AND #state IN (:open, :closing)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":closing": {"S": CLOSING},
                    ":open": {"S": OPEN},
                    ":now": {"S": to_iso(now)},
                    ":grace": {"S": to_iso(now + timedelta(seconds=CLOSING_GRACE_SECONDS))},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                logger.info("close of a batch that is closed or unknown", batch_id=batch_id)
                return None
            raise LedgerError(f"closing batch {batch_id} failed: {exc}") from exc
        batch = response["Attributes"]
        route = batch["route"]["S"]
        engine = batch.get("engine", {}).get("S", "")
        key = manifest_key(route, batch_id)
        count, total = self._write_manifest(batch_id, route, key)
        if not count:
            self.mark_closed(batch_id)
            logger.info("empty batch closed", batch_id=batch_id, route=route)
            return None
        logger.info("batch closed", batch_id=batch_id, route=route, count=count, bytes=total)
        return ClosedBatch(batch_id, route, self._work_bucket, key, count, total, engine)

    def mark_closed(self, batch_id: str) -> None:
        """CLOSING → CLOSED once its job is in the ledger (admitted, queued, or failed with its reason)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_batch_key(batch_id),
                UpdateExpression="SET #state = :closed, closed_at = :now, expires_at = :expires REMOVE close_by",
                ConditionExpression="#state = :closing",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":closed": {"S": CLOSED},
                    ":closing": {"S": CLOSING},
                    ":now": {"S": now_iso()},
                    ":expires": {"N": str(epoch_seconds() + RETENTION_SECONDS)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise LedgerError(f"marking batch {batch_id} closed failed: {exc}") from exc

    def overdue(self, now: datetime | None = None) -> Iterator[WaitingBatch]:
        """OPEN and CLOSING batches past their deadline (the sweeper's to close): read from the by_state index
        (a batch's created_at is when it opened)."""
        cutoff = to_iso(now or datetime.now(UTC))
        for state in WAITING_STATES:
            try:
                pages = self._dynamodb.get_paginator("query").paginate(
                    TableName=self._table,
                    IndexName=BY_STATE,
                    KeyConditionExpression="#state = :state",
                    FilterExpression="begins_with(pk, :batch) AND close_by < :now",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={
                        ":state": {"S": state},
                        ":batch": {"S": "BATCH#"},
                        ":now": {"S": cutoff},
                    },
                )
                for page in pages:
                    for item in page.get("Items", []):
                        yield WaitingBatch(
                            batch_id=item["pk"]["S"].removeprefix("BATCH#"),
                            route=item.get("route", {}).get("S", ""),
                            state=state,
                            close_by=item["close_by"]["S"],
                            close_requests=int(item.get("close_requests", {}).get("N", "0")),
                        )
            except ClientError as exc:
                raise LedgerError(f"listing {state} batches failed: {exc}") from exc

    def take_overdue(self, batch: WaitingBatch, now: datetime | None = None) -> bool:
        """Move an overdue batch's deadline on (one grace period) before asking for its close, so that one
        sweep asks once per grace period; False if someone moved it meanwhile (closed it, or another sweep)."""
        moment = now or datetime.now(UTC)
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_batch_key(batch.batch_id),
                UpdateExpression="SET close_by = :next ADD close_requests :one",
                ConditionExpression="close_by = :seen AND #state = :state",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":next": {"S": to_iso(moment + timedelta(seconds=CLOSING_GRACE_SECONDS))},
                    ":seen": {"S": batch.close_by},
                    ":state": {"S": batch.state},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise LedgerError(f"taking overdue batch {batch.batch_id} failed: {exc}") from exc
        return True

    # ---------------------------------------------------------------------- internals
    def _schedule_close(self, batch_id: str, delay_seconds: int) -> None:
        self._signal.close_later(batch_id, delay_seconds)
        self._dynamodb.update_item(
            TableName=self._table,
            Key=_batch_key(batch_id),
            UpdateExpression="SET close_scheduled = :true",
            ExpressionAttributeValues={":true": {"BOOL": True}},
        )

    def _current_seq(self, route: str, window: int) -> int:
        item = self._dynamodb.get_item(TableName=self._table, Key=_pointer_key(route, window), ConsistentRead=True).get(
            "Item"
        )
        return int(item["seq"]["N"]) if item else 0

    def _advance(self, route: str, window: int, seq: int) -> None:
        """Point the window at its next batch (someone else may already have)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_pointer_key(route, window),
                UpdateExpression="SET seq = :next, expires_at = :expires",
                ConditionExpression="attribute_not_exists(seq) OR seq = :seq",
                ExpressionAttributeValues={
                    ":next": {"N": str(seq + 1)},
                    ":seq": {"N": str(seq)},
                    ":expires": {"N": str(epoch_seconds() + RETENTION_SECONDS)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise LedgerError(f"moving to the next batch of {route} failed: {exc}") from exc

    def _open(self, batch_id: str, route: str, engine: str, delay_seconds: int) -> bool:
        """Create the batch if it does not exist; True for the caller that created it."""
        opened = datetime.now(UTC)
        close_at = opened + timedelta(seconds=delay_seconds)
        close_by = close_at + timedelta(seconds=CLOSE_MARGIN_SECONDS)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **_batch_key(batch_id),
                    "route": {"S": route},
                    "engine": {"S": engine},
                    "state": {"S": OPEN},
                    "count": {"N": "0"},
                    "bytes": {"N": "0"},
                    "opened_at": {"S": to_iso(opened)},
                    "created_at": {"S": to_iso(opened)},  # the by_state index's sort key: the sweeper finds it
                    "close_at": {"S": to_iso(close_at)},
                    "close_by": {"S": to_iso(close_by)},
                    "expires_at": {"N": str(_expiry(close_by))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise LedgerError(f"opening batch {batch_id} failed: {exc}") from exc
        logger.info("batch opened", batch_id=batch_id, route=route, close_by=to_iso(close_by))
        return True

    def _add(self, batch_id: str, route: str, arrival: Arrival, arrival_hash: str, batching: Batching) -> str:
        record = arrival.to_record()
        room = max(batching.max_bytes - arrival.size, 0)
        # Kept as long as the batch: a re-delivery within the retention is still recognised as a duplicate.
        expires = {"N": str(epoch_seconds() + batching.window_seconds + RETENTION_SECONDS)}
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": f"ARRIVAL#{route}#{arrival_hash}"},
                        "sk": {"S": "ARRIVAL"},
                        "batch_id": {"S": batch_id},
                        "uri": {"S": arrival.uri},
                        "route": {"S": route},
                        **{name: {"S": value} for name, value in object_index(record).items()},  # jobs find
                        "expires_at": expires,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _batch_key(batch_id),
                    "UpdateExpression": "ADD #count :one, #bytes :size",
                    # An empty batch takes any arrival, even one larger than max_bytes on its own.
                    "ConditionExpression": "#state = :open AND (#count = :zero OR (#count < :max AND #bytes <= :room))",
                    "ExpressionAttributeNames": {"#state": "state", "#count": "count", "#bytes": "bytes"},
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":size": {"N": str(arrival.size)},
                        ":open": {"S": OPEN},
                        ":zero": {"N": "0"},
                        ":max": {"N": str(batching.max_count)},
                        ":room": {"N": str(room)},
                    },
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_batch_key(batch_id, f"ARRIVAL#{arrival_hash}"),
                        **{name: serialize(value) for name, value in record.items()},
                        "expires_at": expires,
                    },
                }
            },
        ]
        try:
            # Another launcher adding to the same batch at this moment cancels this one with a TransactionConflict:
            # tried again in place, not failed back to SQS.
            retry_conflicts(
                lambda: self._dynamodb.transact_write_items(TransactItems=items),  # type: ignore[arg-type]
                f"batch {batch_id}",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise LedgerError(f"adding {arrival.uri} to batch {batch_id} failed: {exc}") from exc
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return "duplicate"
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return "full"
            raise LedgerError(f"adding {arrival.uri} to batch {batch_id} was cancelled: {codes}") from exc
        return "added"

    def _get(self, batch_id: str) -> dict[str, Any]:
        item = self._dynamodb.get_item(TableName=self._table, Key=_batch_key(batch_id), ConsistentRead=True)["Item"]
        return {
            "count": int(item["count"]["N"]),
            "bytes": int(item["bytes"]["N"]),
            "close_scheduled": bool(item.get("close_scheduled", {}).get("BOOL", False)),
            "close_at": item.get("close_at", {}).get("S"),
        }

    def _write_manifest(self, batch_id: str, route: str, key: str) -> tuple[int, int]:
        """Stream the batch's members into its manifest (one JSON object, one input per line); returns the
        count and total size. Nothing is written for an empty batch."""
        count = total = 0
        with tempfile.SpooledTemporaryFile(max_size=MANIFEST_SPOOL_BYTES, mode="w+b") as body:
            head = {"batch_id": batch_id, "route": route}
            body.write(json.dumps(head, ensure_ascii=False)[:-1].encode("utf-8") + b', "inputs": [\n')
            for member in self._members(batch_id):
                body.write((b",\n" if count else b"") + json.dumps(member, ensure_ascii=False).encode("utf-8"))
                count += 1
                total += int(member.get("size", 0))
            body.write(f'\n], "count": {count}}}\n'.encode())
            if count:
                body.seek(0)
                self._upload(body, key, batch_id)
        return count, total

    def _upload(self, body: IO[bytes], key: str, batch_id: str) -> None:
        from boto3.s3.transfer import TransferConfig

        s3 = self._given_s3
        if s3 is None:
            from emr_dispatch import aws

            s3 = aws.s3()
        # One part in memory at a time: no upload threads (a part each), parts of MANIFEST_PART_BYTES.
        config = TransferConfig(
            multipart_threshold=MANIFEST_PART_BYTES, multipart_chunksize=MANIFEST_PART_BYTES, use_threads=False
        )
        try:
            s3.upload_fileobj(
                body, self._work_bucket, key, ExtraArgs={"ContentType": "application/json"}, Config=config
            )
        except ClientError as exc:
            raise LedgerError(f"writing the manifest of batch {batch_id} failed: {exc}") from exc

    def _members(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """The batch's members, a page of the query at a time (never all held at once)."""
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :arrival)",
            ExpressionAttributeValues={":pk": {"S": f"BATCH#{batch_id}"}, ":arrival": {"S": "ARRIVAL#"}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                member = {
                    name: deserializer.deserialize(value)
                    for name, value in item.items()
                    if name not in ("pk", "sk", "expires_at")
                }
                yield {name: int(value) if name == "size" else value for name, value in member.items()}


def _expiry(close_by: datetime) -> int:
    """A batch's items expire RETENTION_SECONDS after its deadline (the sweeper closes it long before)."""
    return int(close_by.timestamp()) + RETENTION_SECONDS


def _landed_epoch(arrival: Arrival) -> int:
    """When the object landed (the event's own time), so that queueing delays and re-deliveries do not move an
    arrival to another window; the processing clock only when the event carries no usable time."""
    try:
        landed = datetime.fromisoformat(arrival.event_time.replace("Z", "+00:00"))
    except ValueError:
        return epoch_seconds()
    return int(landed.timestamp()) if landed.tzinfo else epoch_seconds()


def _batch_key(batch_id: str, sk: str = "BATCH") -> dict[str, Any]:
    return {"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": sk}}


def _pointer_key(route: str, window: int) -> dict[str, Any]:
    return {"pk": {"S": f"BATCHSEQ#{route}#{window}"}, "sk": {"S": "SEQ"}}
