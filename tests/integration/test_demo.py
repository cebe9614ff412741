"""`make demo`'s story, as a test: three engines, a success and a failure each, one alert per failure."""

from __future__ import annotations

import pytest
from rich.console import Console

from emr_dispatch.routes import ENGINES
from emr_dispatch_tools import demo
from emr_dispatch_tools.demo import run_demo


@pytest.mark.parametrize("drop_events", [False, True], ids=["events-delivered", "every-event-lost"])
def test_demo_ends_as_promised(aws_env: None, drop_events: bool) -> None:
    # Given moto's fake credentials (aws_env) / When the demo runs, its engine events delivered or all lost
    report = run_demo(Console(file=None, quiet=True), drop_events=drop_events)
    # Then nothing went other than promised (the run checks itself: every job in its true end state)
    assert report.problems == []
    for engine in ENGINES:
        assert {job.state.value for job in report.jobs if job.engine == engine} == {"SUCCEEDED", "FAILED"}
    # And ops got one alert per failure (one per engine, the Hive job's, and the three-step cluster failing at its
    # Hive step) and one notice for the retry after the Spot loss
    assert sorted(alert["attributes"]["state"]["Value"] for alert in report.alerts) == ["FAILED"] * 5 + ["RETRYING"]
    # And the Hive jobs ran on the stack's HIVE application, the failed one alerted with EMR Serverless' stateDetails
    hive_application = report.stack.parameters["EmrServerlessHiveApplicationId"]
    hive_jobs = [job for job in report.jobs if job.inputs[0].key in demo.HIVE_KEYS]
    assert {job.engine_details["application_id"] for job in hive_jobs} == {hive_application}
    assert {job.state.value for job in hive_jobs} == {"SUCCEEDED", "FAILED"}
    (failed_hive,) = [job for job in hive_jobs if job.state.value == "FAILED"]
    assert any(str(failed_hive.reason_message) in str(alert["message"]) for alert in report.alerts)
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
    keys = {job.inputs[0].key for job in report.jobs}
    assert "raw/orders/2026-11-23/orders 1+2 café.csv" in keys
    # And every call of every function was authorized by its role, and every call was within its API contract
    assert "LauncherFunction" in report.checked.by_principal
    assert {"TrackerFunction", "SweeperFunction"} & set(report.checked.by_principal)
    assert report.checked.iam_line().endswith("all allowed")
    assert report.checked.calls > 0
    assert report.checked.violations == []


def test_the_demos_first_screen_is_its_summary(
    aws_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a terminal of 80 columns and 24 lines (no width forced on it)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr("sys.argv", ["demo"])
    # When `make demo` runs
    assert demo.main() == 0
    lines = capsys.readouterr().out.splitlines()
    # Then its first screen is the summary: jobs per engine and outcome, alerts, what was cleaned up
    first_screen = "\n".join(lines[:24])
    assert "what happened" in first_screen
    for engine in ENGINES:
        assert engine in first_screen
    assert "failure alert(s)" in first_screen
    assert "cleaned up: 6 of 6 EMR clusters terminated" in first_screen
    # ... no line of the summary is wider than the terminal, and the demo ends with the next commands to try
    summary = lines[: next(i for i, line in enumerate(lines) if line.startswith("The detail"))]
    assert len(summary) <= 24
    assert all(len(line) <= 80 for line in summary), summary
    tail = "\n".join(lines[-7:-1])
    assert "make sandbox" in tail
    assert "sam deploy" in tail
    # ... then one last line: how many calls of each function IAM checked, and that all were allowed
    assert lines[-1].startswith("IAM checked the calls of launcher ")
    assert lines[-1].endswith(": all allowed")
