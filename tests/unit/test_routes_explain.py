"""emr-dispatch routes explain: the route an object matches and the exact request its engine would get, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emr_dispatch_tools.cli import EXIT_USAGE, app

ROUTES = Path(__file__).resolve().parents[2] / "config" / "routes.yaml"
runner = CliRunner()


def _explain(uri: str) -> dict[str, Any]:
    result = runner.invoke(app, ["routes", "explain", uri, "--routes", str(ROUTES), "--output", "json"])
    assert result.exit_code == 0, result.output
    explained: dict[str, Any] = json.loads(result.stdout)
    return explained


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_an_emr_on_ec2_object_shows_its_run_job_flow_request() -> None:
    # When an orders file (with a space and a plus in its key) is explained
    explained = _explain("s3://landing/raw/orders/2026-11-23/a b+c.csv")
    # Then it starts a job on orders-daily, and the RunJobFlow request carries the key as one argument
    assert (explained["outcome"], explained["route"], explained["engine"]) == ("start", "orders-daily", "emr-ec2")
    request = explained["request"]
    assert request["Name"] == f"emr-dispatch-{explained['job_id']}-a1"
    (step,) = request["Steps"]
    args = step["HadoopJarStep"]["Args"]
    assert "--input=s3://landing/raw/orders/2026-11-23/a b+c.csv" in args
    assert args.index("--input=s3://landing/raw/orders/2026-11-23/a b+c.csv") > args.index(
        "s3://<WorkBucket>/jobs/clean_csv.py"
    )
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False


def test_job_run_engines_show_their_start_job_run_request_with_the_stack_values_to_fill() -> None:
    serverless = _explain("s3://landing/raw/returns/2026/returns-1.csv")
    assert serverless["engine"] == "emr-serverless"
    assert serverless["request"]["applicationId"] == "<EmrServerlessApplicationId>"
    assert serverless["request"]["clientToken"] == f"{serverless['job_id']}-a1"
    eks = _explain("s3://landing/raw/payments/p-1.csv")
    assert eks["engine"] == "emr-eks"
    assert eks["request"]["virtualClusterId"] == "<EmrEksVirtualClusterId>"


def test_batching_markers_and_unrouted_objects_are_explained() -> None:
    batch = _explain("s3://landing/raw/clicks/c-1.csv")
    assert batch["outcome"] == "batch"
    assert "--inputs-manifest=s3://<work bucket>/manifests/clicks-batch/<batch id>.json" in json.dumps(batch["request"])
    waiting = _explain("s3://landing/raw/exports/2026-11-23/part-0.csv")
    assert (waiting["outcome"], waiting["reason"], waiting["request"]) == (
        "skip",
        "waiting for the marker object",
        None,
    )
    marker = _explain("s3://landing/raw/exports/2026-11-23/_SUCCESS")
    assert marker["outcome"] == "start"
    assert (
        "--input=s3://landing/raw/exports/2026-11-23/"
        in marker["request"]["jobDriver"]["sparkSubmitJobDriver"]["entryPointArguments"]
    )
    nothing = _explain("s3://landing/somewhere/else.csv")
    assert (nothing["outcome"], nothing["reason"], nothing["route"]) == ("skip", "no route matches", None)


def test_a_prefix_is_not_an_object() -> None:
    result = runner.invoke(app, ["routes", "explain", "s3://landing/raw/orders/", "--routes", str(ROUTES)])
    assert result.exit_code == EXIT_USAGE
    result = runner.invoke(app, ["routes", "explain", "landing/raw/orders/x.csv", "--routes", str(ROUTES)])
    assert result.exit_code == EXIT_USAGE


def test_a_hive_object_shows_its_hive_request_and_a_key_hive_cannot_carry_is_a_skip() -> None:
    # When a refunds file (route refunds-hive: one Hive step on EMR Serverless) is explained
    explained = _explain("s3://landing/raw/refunds/2026-11-23/refunds-0001.csv")
    # Then the request goes to the stack's Hive application with the query, the init file and the rendered
    # parameters, as StartJobRun's jobDriver.hive takes them
    assert (explained["outcome"], explained["route"]) == ("start", "refunds-hive")
    request = explained["request"]
    assert request["applicationId"] == "<EmrServerlessHiveApplicationId>"
    hive = request["jobDriver"]["hive"]
    assert hive["query"] == "s3://<WorkBucket>/jobs/load_refunds.q"
    assert hive["initQueryFile"] == "s3://<WorkBucket>/jobs/create_refunds.q"
    words = hive["parameters"].split(" ")
    assert words[words.index("--hivevar") + 1] == "INPUT=s3://landing/raw/refunds/2026-11-23/refunds-0001.csv"
    assert f"JOB_ID={explained['job_id']}" in words
    # And a key with a space is a skip, with the reason, before any request
    skipped = _explain("s3://landing/raw/refunds/2026-11-23/refunds 0002.csv")
    assert skipped["outcome"] == "skip"
    assert "hive variable INPUT" in json.dumps(skipped)
