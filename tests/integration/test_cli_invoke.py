"""emr-dispatch invoke: every events/ file through the function template.yaml triggers with it, without Docker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from typer.testing import CliRunner

from emr_dispatch import wiring
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.cli import EXIT_NOT_FOUND, EXIT_USAGE, app
from sample_events import EVENTS_DIR, STEP_EVENT_FILES, load_event

runner = CliRunner()


def _started_on_orders_daily(result: Any) -> bool:
    (launched,) = result["results"]
    return bool(launched["status"] == "started" and launched["route"] == "orders-daily" and launched["engine_id"])


def _unknown_to_the_ledger(result: Any) -> bool:
    # A fresh stack has no job on the example job run: skipped, with the reason logged.
    return bool(result == {"status": "skipped", "reason": "unknown engine resource", "job_id": None, "state": None})


def _the_sample_job(result: Any) -> bool:
    # The example cluster is the one events/s3-put-classic.json starts (invoke seeds it): its job answers.
    return bool(result["job_id"] == SAMPLE_JOB_ID and result["status"] in ("moved", "ignored", "unchanged"))


SAMPLE_JOB_ID = "orders-daily-17c3ac63b97f7b66"


EXPECTED: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "s3-put-classic.json": ("LauncherFunction", _started_on_orders_daily),
    "s3-object-created-eventbridge.json": ("LauncherFunction", _started_on_orders_daily),
    "s3-object-created-eventbridge-raw-key.json": ("LauncherFunction", _started_on_orders_daily),
    "s3-object-created-eventbridge-encoded-key.json": ("LauncherFunction", _started_on_orders_daily),
    "sqs-s3-batch.json": ("LauncherFunction", lambda result: result == {"batchItemFailures": []}),
    **{
        path.name: ("TrackerFunction", _unknown_to_the_ledger)
        for path in sorted(EVENTS_DIR.glob("emr-*.json"))  # EMR Serverless and EMR on EKS events
    },
    **{
        path.name: ("TrackerFunction", _the_sample_job)
        for path in [*EVENTS_DIR.glob("emr-cluster-*.json"), *EVENTS_DIR.glob("emr-step-*.json")]  # EMR on EC2
    },
    # The orders-warehouse route's steps: a cluster of several steps that a fresh stack has no job for.
    **{name: ("TrackerFunction", _unknown_to_the_ledger) for name in STEP_EVENT_FILES},
}


def test_every_event_file_has_an_expectation() -> None:
    assert set(EXPECTED) == {path.name for path in EVENTS_DIR.glob("*.json")}


@pytest.mark.parametrize("function", ["LauncherFunction", "TrackerFunction"])
def test_each_event_file_runs_through_its_function(function: str, aws_env: None) -> None:
    # Given the events/ files of a function (engine events: the ones its EventBridge rules match)
    names = sorted(name for name, (target, _) in EXPECTED.items() if target == function)
    for name in names:
        event = load_event(name)
        if "detail-type" in event and event.get("source") != "aws.s3":
            assert any(rule.startswith(f"{function}.") for rule in moto_stack.matching_rules(event, _patterns()))
    # When they are invoked as `sam local invoke` would, against template.yaml deployed into moto (one stack)
    files = [argument for name in names for argument in ("-e", str(EVENTS_DIR / name))]
    result = runner.invoke(app, ["invoke", function, *files, "--output", "json"])
    # Then each answer is the one expected, as JSON on stdout (logs went to stderr)
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert len(answers) == len(names)
    for name, answer in zip(names, answers, strict=True):
        assert EXPECTED[name][1](answer), (name, answer)


def test_invoke_against_a_deployed_stack(aws_env: None) -> None:
    # Given a stack already deployed (moto stands in for the account)
    with mock_aws():
        wiring.reset()
        try:
            moto_stack.deploy("emr-dispatch-deployed", region="us-east-1")
            # When a function of it is invoked with --aws
            event_file = str(EVENTS_DIR / "s3-put-classic.json")
            arguments = ["invoke", "LauncherFunction", "-e", event_file, "--aws", "--stack", "emr-dispatch-deployed"]
            result = runner.invoke(app, [*arguments, "-o", "json"])
        finally:
            wiring.reset()
    # Then it ran with that stack's environment
    assert result.exit_code == 0, result.output
    assert _started_on_orders_daily(json.loads(result.stdout))


def test_invoke_of_an_unknown_function_or_file_says_so(aws_env: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["invoke", "NoSuchFunction", "-e", str(EVENTS_DIR / "s3-put-classic.json")])
    assert result.exit_code == EXIT_USAGE
    assert "LauncherFunction" in result.stderr
    result = runner.invoke(app, ["invoke", "LauncherFunction", "-e", str(tmp_path / "missing.json")])
    assert result.exit_code == EXIT_NOT_FOUND


def _patterns() -> dict[str, dict[str, Any]]:
    return moto_stack.rule_patterns()
