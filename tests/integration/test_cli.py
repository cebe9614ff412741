"""The emr-dispatch CLI against a ledger deployed from template.yaml into moto: exit codes and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from builders import job
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.cli import EXIT_NO_STACK, EXIT_NOT_FOUND, EXIT_USAGE, app
from emr_dispatch_tools.offline import iam

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMR_DISPATCH_TABLE", "EMR_DISPATCH_STACK"):
        monkeypatch.delenv(name, raising=False)


def _seed(stack: moto_stack.DeployedStack) -> Ledger:
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name="us-east-1"))
    first, second = job(route_name="orders"), job(route_name="returns")
    second.job_id = "returns-fedcba9876543210"
    for item in (first, second):
        assert ledger.claim(item)
    ledger.record_submitted(first, "j-CLUSTER1", {"cluster_id": "j-CLUSTER1"})
    return ledger


def test_jobs_list_json_via_stack_outputs(stack: moto_stack.DeployedStack) -> None:
    # Given two jobs in the stack's ledger
    _seed(stack)
    # When jobs are listed as JSON, finding the table through the stack's outputs
    result = runner.invoke(app, ["jobs", "list", "--stack", "emr-dispatch-test", "--output", "json"])
    # Then both come back, machine-readable
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)
    assert {item["job_id"] for item in jobs} == {"orders-0123456789abcdef", "returns-fedcba9876543210"}


def test_jobs_list_filters_by_state_and_route(stack: moto_stack.DeployedStack) -> None:
    _seed(stack)
    table = stack.outputs["LedgerTableName"]
    # When filtering by state, then only jobs in that state are listed
    result = runner.invoke(app, ["jobs", "list", "--table", table, "--state", "SUBMITTED", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert [item["job_id"] for item in json.loads(result.stdout)] == ["orders-0123456789abcdef"]
    # When filtering by route, then only that route's jobs are listed
    result = runner.invoke(app, ["jobs", "list", "--table", table, "--route", "returns", "-o", "json"])
    assert [item["route"] for item in json.loads(result.stdout)] == ["returns"]


def test_jobs_show_prints_the_timeline(stack: moto_stack.DeployedStack) -> None:
    _seed(stack)
    table = stack.outputs["LedgerTableName"]
    # When one job is shown as JSON, then it carries its state history
    result = runner.invoke(app, ["jobs", "show", "orders-0123456789abcdef", "--table", table, "-o", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["state"] == JobState.SUBMITTED.value
    assert [entry["state"] for entry in shown["history"]] == ["SUBMITTING", "SUBMITTED"]
    # And as a table, the timeline is printed for people
    result = runner.invoke(app, ["jobs", "show", "orders-0123456789abcdef", "--table", table])
    assert result.exit_code == 0
    assert "timeline" in result.stdout
    assert "SUBMITTED" in result.stdout


def test_jobs_show_unknown_job_exits_not_found(stack: moto_stack.DeployedStack) -> None:
    result = runner.invoke(app, ["jobs", "show", "nope", "--table", stack.outputs["LedgerTableName"]])
    assert result.exit_code == EXIT_NOT_FOUND
    assert "no job nope" in result.stderr


def test_jobs_list_without_a_ledger_is_a_usage_error(
    stack: moto_stack.DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a directory without samconfig.toml, and no stack or table named
    monkeypatch.chdir(tmp_path)
    # When jobs are listed, then it is a usage error that says what to pass
    result = runner.invoke(app, ["jobs", "list"])
    assert result.exit_code == EXIT_USAGE
    assert "--stack" in result.stderr


def test_the_default_stack_comes_from_samconfig(
    stack: moto_stack.DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the repository's samconfig.toml (stack_name emr-dispatch), which this moto account does not have
    monkeypatch.chdir(ROOT)
    # When jobs are listed from the repository without --stack, then that stack is asked for, and missing
    result = runner.invoke(app, ["jobs", "list"])
    assert result.exit_code == EXIT_NO_STACK
    assert "emr-dispatch" in result.stderr


def test_routes_check_accepts_the_shipped_routes() -> None:
    result = runner.invoke(app, ["routes", "check", str(ROOT / "config" / "routes.yaml")])
    assert result.exit_code == 0, result.output
    shipped = yaml.safe_load((ROOT / "config" / "routes.yaml").read_text(encoding="utf-8"))["routes"]
    assert f"{len(shipped)} route(s) valid: {', '.join(route['name'] for route in shipped)}" in result.stdout


def test_routes_check_names_the_route_and_field_of_an_invalid_file(tmp_path: Path) -> None:
    # Given a routes file whose route has a bad release label
    bad = tmp_path / "routes.yaml"
    bad.write_text(
        "routes:\n"
        "  - name: broken-route\n"
        "    engine: emr-serverless\n"
        "    match: {prefix: raw/}\n"
        "    emr_serverless: {application_id: NOT-VALID}\n"
        "    job: {entry_point: 's3://b/job.py'}\n",
        encoding="utf-8",
    )
    # When it is checked, then it exits 1 naming the route and the field
    result = runner.invoke(app, ["routes", "check", str(bad)])
    assert result.exit_code == 1
    assert "route 'broken-route': emr_serverless.application_id" in result.stderr


def test_routes_explain_fills_in_the_stacks_values(engines_stack: moto_stack.DeployedStack) -> None:
    # Given a stack with an EMR Serverless application
    application_id = engines_stack.parameters["EmrServerlessApplicationId"]
    # When a returns file of the stack's landing bucket (not landed yet) is explained with the stack's values
    routes = str(ROOT / "config" / "routes.yaml")
    uri = f"s3://{engines_stack.outputs['LandingBucketName']}/raw/returns/2026/returns-1.csv"
    result = runner.invoke(
        app, ["routes", "explain", uri, "--stack", "emr-dispatch-test", "--routes", routes, "-o", "json"]
    )
    # Then the request names the stack's application, work bucket and job role, as the launcher would send it
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)["request"]
    assert request["applicationId"] == application_id
    assert request["executionRoleArn"].endswith(":role/emr-dispatch-serverless-job")
    work_bucket = engines_stack.outputs["WorkBucketName"]
    assert request["jobDriver"]["sparkSubmit"]["entryPoint"] == f"s3://{work_bucket}/jobs/clean_csv.py"


def test_routes_explain_of_an_object_the_operator_cannot_read_still_explains(
    engines_stack: moto_stack.DeployedStack,
) -> None:
    # Given an object in a bucket outside the operator policy (S3 answers 403, as it does for a missing object
    # to a caller without s3:ListBucket)
    routes = str(ROOT / "config" / "routes.yaml")
    uri = "s3://someone-elses-bucket/raw/returns/2026/returns-1.csv"
    # When it is explained with the stack's values
    with iam.denials_expected() as denials:
        result = runner.invoke(
            app, ["routes", "explain", uri, "--stack", "emr-dispatch-test", "--routes", routes, "-o", "json"]
        )
    # Then HeadObject was refused, the explanation still stands, and stderr says why the id is unknown
    assert [denial.action for denial in denials] == ["s3:GetObject"]
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["request"]["applicationId"] == engines_stack.parameters["EmrServerlessApplicationId"]
    )
    assert "is not readable" in result.stderr
