"""The names of every route that ever queued a job: one ledger item, so that QUEUED jobs of routes gone from the
routes file are found by reading it and the queues (by_queue) of the names the routes file lacks — in proportion
to the routes, not to the backlog (issue 14).

Safe by construction: a name is added (``ADD`` to a string set) in the same transaction that makes a job QUEUED
under it (a new job queued at a cap or paused route, a start parked for a quota), or, where the QUEUED write is
a plain update (an operator's retry), by its own write before it. So no job is ever QUEUED under a name missing
from the item, whatever routes file the writer holds and whenever it crashes. A reader that read the item before
a name was added finds that job on its next pass. A name never leaves the item: removing one could race a
launcher that still holds an old routes file, and each name left costs one ``Limit 1`` query per sweep.

A ledger older than the item (jobs QUEUED before it existed) is read in full by the sweeper until a full read has
begun at least ``FULL_READ_WINDOW_SECONDS`` after the first one: by then every invocation of the code that queued
without adding names has ended (the stack update that replaced it took minutes, a Lambda invocation lasts at most
15 more), so every job such code queued was seen and its route's name added. Only then is the item ``complete``
and the full reads stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from emr_dispatch.table import Table, Update, queue_names_key
from emr_dispatch.timeutil import epoch_now

if TYPE_CHECKING:
    from collections.abc import Collection

    from mypy_boto3_dynamodb import DynamoDBClient

FULL_READ_WINDOW_SECONDS = 3600
"""A stack update's functions replaced one by one (minutes) plus the longest Lambda invocation (15 minutes), with
room to spare: a full read begun this long after the first sees every job queued by code that did not add names
(docs/decisions.md)."""
KNOWN_SECONDS = 900
"""How long a container trusts that a name it added (or read) is in the item before adding it again: it skips the
write almost always, and an item deleted by hand is mended within this time."""
NAMES = "names"
EXPIRY_SECONDS = 90 * 24 * 3600
"""The item expires (TTL) this long after its last write (a name added, a full read), like every record of work. Warm
containers skip writing names they know, so even a busy ledger may lose it every 90 days or so; the sweeper then
reads every QUEUED job in full for an hour, as for a ledger older than the item, and adds their names back: no job
is ever QUEUED under a name it misses."""


@dataclass(frozen=True)
class QueueNamesSeen:
    names: frozenset[str]
    complete: bool  # False: jobs queued before the item existed may be under names it lacks (read QUEUED in full)

    def outside(self, routes: Collection[str]) -> list[str]:
        """The names of routes that queued jobs and are not in ``routes`` (removed or renamed), sorted."""
        return sorted(self.names - set(routes))


class QueueNames:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = Table(table_name, client)
        self._known: dict[str, float] = {}  # name → when this container last knew it was in the item
        self._seen: tuple[float, QueueNamesSeen] | None = None

    def add_item(self, route: str) -> list[dict[str, Any]]:
        """The transaction item adding ``route`` to the names, or none when this container added or read it
        lately (no write, and no hot item shared by every launcher's transactions)."""
        if epoch_now() - self._known.get(route, -KNOWN_SECONDS) < KNOWN_SECONDS:
            return []
        return [self._table.tx_update(queue_names_key(), _names_update({route}))]

    def added(self, route: str) -> None:
        """The transaction carrying ``add_item(route)`` succeeded."""
        self._known[route] = epoch_now()
        if self._seen is not None and route not in self._seen[1].names:
            at, seen = self._seen
            self._seen = (at, QueueNamesSeen(seen.names | {route}, seen.complete))

    def add(self, route: str) -> None:
        """Add ``route`` on its own, before a write that makes a job QUEUED under it outside a transaction."""
        if self.add_item(route):
            self._table.update(queue_names_key(), _names_update({route}), f"adding queue name {route}")
            self.added(route)

    def read(self, max_age: float = 0.0) -> QueueNamesSeen:
        """The names (strongly consistent), or this container's copy when it is at most ``max_age`` seconds old."""
        now = epoch_now()
        if self._seen is not None and now - self._seen[0] <= max_age:
            return self._seen[1]
        item = self._table.get(queue_names_key(), "reading the queue names") or {}
        names = frozenset(item.get(NAMES, {}).get("SS", []))
        first = _number(item.get("full_read_first"))
        last = _number(item.get("full_read_last"))
        complete = first is not None and last is not None and last - first >= FULL_READ_WINDOW_SECONDS
        seen = QueueNamesSeen(names, complete)
        self._seen = (now, seen)
        self._known.update(dict.fromkeys(names, now))
        return seen

    def full_read_done(self, names: Collection[str], began: float) -> None:
        """A full read of the QUEUED jobs begun at ``began`` (epoch seconds) ended: their routes' names are added,
        and the time it began recorded (the first one kept)."""
        now = Decimal(f"{began:.3f}")
        update = Update().set_expression("full_read_first", "if_not_exists(#full_read_first, :now)", now=now)
        update.set("full_read_last", now, "now").set("expires_at", int(epoch_now()) + EXPIRY_SECONDS, "expires")
        if names:
            update.add(NAMES, set(names), "names")
        self._table.update(queue_names_key(), update, "recording a full read of the queued jobs")
        self._seen = None


def _names_update(names: set[str]) -> Update:
    return Update().add(NAMES, names, "name").set("expires_at", int(epoch_now()) + EXPIRY_SECONDS, "expires")


def _number(value: dict[str, Any] | None) -> float | None:
    return float(value["N"]) if value and "N" in value else None
