"""`make demo`'s story, as a test: three engines, a success and a failure each, one alert per failure."""

from __future__ import annotations

from rich.console import Console

from emr_dispatch.routes import ENGINES
from emr_dispatch_tools.demo import run_demo


def test_demo_ends_as_promised(aws_env: None) -> None:
    # Given moto's fake credentials (aws_env) / When the demo runs
    report = run_demo(Console(file=None, quiet=True))
    # Then nothing went other than promised
    assert report.problems == []
    for engine in ENGINES:
        assert {job.state.value for job in report.jobs if job.engine == engine} == {"SUCCEEDED", "FAILED"}
    assert len(report.alerts) == 3
    # And the managed Serverless application was stopped once idle, with each run's usage recorded
    assert report.application_state == "STOPPED"
    for job in report.jobs:
        if job.engine == "emr-serverless":
            assert job.metrics["duration_seconds"] == 312
            assert set(job.metrics["billed"]) == {"vCPUHour", "memoryGBHour", "storageGBHour"}
    # And the key with spaces, '+' and non-ASCII reached the job decoded exactly once
    keys = {job.inputs[0]["key"] for job in report.jobs}
    assert "raw/orders/2026-11-23/orders 1+2 café.csv" in keys
