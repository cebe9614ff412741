"""What template.yaml promises operators: alarms that reach the alerts topic, on the metrics the code emits, and
a dashboard that shows them (read from the template itself)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from emr_dispatch import metrics
from emr_dispatch_tools.moto_stack import load_sam_template

METRIC_NAMES = {value for name, value in vars(metrics).items() if name.isupper() and isinstance(value, str)} - {
    metrics.SERVICE
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_sam_template()
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _namespace(template: dict[str, Any]) -> str:
    return str(template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"])


def test_every_alarm_notifies_the_alerts_topic_when_it_fires_and_when_it_clears(template: dict[str, Any]) -> None:
    for name, alarm in _of_type(template, "AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}], name
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlertsTopic"}], name
        assert "docs/RUNBOOK.md" in alarm["Properties"]["AlarmDescription"], name


def test_alarms_cover_errors_failures_timeouts_and_throttling(template: dict[str, Any]) -> None:
    alarms = _of_type(template, "AWS::CloudWatch::Alarm").values()
    # Each function's errors
    errors = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in alarms
        if alarm["Properties"].get("Namespace") == "AWS/Lambda" and alarm["Properties"]["MetricName"] == "Errors"
    }
    functions = set(_of_type(template, "AWS::Serverless::Function"))
    assert errors == functions
    # Failed jobs, jobs past their timeout and engine throttles: emr-dispatch's own metrics, namespace-wide
    ours = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in alarms
        if alarm["Properties"].get("Namespace") == _namespace(template)
    }
    assert {metrics.JOBS_FAILED, metrics.JOBS_TIMED_OUT, metrics.ENGINE_THROTTLES} <= set(ours)
    for properties in ours.values():
        assert properties["MetricName"] in METRIC_NAMES
        assert properties["Dimensions"] == [{"Name": "service", "Value": metrics.SERVICE}]
    # Lambda throttling of any function
    throttles = next(a for a in alarms if "Metrics" in a["Properties"])["Properties"]["Metrics"]
    throttled = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in throttles if "MetricStat" in m}
    assert throttled == functions


def test_the_dashboard_is_json_showing_every_metric_and_every_alarm(template: dict[str, Any]) -> None:
    # Given the dashboard's body, with CloudFormation's ${...} substitutions filled in as they would be
    (dashboard,) = _of_type(template, "AWS::CloudWatch::Dashboard").values()
    body_template = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    substituted = re.sub(r"\$\{([A-Za-z0-9:.]+)\}", lambda m: f"<{m.group(1)}>", body_template)
    # Then it is valid JSON
    body = json.loads(substituted)
    text = json.dumps(body)
    # ... that graphs every metric emr-dispatch emits, in the one namespace
    for name in METRIC_NAMES:
        assert name in text, name
    namespaces = {
        row[0]
        for widget in body["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], str)
    }
    assert namespaces == {_namespace(template), "AWS/Lambda", "AWS/SQS"}
    # ... and lists every alarm of the template
    (alarm_widget,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    assert {arn.strip("<>").removesuffix(".Arn") for arn in alarm_widget["properties"]["alarms"]} == set(
        _of_type(template, "AWS::CloudWatch::Alarm")
    )


def test_tracing_is_a_choice_and_off_by_default(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Tracing"] == {"Ref": "TracingMode"}
    assert template["Parameters"]["TracingMode"]["Default"] == "PassThrough"
    disabled = function_globals["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]
    assert disabled == {"Fn::If": ["TracingActive", "false", "true"]}
