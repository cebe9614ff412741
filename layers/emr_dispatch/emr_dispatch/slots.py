"""Capacity slots as ledger items: a counter per cap and one slot item per job holding a slot, side by side.

``CAPACITY#<counter>`` is one partition: the counter item (sk ``CAPACITY``: ``active``, ``ver``) and one item per
job that holds a slot in it (sk ``SLOT#<job id>``). Every change of a job's slots is written in the same
transaction as the job's own state change and the counter (+1 / -1, ``ver`` + 1), so the three never disagree
after a crash (issue 13, item 4). Counting the slot items is a strongly consistent query of one partition, and
a correction of the counter is conditioned on ``ver``: it applies only if no slot moved since the count.
"""

from __future__ import annotations

from typing import Any

ALL_ROUTES = "*"
COUNTER_SK = "CAPACITY"
SLOT_PREFIX = "SLOT#"


def counter_pk(counter: str) -> str:
    return f"CAPACITY#{counter}"


def counter_key(counter: str) -> dict[str, Any]:
    return {"pk": {"S": counter_pk(counter)}, "sk": {"S": COUNTER_SK}}


def slot_key(counter: str, job_id: str) -> dict[str, Any]:
    return {"pk": {"S": counter_pk(counter)}, "sk": {"S": f"{SLOT_PREFIX}{job_id}"}}


def take_items(table: str, job_id: str, caps: list[tuple[str, int]], now: str) -> list[dict[str, Any]]:
    """Transaction items taking a slot in each (counter, limit) for a job: refused at the limit."""
    items: list[dict[str, Any]] = []
    for counter, limit in caps:
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": counter_key(counter),
                    "UpdateExpression": "ADD active :one, ver :one",
                    "ConditionExpression": "attribute_not_exists(active) OR active < :limit",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}},
                }
            }
        )
        items.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": {**slot_key(counter, job_id), "job_id": {"S": job_id}, "taken_at": {"S": now}},
                }
            }
        )
    return items


def release_items(table: str, job_id: str, counters: list[str]) -> list[dict[str, Any]]:
    """Transaction items giving back a job's slots. Unconditional: the job's own conditional write in the same
    transaction is what makes the release happen once."""
    items: list[dict[str, Any]] = []
    for counter in counters:
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": counter_key(counter),
                    "UpdateExpression": "ADD active :minus_one, ver :one",
                    "ExpressionAttributeValues": {":minus_one": {"N": "-1"}, ":one": {"N": "1"}},
                }
            }
        )
        items.append({"Delete": {"TableName": table, "Key": slot_key(counter, job_id)}})
    return items
