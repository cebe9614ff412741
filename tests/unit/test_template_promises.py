"""What template.yaml promises, read from the template itself (the single source of truth)."""

from __future__ import annotations

from typing import Any

import pytest

from emr_dispatch_tools.moto_stack import load_sam_template


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    template: dict[str, Any] = load_sam_template()
    return dict(template["Resources"])


def _queues_used_as_dead_letters(resources: dict[str, Any]) -> set[str]:
    """Every queue something dead-letters into: redrive policies, rule targets, function destinations."""
    found: set[str] = set()

    def walk(node: Any, parent_key: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("deadLetterTargetArn", "DeadLetterConfig", "OnFailure") or parent_key == "OnFailure":
                    for ref in _getatt_targets(value):
                        found.add(ref)
                walk(value, key)
        elif isinstance(node, list):
            for item in node:
                walk(item, parent_key)

    walk(resources)
    return found


def _getatt_targets(node: Any) -> list[str]:
    if isinstance(node, dict):
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            return [target[0] if isinstance(target, list) else str(target).split(".")[0]]
        return [name for value in node.values() for name in _getatt_targets(value)]
    return []


def test_every_dead_letter_queue_has_an_alarm_that_tells_ops(resources: dict[str, Any]) -> None:
    # Given every queue the template sends failures to
    dead_letters = _queues_used_as_dead_letters(resources)
    assert {"ArrivalsDeadLetterQueue", "EventsDeadLetterQueue", "TrackerFailuresQueue"} <= dead_letters

    # Then each has an alarm on its depth that notifies the alerts topic
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        # .get: a metric-math alarm (Lambda throttles across the functions) has no MetricName
        and alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    }
    assert dead_letters <= alarmed


def test_every_eventbridge_target_retries_and_dead_letters(resources: dict[str, Any]) -> None:
    # Given every EventBridge rule, plain or declared on a function
    targets = [
        target for r in resources.values() if r["Type"] == "AWS::Events::Rule" for target in r["Properties"]["Targets"]
    ]
    function_rules = [
        event["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
        for event in r["Properties"].get("Events", {}).values()
        if event["Type"] == "EventBridgeRule"
    ]
    # Then none can drop an event silently: each retries and has a dead-letter queue
    for target in [*targets, *function_rules]:
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert "Arn" in target["DeadLetterConfig"]


def test_asynchronous_functions_send_failures_somewhere(resources: dict[str, Any]) -> None:
    # Given the functions invoked asynchronously (by EventBridge rules and schedules)
    asynchronous = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        and any(e["Type"] in ("EventBridgeRule", "Schedule") for e in r["Properties"].get("Events", {}).values())
    ]
    assert set(asynchronous) == {"TrackerFunction", "SweeperFunction"}
    # Then each has an on-failure destination
    for name in asynchronous:
        assert resources[name]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
