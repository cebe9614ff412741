"""The routes file's JSON Schema, generated from the route models (emr_dispatch.routes), for editors.

config/routes.schema.json is this schema as shipped; config/routes.yaml's first line points YAML language servers
at it (``# yaml-language-server: $schema=routes.schema.json``), so editors complete and check fields as you type.
`emr-dispatch routes schema --write config/routes.schema.json` regenerates it after a model changes; a test keeps
the shipped file equal to the models. The schema checks shapes and single fields; what spans fields (the loop
check, placeholders, engine-specific limits) is still `emr-dispatch routes check`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emr_dispatch.routes import RoutesFile

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "routes.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def routes_schema() -> dict[str, Any]:
    """The schema of a routes file as the launcher validates it (pydantic's validation-mode schema)."""
    generated = RoutesFile.model_json_schema(mode="validation")
    return {
        "$schema": DIALECT,
        **generated,
        "title": "emr-dispatch routes file",
        "description": "Which files start which EMR job (config/routes.yaml). Generated from the route models by "
        "`emr-dispatch routes schema`; `emr-dispatch routes check` validates everything this schema cannot.",
    }


def render() -> str:
    """The schema as the shipped file holds it (sorted keys, two-space indent, final newline)."""
    return json.dumps(routes_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
