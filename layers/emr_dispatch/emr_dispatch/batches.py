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

Closing streams the members into the manifest (manifests.py), so a batch of ``max_count`` 100,000 fits the
launcher's memory. Keys and conditional writes come from table.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.arrivals import Arrival
from emr_dispatch.control import MAX_DELAY_SECONDS, QueueSignal
from emr_dispatch.errors import LedgerError
from emr_dispatch.ledger import RETENTION_SECONDS
from emr_dispatch.locations import manifest_key
from emr_dispatch.manifests import write_manifest
from emr_dispatch.observability import logger
from emr_dispatch.table import (
    BATCH_PREFIX,
    BY_STATE,
    Cancelled,
    Condition,
    Table,
    Update,
    arrival_claim_key,
    batch_key,
    decode,
    encode,
    member_key,
    object_index,
    serialize,
    window_key,
)
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
        self._items = Table(table_name, dynamodb)

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
        closing = Update().set("state", CLOSING, "closing")
        closing.set_expression("closing_at", "if_not_exists(#closing_at, :now)", now=to_iso(now))
        closing.set("close_by", to_iso(now + timedelta(seconds=CLOSING_GRACE_SECONDS)), "grace")
        closing.when("attribute_exists(#pk) AND #state IN (:open, :closing)", open=OPEN)
        batch = self._items.update(batch_key(batch_id), closing, f"closing batch {batch_id}", new=True)
        if batch is None:
            logger.info("close of a batch that is closed or unknown", batch_id=batch_id)
            return None
        route = batch["route"]["S"]
        engine = batch.get("engine", {}).get("S", "")
        key = manifest_key(route, batch_id)
        count, total = write_manifest(
            self._dynamodb, self._table, batch_id, route, (self._work_bucket, key), self._given_s3
        )
        if not count:
            self.mark_closed(batch_id)
            logger.info("empty batch closed", batch_id=batch_id, route=route)
            return None
        logger.info("batch closed", batch_id=batch_id, route=route, count=count, bytes=total)
        return ClosedBatch(batch_id, route, self._work_bucket, key, count, total, engine)

    def mark_closed(self, batch_id: str) -> None:
        """CLOSING → CLOSED once its job is in the ledger (admitted, queued, or failed with its reason)."""
        closed = Update().set("state", CLOSED, "closed").set("closed_at", now_iso(), "now")
        closed.set("expires_at", epoch_seconds() + RETENTION_SECONDS, "expires").remove("close_by")
        self._items.update(
            batch_key(batch_id), closed.when("#state = :closing", closing=CLOSING), f"marking batch {batch_id} closed"
        )

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
                        ":batch": {"S": BATCH_PREFIX},
                        ":now": {"S": cutoff},
                    },
                )
                for page in pages:
                    for item in page.get("Items", []):
                        yield WaitingBatch(
                            batch_id=item["pk"]["S"].removeprefix(BATCH_PREFIX),
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
        take = Update().set("close_by", to_iso(moment + timedelta(seconds=CLOSING_GRACE_SECONDS)), "next")
        take.add("close_requests", 1, "one").when(
            "#close_by = :seen AND #state = :state", seen=batch.close_by, state=batch.state
        )
        return self._items.update(batch_key(batch.batch_id), take, f"taking overdue batch {batch.batch_id}") is not None

    # ---------------------------------------------------------------------- internals
    def _schedule_close(self, batch_id: str, delay_seconds: int) -> None:
        self._signal.close_later(batch_id, delay_seconds)
        scheduled = Update().set("close_scheduled", True, "true")
        self._items.update(batch_key(batch_id), scheduled, f"scheduling the close of batch {batch_id}")

    def _current_seq(self, route: str, window: int) -> int:
        item = self._items.get(window_key(route, window), f"reading the batch window of {route}")
        return int(item["seq"]["N"]) if item else 0

    def _advance(self, route: str, window: int, seq: int) -> None:
        """Point the window at its next batch (someone else may already have)."""
        advance = Update().set("seq", seq + 1, "next").set("expires_at", epoch_seconds() + RETENTION_SECONDS, "expires")
        advance.when("attribute_not_exists(#seq) OR #seq = :seq", seq=seq)
        self._items.update(window_key(route, window), advance, f"moving to the next batch of {route}")

    def _open(self, batch_id: str, route: str, engine: str, delay_seconds: int) -> bool:
        """Create the batch if it does not exist; True for the caller that created it."""
        opened = datetime.now(UTC)
        close_at = opened + timedelta(seconds=delay_seconds)
        close_by = close_at + timedelta(seconds=CLOSE_MARGIN_SECONDS)
        batch = {
            "route": route,
            "engine": engine,
            "state": OPEN,
            "count": 0,
            "bytes": 0,
            "opened_at": to_iso(opened),
            "created_at": to_iso(opened),  # the by_state index's sort key: the sweeper finds it
            "close_at": to_iso(close_at),
            "close_by": to_iso(close_by),
            "expires_at": _expiry(close_by),
        }
        if not self._items.put({**batch_key(batch_id), **encode(batch)}, f"opening batch {batch_id}", _NEW)[0]:
            return False
        logger.info("batch opened", batch_id=batch_id, route=route, close_by=to_iso(close_by))
        return True

    def _add(self, batch_id: str, route: str, arrival: Arrival, arrival_hash: str, batching: Batching) -> str:
        record = arrival.to_record()
        room = max(batching.max_bytes - arrival.size, 0)
        # Kept as long as the batch: a re-delivery within the retention is still recognised as a duplicate.
        expires = epoch_seconds() + batching.window_seconds + RETENTION_SECONDS
        claim = {
            "batch_id": batch_id,
            "uri": arrival.uri,
            "route": route,
            **object_index(record),
            "expires_at": expires,
        }
        count = Update().add("count", 1, "one").add("bytes", arrival.size, "size")
        # An empty batch takes any arrival, even one larger than max_bytes on its own.
        count.when(
            "#state = :open AND (#count = :zero OR (#count < :max AND #bytes <= :room))",
            open=OPEN,
            zero=0,
            max=batching.max_count,
            room=room,
        )
        member = {name: serialize(value) for name, value in record.items()}  # None kept: the manifest lists it
        items = [
            self._items.tx_put({**arrival_claim_key(route, arrival_hash), **encode(claim)}, _NEW),
            self._items.tx_update(batch_key(batch_id), count),
            self._items.tx_put({**member_key(batch_id, arrival_hash), **member, "expires_at": serialize(expires)}),
        ]
        try:
            # Another launcher adding to the same batch at this moment cancels this one with a TransactionConflict:
            # tried again in place, not failed back to SQS.
            self._items.transact(items, f"batch {batch_id}")
        except Cancelled as cancelled:
            if cancelled.codes[0] == "ConditionalCheckFailed":
                return "duplicate"
            if len(cancelled.codes) > 1 and cancelled.codes[1] == "ConditionalCheckFailed":
                return "full"
            raise LedgerError(
                f"adding {arrival.uri} to batch {batch_id} was cancelled: {cancelled.codes}"
            ) from cancelled
        return "added"

    def _get(self, batch_id: str) -> dict[str, Any]:
        return decode(self._items.get(batch_key(batch_id), f"reading batch {batch_id}") or {})


def _expiry(close_by: datetime) -> int:
    """A batch's items expire RETENTION_SECONDS after its deadline (the sweeper closes it long before)."""
    return int(close_by.timestamp()) + RETENTION_SECONDS


def _landed_epoch(arrival: Arrival) -> int:
    """When the object landed (the event's own time), so that queueing delays and re-deliveries do not move an
    arrival to another window; the processing clock only when the event carries no usable time."""
    try:
        landed = parse_iso(arrival.event_time)
    except ValueError:
        return epoch_seconds()
    return int(landed.timestamp()) if landed.tzinfo else epoch_seconds()


_NEW = Condition().when("attribute_not_exists(#pk)")
