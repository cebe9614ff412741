"""Capacity counters never drift from the slots jobs truly hold (issue 13, item 4): the sweeper counts the slot
items (a strongly consistent query) and sets a counter that says more, or less, in one sweep, never below the
slots truly held, and never if a slot moved since the count (the counter's version)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from capped_routes import arrive, capped_routes
from emr_dispatch.capacity import Capacity
from emr_dispatch.capacity_audit import CapacityAudit
from emr_dispatch_tools.moto_stack import DeployedStack

REGION = "us-east-1"


def _capacity(stack: DeployedStack) -> Capacity:
    return Capacity(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


def test_a_counter_left_high_is_set_to_the_slots_truly_held_by_one_sweep(
    stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a capped route with one job holding its slot, and a counter that says 3 (releases lost)
    overrides = capped_routes(tmp_path, "capped")
    running = arrive(stack, overrides, "capped/file-0.csv")
    assert running["status"] == "started"
    _set_active(stack, "capped", 3)

    # When the sweeper runs once
    report = _sweep(stack, overrides, monkeypatch)

    # Then the counter holds the one slot truly held: lowered, never below
    assert _capacity(stack).active("capped") == 1
    assert report["counters_corrected"] == ["capped: 3 → 1"]


def test_a_counter_is_not_corrected_if_a_slot_moved_since_the_count(stack: DeployedStack, tmp_path: Path) -> None:
    # Given a counter that says 3 where no job holds a slot, counted just before a job takes a slot
    overrides = capped_routes(tmp_path, "capped", cap=10)
    _set_active(stack, "capped", 3)
    capacity = _capacity(stack)
    audit = CapacityAudit(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    counted = audit._count("capped")
    assert (counted[0], counted[2]) == (3, [])
    assert arrive(stack, overrides, "capped/file-0.csv")["status"] == "started"

    # When the audit corrects from that count, then the correction is refused: the counter moved since
    with _stale_count(audit, counted):
        assert audit.audit(["capped"]) == []
    assert capacity.active("capped") == 4

    # When the audit counts again, then the counter holds exactly the one slot truly held
    assert capacity.audit(["capped"]) == ["capped: 4 → 1"]
    assert capacity.active("capped") == 1


# ---------------------------------------------------------------------------- helpers
def _set_active(stack: DeployedStack, counter: str, active: int) -> None:
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key={"pk": {"S": f"CAPACITY#{counter}"}, "sk": {"S": "CAPACITY"}},
        UpdateExpression="SET active = :active",
        ExpressionAttributeValues={":active": {"N": str(active)}},
    )


def _sweep(stack: DeployedStack, overrides: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from emr_dispatch import wiring

    for name, value in {**stack.function_environment("SweeperFunction"), **overrides}.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    try:
        report = wiring.sweeper().sweep()
    finally:
        wiring.reset()
    return {"counters_corrected": report.counters_corrected}


@contextlib.contextmanager
def _stale_count(audit: CapacityAudit, counted: Any) -> Iterator[None]:
    original = audit._count
    audit._count = lambda counter: counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        audit._count = original  # type: ignore[method-assign]


def test_a_slot_left_by_a_job_that_is_gone_is_given_back(stack: DeployedStack, tmp_path: Path) -> None:
    # Given a capped job holding its slot, whose item then disappears (deleted by hand)
    overrides = capped_routes(tmp_path, "capped", cap=10)
    started = arrive(stack, overrides, "capped/file-0.csv")
    boto3.client("dynamodb", region_name=REGION).delete_item(
        TableName=stack.outputs["LedgerTableName"], Key={"pk": {"S": f"JOB#{started['job_id']}"}, "sk": {"S": "JOB"}}
    )
    # When the counter is audited, then the slot is given back and the counter says 0
    capacity = _capacity(stack)
    assert capacity.audit(["capped"]) == ["capped: released the slots of 1 ended or vanished job(s)"]
    assert capacity.active("capped") == 0
