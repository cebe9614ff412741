"""Orphans remembered: one alert per engine resource no job owns, not one per sweep.

An orphan the sweeper cannot stop (access denied, a resource in a state that refuses to stop) is listed as
running on every sweep; without a memory it would be alerted 288 times a day. Each orphan gets an item in the
ledger table, claimed before its alert is published (a lease, as the jobs' alert outbox) and marked once SNS
took the alert. The item expires: an orphan still running when its memory ends is alerted again, as a reminder.
Its attributes stay off the ledger's indexes (no ``engine_id``, ``state``, ``alert_due``): it is not a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emr_dispatch.table import Table, Update, decode, orphan_key, search_marks_key
from emr_dispatch.timeutil import epoch_seconds, iso_seconds_ago, now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ORPHAN_MEMORY_SECONDS = 7 * 24 * 3600
"""How long an orphan's alert is remembered (the item's TTL): a resource still running a week later is alerted again."""
ORPHAN_LEASE_SECONDS = 60
"""A claim older than this was left by a sweeper that died before publishing: the next sweep publishes."""
_RELEASED = "0000-00-00T00:00:00.000Z"
SEARCH_MARKS_SECONDS = 3600
"""How long a mark of where the orphan search left off is kept (the item's TTL): a listing's page token may not
outlive it, and a search that starts over from the first page loses nothing but time."""


class OrphanMemory:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = Table(table_name, client)

    def claim_alert(self, engine: str, engine_id: str, why: str) -> bool:
        """Whether this sweep publishes the orphan's alert: its first sighting, an alert a dead or refused
        publisher left unsent, or a memory that expired. One conditional write; False: already alerted."""
        now, epoch = now_iso(), epoch_seconds()
        claim = Update().set("engine", engine).set("resource_id", engine_id, "id").set("why", why)
        claim.set("claimed_at", now, "now").set_expression("first_seen", "if_not_exists(#first_seen, :now)", now=now)
        claim.set("expires_at", epoch + ORPHAN_MEMORY_SECONDS, "expires").remove("alerted_at")
        claim.when(
            "attribute_not_exists(#pk) OR #expires_at < :epoch "
            "OR (attribute_not_exists(#alerted_at) AND #claimed_at < :lease)",
            epoch=epoch,
            lease=iso_seconds_ago(ORPHAN_LEASE_SECONDS),
        )
        return self._table.update(orphan_key(engine_id), claim, f"remembering orphan {engine_id}") is not None

    def mark_alerted(self, engine_id: str) -> None:
        self._set(engine_id, Update().set("alerted_at", now_iso(), "now"))

    def release(self, engine_id: str) -> None:
        """Give the claim back after a refused publish: the next sweep publishes at once."""
        self._set(engine_id, Update().set("claimed_at", _RELEASED, "released"))

    def _set(self, engine_id: str, update: Update) -> None:
        self._table.update(orphan_key(engine_id), update.when("attribute_exists(#pk)"), f"updating orphan {engine_id}")

    def search_marks(self) -> dict[str, str]:
        """Where the last sweeps' orphan search left off in each listing it could not finish (listing → the next
        page's token): the next search goes on from there, so every page of a busy listing is read in turn."""
        data = decode(self._table.get(search_marks_key(), "reading the orphan search's marks") or {})
        if int(data.get("expires_at", 0)) < epoch_seconds():
            return {}
        return {str(listing): str(token) for listing, token in (data.get("marks") or {}).items()}

    def save_search_marks(self, marks: dict[str, str]) -> None:
        update = Update().set("marks", dict(marks), "marks").set("expires_at", epoch_seconds() + SEARCH_MARKS_SECONDS)
        self._table.update(search_marks_key(), update, "saving the orphan search's marks")
