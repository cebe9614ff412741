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
    assert "credentials" in result.stderr


def test_no_region_is_a_usage_error(bare_environment: None) -> None:
    result = runner.invoke(app, ["jobs", "list", "--table", "ledger"])
    assert result.exit_code == EXIT_USAGE
    assert "--region" in result.stderr


def test_routes_check_as_json() -> None:
    result = runner.invoke(app, ["routes", "check", str(ROOT / "config" / "routes.yaml"), "-o", "json"])
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["valid"] is True
    assert "orders-daily" in checked["routes"]
