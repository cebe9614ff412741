"""CLI errors that need no AWS to happen: no credentials, no region, a bad routes file as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emr_dispatch_tools.cli import EXIT_NO_CREDENTIALS, EXIT_USAGE, app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere boto3 looks (environment, files, instance metadata), no region."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "EMR_DISPATCH_STACK",
        "EMR_DISPATCH_TABLE",
    ):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)


def test_no_credentials_has_its_own_exit_code(bare_environment: None) -> None:
    result = runner.invoke(app, ["jobs", "list", "--table", "ledger", "--region", "us-east-1", "-o", "json"])
    assert result.exit_code == EXIT_NO_CREDENTIALS, result.output
    # Under -o json the error is the JSON document on stdout, with its exit code
    error = json.loads(result.stdout)
    assert error["exit_code"] == EXIT_NO_CREDENTIALS
    assert "credentials" in error["error"]
    # ... and as text, one line on stderr
    result = runner.invoke(app, ["jobs", "list", "--table", "ledger", "--region", "us-east-1"])
    assert result.exit_code == EXIT_NO_CREDENTIALS
    assert "credentials" in result.stderr
    assert result.stdout == ""


def test_an_unknown_profile_is_a_credentials_problem(bare_environment: None) -> None:
    # Given a profile that no config file names (the AWS CLI says "The config profile (x) could not be found")
    result = runner.invoke(app, ["jobs", "list", "--table", "ledger", "--profile", "nope", "-o", "json"])
    # Then the exit code is the documented one for credentials, not "AWS error"
    assert result.exit_code == EXIT_NO_CREDENTIALS, result.output
    assert "nope" in json.loads(result.stdout)["error"]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-1"),  # AWS_REGION wins
    ],
)
def test_the_region_is_resolved_as_the_aws_cli_resolves_it(
    bare_environment: None, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    from emr_dispatch_tools.cli.common import Deployment

    # Given the AWS environment variables set as a shell would
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    # When the CLI connects / Then the region is the one the AWS CLI would use; --region beats them all
    assert Deployment.connect(None, None, None, "ledger").region == expected
    assert Deployment.connect(None, "ap-south-1", None, "ledger").region == "ap-south-1"


def test_no_region_is_a_usage_error(bare_environment: None) -> None:
    result = runner.invoke(app, ["jobs", "list", "--table", "ledger"])
    assert result.exit_code == EXIT_USAGE
    assert "--region" in result.stderr


def test_routes_check_of_an_invalid_file_as_json(tmp_path: Path) -> None:
    # Given a routes file with a bad route
    bad = tmp_path / "routes.yaml"
    bad.write_text("routes:\n  - name: x\n", encoding="utf-8")
    # When it is checked with -o json / Then stdout is one JSON document naming the problems, exit 1
    result = runner.invoke(app, ["routes", "check", str(bad), "-o", "json"])
    assert result.exit_code == 1
    checked = json.loads(result.stdout)
    assert checked["valid"] is False
    assert checked["problems"]


def test_routes_check_as_json() -> None:
    result = runner.invoke(app, ["routes", "check", str(ROOT / "config" / "routes.yaml"), "-o", "json"])
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["valid"] is True
    assert "orders-daily" in checked["routes"]
