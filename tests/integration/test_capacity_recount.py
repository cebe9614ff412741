"""The sweeper recounts capacity counters that a crash left too high (a terminal write whose slot release
never ran), and never lowers one on a single look: a release in flight is not drift."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from emr_dispatch import wiring
from emr_dispatch.sweep import SweepReport
from emr_dispatch_tools.moto_stack import DeployedStack

REGION = "us-east-1"
CAPPED_ROUTE = "clicks-batch"  # max_concurrent: 2 in config/routes.yaml


def _counter(stack: DeployedStack) -> dict[str, Any]:
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=stack.outputs["LedgerTableName"],
        Key={"pk": {"S": f"CAPACITY#{CAPPED_ROUTE}"}, "sk": {"S": "CAPACITY"}},
        ConsistentRead=True,
    )
    fields: dict[str, Any] = item.get("Item", {})
    return fields


def _set_active(stack: DeployedStack, active: int) -> None:
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key={"pk": {"S": f"CAPACITY#{CAPPED_ROUTE}"}, "sk": {"S": "CAPACITY"}},
        UpdateExpression="SET active = :active",
        ExpressionAttributeValues={":active": {"N": str(active)}},
    )


def _sweep(stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> SweepReport:
    for name, value in stack.function_environment("SweeperFunction").items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    try:
        return wiring.sweeper().sweep()
    finally:
        wiring.reset()


def test_a_counter_left_high_is_lowered_on_the_second_sweep_that_sees_it(
    stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a route's counter holding 2 slots that no job holds (their releases were lost)
    _set_active(stack, 2)

    # When one sweep runs, then it only notes the drift
    first = _sweep(stack, monkeypatch)
    assert first.counters_corrected == []
    assert _counter(stack)["active"]["N"] == "2"
    assert _counter(stack)["drift_seen"]["N"] == "2"

    # When the next sweep sees the same drift, then it gives the slots back
    second = _sweep(stack, monkeypatch)
    assert second.counters_corrected == [f"{CAPPED_ROUTE}: 2 → 0"]
    assert _counter(stack)["active"]["N"] == "0"
    assert "drift_seen" not in _counter(stack)


def test_a_drift_gone_by_the_next_sweep_is_forgotten(stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a counter one slot high at a sweep (a release in flight)
    _set_active(stack, 1)
    _sweep(stack, monkeypatch)
    # When the release lands before the next sweep
    _set_active(stack, 0)
    report = _sweep(stack, monkeypatch)
    # Then nothing is corrected, and a later drift starts its count afresh
    assert report.counters_corrected == []
    assert _counter(stack)["active"]["N"] == "0"
    assert _counter(stack)["drift_seen"]["N"] == "0"
