"""The routes file's editor schema (config/routes.schema.json) is the route models' schema, and config/routes.yaml
points editors at it on its first line, the way YAML language servers read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from emr_dispatch_tools.routes_schema import SHIPPED, render

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ROOT / "config" / "routes.yaml"


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return loaded


def test_the_shipped_schema_equals_the_models() -> None:
    # Given the schema generated from the route models now / Then the shipped file is exactly that
    assert SHIPPED.read_text(encoding="utf-8") == render(), (
        "config/routes.schema.json is stale: run `emr-dispatch routes schema --write config/routes.schema.json`"
    )


def test_routes_yaml_names_the_schema_on_its_first_line() -> None:
    # Given the shipped routes file / Then its first line is the yaml-language-server modeline naming the schema
    first = ROUTES.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=routes.schema.json"
    assert (ROUTES.parent / first.split("$schema=", 1)[1]).is_file()


def test_the_shipped_routes_file_is_valid_under_the_schema() -> None:
    # Given the schema as an editor would use it (JSON Schema 2020-12) / Then the shipped routes file passes
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(yaml.safe_load(ROUTES.read_text(encoding="utf-8"))), key=str)
    assert [error.message for error in errors] == []


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda doc: doc["routes"][0].update(engine="emr-on-mars"), "is not one of"),
        (lambda doc: doc["routes"][0].update(surprise=True), "Additional properties are not allowed"),
        (lambda doc: doc["routes"][0].update(name="Orders Daily"), "does not match"),
        (lambda doc: doc["routes"][0].update(max_concurrent=0), "is not valid under any of the given schemas"),
    ],
)
def test_an_editor_sees_a_wrong_field_as_it_types(edit: Any, complaint: str) -> None:
    # Given the shipped routes file with one field made wrong
    document = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))
    edit(document)
    # When the schema checks it / Then the editor's complaint names the problem
    messages = [error.message for error in jsonschema.Draft202012Validator(_schema()).iter_errors(document)]
    assert any(complaint in message for message in messages), messages
