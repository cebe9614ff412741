"""`make demo`'s story, as a test: three engines, a success and a failure each, one alert per failure."""

from __future__ import annotations

import pytest
from rich.console import Console

from emr_dispatch.routes import ENGINES
from emr_dispatch_tools.demo import run_demo


@pytest.mark.parametrize("drop_events", [False, True], ids=["events-delivered", "every-event-lost"])
def test_demo_ends_as_promised(aws_env: None, drop_events: bool) -> None:
    # Given moto's fake credentials (aws_env) / When the demo runs, its engine events delivered or all lost
    report = run_demo(Console(file=None, quiet=True), drop_events=drop_events)
    # Then nothing went other than promised (the run checks itself: every job in its true end state)
    assert report.problems == []
    for engine in ENGINES:
        assert {job.state.value for job in report.jobs if job.engine == engine} == {"SUCCEEDED", "FAILED"}
    # And ops got one alert per failure (3) and one notice for the retry after the Spot loss
    assert sorted(alert["attributes"]["state"]["Value"] for alert in report.alerts) == ["FAILED"] * 3 + ["RETRYING"]
    (retried,) = [job for job in report.jobs if job.attempts]
    assert (retried.state.value, retried.attempt, retried.launch_options) == ("SUCCEEDED", 2, {"market": "ON_DEMAND"})
    # And with every event lost, the first sweep recorded every first attempt's end, the next the retry's
    if drop_events:
        assert [len(sweep["moved"]) for sweep in report.sweeps] == [len(report.jobs), 1]
    # And the managed Serverless application was stopped once idle, with each run's usage recorded
    assert report.application_state == "STOPPED"
    for job in report.jobs:
        if job.engine == "emr-serverless":
            assert job.metrics["duration_seconds"] == 312
            assert set(job.metrics["billed"]) == {"vCPUHour", "memoryGBHour", "storageGBHour"}
    # And the key with spaces, '+' and non-ASCII reached the job decoded exactly once
    keys = {job.inputs[0]["key"] for job in report.jobs}
    assert "raw/orders/2026-11-23/orders 1+2 café.csv" in keys
    # And every call of every function was authorized by its role, and every call was within its API contract
    assert {"LauncherFunction", "TrackerFunction"} <= set(report.checked.by_principal)
    assert report.checked.iam_line().endswith("all allowed")
    assert report.checked.calls > 0
    assert report.checked.violations == []
