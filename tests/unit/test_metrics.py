"""Metrics: counted with one-line calls, written once per handler run as CloudWatch EMF, one namespace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emr_dispatch import metrics
from emr_dispatch_tools.moto_stack import load_sam_template


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    """The namespace template.yaml gives every function (Globals), as Lambda would set it."""
    value = str(load_sam_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", value)
    return value


def _records(printed: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in printed.splitlines() if line.startswith("{")]


def test_a_handler_writes_one_record_per_dimension_set_also_counted_namespace_wide(
    namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a handler that counts two starts on a route, one arrival, and a job's duration
    @metrics.flushed
    def handler() -> str:
        metrics.count(metrics.JOBS_STARTED, route="orders", engine="emr-ec2")
        metrics.count(metrics.JOBS_STARTED, route="orders", engine="emr-ec2")
        metrics.count(metrics.ARRIVALS)
        metrics.seconds(metrics.JOB_DURATION, 12.5, route="orders")
        return "done"

    # When it runs
    assert handler() == "done"

    # Then one EMF record per dimension set was printed, in the template's namespace
    records = {
        tuple(record["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]): record
        for record in _records(capsys.readouterr().out)
    }
    assert set(records) == {("service",), ("engine", "route", "service"), ("route", "service")}
    started = records[("engine", "route", "service")]
    (directive,) = started["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == namespace
    # ... counts summed into one value, with the namespace-wide {service} set beside the route's (for alarms)
    assert started[metrics.JOBS_STARTED] == [2.0]
    assert directive["Dimensions"] == [["engine", "route", "service"], ["service"]]
    assert (started["route"], started["engine"], started["service"]) == ("orders", "emr-ec2", metrics.SERVICE)
    assert records[("service",)][metrics.ARRIVALS] == [1.0]
    duration = records[("route", "service")]
    assert duration[metrics.JOB_DURATION] == [12.5]
    assert duration["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": metrics.JOB_DURATION, "Unit": "Seconds"}]


def test_metrics_are_written_when_the_handler_raises(namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    @metrics.flushed
    def handler() -> None:
        metrics.count(metrics.ENGINE_THROTTLES, engine="emr-ec2")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler()
    (record,) = _records(capsys.readouterr().out)
    assert record[metrics.ENGINE_THROTTLES] == [1.0]


def test_nothing_is_gathered_or_printed_outside_a_handler(capsys: pytest.CaptureFixture[str]) -> None:
    # Given counts made by a CLI, a demo or a benchmark (no handler around them)
    metrics.count(metrics.ARRIVALS)
    metrics.seconds(metrics.QUEUE_WAIT, 3.0)
    # When anything is flushed, then nothing is printed
    metrics.flush()
    assert capsys.readouterr().out == ""


def test_only_throttling_counts_as_a_throttle(namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    with metrics.collecting():
        metrics.engine_error("emr-ec2", "ThrottlingException")
        metrics.engine_error("emr-ec2", "ValidationException")
    (record,) = _records(capsys.readouterr().out)
    assert record[metrics.ENGINE_THROTTLES] == [1.0]


def test_skip_reasons_become_a_few_categories_never_a_key() -> None:
    # Given the launcher's skip reasons, fixed ones and ones that name a location, a key or a position
    assert metrics.skip_reason("no route matches") == "no route matches"
    assert metrics.skip_reason("folder marker") == "folder marker"
    assert metrics.skip_reason("under s3://work/output/x/: emr-dispatch's own writes are never inputs") == "own output"
    assert metrics.skip_reason("object key has a control character (U+000A at 12): refused") == "unsafe key"
    assert metrics.skip_reason("something new") == "other"
