"""Pausing a route without a deploy: one item per paused route in the ledger table.

The launcher never reads it: every claim and every start of a queued job carries a ConditionCheck on the
route's item in the same transaction (no extra AWS call per arrival). While the route is paused the check
fails, and the job is written QUEUED instead of started: it waits in the ledger, not lost. Resuming clears the
item and asks the launcher to start what waits (``start-queued``), oldest first, under the route's caps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emr_dispatch.table import Condition, Table, route_key
from emr_dispatch.timeutil import now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROUTE_PAUSED = "route paused"
"""The reason a job waits QUEUED while its route is paused."""


def route_open_check(table: str, route: str) -> dict[str, Any]:
    """A transaction item that fails while the route is paused (an absent item is an open route)."""
    return {"ConditionCheck": {"TableName": table, "Key": route_key(route), **_OPEN.condition_request()}}


_OPEN = Condition().when("attribute_not_exists(#paused_at)")
_PAUSED = Condition().when("attribute_exists(#paused_at)")


@dataclass(frozen=True)
class Pause:
    route: str
    paused_at: str
    paused_by: str
    reason: str


class RoutePauses:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = Table(table_name, client)

    def pause(self, route: str, reason: str, by: str) -> Pause | None:
        """Pause a route; None if it already was (nothing changed)."""
        pause = Pause(route, now_iso(), by, reason)
        item = {
            "route": {"S": route},
            "paused_at": {"S": pause.paused_at},
            "paused_by": {"S": by},
            "reason": {"S": reason},
        }
        written, _ = self._table.put({**route_key(route), **item}, f"pausing route {route}", _OPEN)
        return pause if written else None

    def resume(self, route: str) -> Pause | None:
        """Resume a paused route; the pause it ended, or None if it was not paused."""
        ended = self._table.delete(route_key(route), _PAUSED, f"resuming route {route}")
        return _pause(ended) if ended is not None else None

    def get(self, route: str) -> Pause | None:
        item = self._table.get(route_key(route), f"reading route {route}'s pause")
        return _pause(item) if item else None


def _pause(item: dict[str, Any]) -> Pause:
    return Pause(
        item.get("route", {}).get("S", ""),
        item.get("paused_at", {}).get("S", ""),
        item.get("paused_by", {}).get("S", ""),
        item.get("reason", {}).get("S", ""),
    )
