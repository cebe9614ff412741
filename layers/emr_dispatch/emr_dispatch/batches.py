"""Batches: arrivals of a route within a window (up to a count and a size) become one job.

Every arrival joins its batch in one transaction — its own claim (so a re-delivery never joins twice,
in this batch or a later one), the batch's counters, and a member item — so none is lost if the
invocation dies midway. A batch closes when full, or when its window ends (a delayed control message);
closing writes the members to a manifest object in the work bucket, which the job reads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.arrivals import Arrival
from emr_dispatch.control import QueueSignal
from emr_dispatch.errors import LedgerError
from emr_dispatch.ledger import object_index, serialize
from emr_dispatch.locations import manifest_key
from emr_dispatch.observability import logger
from emr_dispatch.timeutil import epoch_seconds, now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from emr_dispatch.routes import Batching

_ATTEMPTS = 8  # batches tried per arrival before giving up (each full batch moves the window's pointer on)


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

    @property
    def manifest_uri(self) -> str:
        return f"s3://{self.manifest_bucket}/{self.manifest_key}"


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

    def join(self, arrival: Arrival, route: str, batching: Batching) -> Joined:
        window = _landed_epoch(arrival) // batching.window_seconds
        arrival_hash = hashlib.sha256(arrival.identity().encode()).hexdigest()[:32]
        for _ in range(_ATTEMPTS):
            seq = self._current_seq(route, window)
            batch_id = f"{route}-w{window}-{seq}"
            if self._open(batch_id, route):
                self._signal.close_later(batch_id, batching.window_seconds)
            outcome = self._add(batch_id, route, arrival, arrival_hash, batching)
            if outcome == "duplicate":
                return Joined("duplicate", batch_id)
            if outcome == "full":
                self._advance(route, window, seq)
                continue
            batch = self._get(batch_id)
            full = int(batch.get("count", 0)) >= batching.max_count or int(batch.get("bytes", 0)) >= batching.max_bytes
            logger.info("arrival joined batch", batch_id=batch_id, route=route, uri=arrival.uri)
            return Joined("joined", batch_id, full)
        raise LedgerError(f"no open batch of route {route} took {arrival.uri} after {_ATTEMPTS} tries")

    def close(self, batch_id: str) -> ClosedBatch | None:
        """Close a batch (idempotent) and write its manifest; None if the batch is unknown or empty."""
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=_batch_key(batch_id),
                UpdateExpression="SET #state = :closed, closed_at = if_not_exists(closed_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":closed": {"S": "CLOSED"}, ":now": {"S": now_iso()}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise LedgerError(f"closing batch {batch_id} failed: {exc}") from exc
        batch = response["Attributes"]
        route = batch["route"]["S"]
        members = self._members(batch_id)
        if not members:
            return None
        key = manifest_key(route, batch_id)
        manifest = {"batch_id": batch_id, "route": route, "count": len(members), "inputs": members}
        s3 = self._given_s3
        if s3 is None:
            from emr_dispatch import aws

            s3 = aws.s3()
        try:
            s3.put_object(
                Bucket=self._work_bucket,
                Key=key,
                Body=json.dumps(manifest, ensure_ascii=False).encode("utf-8"),
                ContentType="application/json",
            )
        except ClientError as exc:
            raise LedgerError(f"writing the manifest of batch {batch_id} failed: {exc}") from exc
        total = sum(int(member.get("size", 0)) for member in members)
        logger.info("batch closed", batch_id=batch_id, route=route, count=len(members), bytes=total)
        return ClosedBatch(batch_id, route, self._work_bucket, key, len(members), total)

    # ---------------------------------------------------------------------- internals
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
                UpdateExpression="SET seq = :next",
                ConditionExpression="attribute_not_exists(seq) OR seq = :seq",
                ExpressionAttributeValues={":next": {"N": str(seq + 1)}, ":seq": {"N": str(seq)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise LedgerError(f"moving to the next batch of {route} failed: {exc}") from exc

    def _open(self, batch_id: str, route: str) -> bool:
        """Create the batch if it does not exist; True for the caller that created it."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **_batch_key(batch_id),
                    "route": {"S": route},
                    "state": {"S": "OPEN"},
                    "count": {"N": "0"},
                    "bytes": {"N": "0"},
                    "opened_at": {"S": now_iso()},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise LedgerError(f"opening batch {batch_id} failed: {exc}") from exc
        return True

    def _add(self, batch_id: str, route: str, arrival: Arrival, arrival_hash: str, batching: Batching) -> str:
        record = arrival.to_record()
        room = max(batching.max_bytes - arrival.size, 0)
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
                        ":open": {"S": "OPEN"},
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
                    },
                }
            },
        ]
        try:
            self._dynamodb.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise LedgerError(f"adding {arrival.uri} to batch {batch_id} failed: {exc}") from exc
            codes = [str(reason.get("Code", "None")) for reason in exc.response.get("CancellationReasons", [])]
            if codes and codes[0] == "ConditionalCheckFailed":
                return "duplicate"
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return "full"
            raise LedgerError(f"adding {arrival.uri} to batch {batch_id} was cancelled: {codes}") from exc
        return "added"

    def _get(self, batch_id: str) -> dict[str, int]:
        item = self._dynamodb.get_item(TableName=self._table, Key=_batch_key(batch_id), ConsistentRead=True)["Item"]
        return {"count": int(item["count"]["N"]), "bytes": int(item["bytes"]["N"])}

    def _members(self, batch_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        members: list[dict[str, Any]] = []
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :arrival)",
            ExpressionAttributeValues={":pk": {"S": f"BATCH#{batch_id}"}, ":arrival": {"S": "ARRIVAL#"}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                member = {
                    name: deserializer.deserialize(value) for name, value in item.items() if name not in ("pk", "sk")
                }
                members.append({name: int(value) if name == "size" else value for name, value in member.items()})
        members.sort(key=lambda member: (member.get("event_time", ""), member.get("key", "")))
        return members


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
