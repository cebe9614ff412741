"""Capacity slots as ledger items: a counter per cap and one slot item per job holding a slot, side by side.

``CAPACITY#<counter>`` is one partition: the counter item (sk ``CAPACITY``: ``active``, ``ver``) and one item per
job that holds a slot in it (sk ``SLOT#<job id>``). Every change of a job's slots is written in the same
transaction as the job's own state change and the counter (+1 / -1, ``ver`` + 1), so the three never disagree
after a crash (issue 13, item 4). Counting the slot items is a strongly consistent query of one partition, and
a correction of the counter is conditioned on ``ver``: it applies only if no slot moved since the count.
"""

from __future__ import annotations

from typing import Any

from emr_dispatch.table import COUNTER_SK, SLOT_PREFIX, Update, counter_key, counter_pk, slot_key

__all__ = ["ALL_ROUTES", "COUNTER_SK", "SLOT_PREFIX", "counter_key", "counter_pk", "release_items", "take_items"]

ALL_ROUTES = "*"


def take_items(table: str, job_id: str, caps: list[tuple[str, int]], now: str) -> list[dict[str, Any]]:
    """Transaction items taking a slot in each (counter, limit) for a job: refused at the limit."""
    items: list[dict[str, Any]] = []
    for counter, limit in caps:
        take = Update().add("active", 1, "one").add("ver", 1, "one")
        take.when("attribute_not_exists(#active) OR #active < :limit", limit=limit)
        items.append({"Update": {"TableName": table, "Key": counter_key(counter), **take.request()}})
        slot = {**slot_key(counter, job_id), "job_id": {"S": job_id}, "taken_at": {"S": now}}
        items.append({"Put": {"TableName": table, "Item": slot}})
    return items


def release_items(table: str, job_id: str, counters: list[str]) -> list[dict[str, Any]]:
    """Transaction items giving back a job's slots. Unconditional: the job's own conditional write in the same
    transaction is what makes the release happen once."""
    items: list[dict[str, Any]] = []
    for counter in counters:
        give = Update().add("active", -1, "minus_one").add("ver", 1, "one")
        items.append({"Update": {"TableName": table, "Key": counter_key(counter), **give.request()}})
        items.append({"Delete": {"TableName": table, "Key": slot_key(counter, job_id)}})
    return items
