"""The layer ships the versions the tests ran: every pin in the layer's requirements.txt (what `sam build` installs
into the Lambda layer) equals the pin of the same package in pyproject.toml (what `make test` installs)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "layers" / "emr_dispatch" / "requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+?)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()  # PEP 503 normalisation


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = _PIN.match(line.split("#", 1)[0].strip())
        if match:
            pins[_name(match.group(1))] = match.group(2)
    return pins


def test_every_layer_pin_equals_the_pin_the_tests_ran() -> None:
    # Given the layer's requirements and the project's dependencies
    layer_lines = [line for line in LAYER_REQUIREMENTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    layer = _pins(layer_lines)
    project = _pins(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])

    # Then every requirement of the layer is pinned exactly...
    unpinned = [line for line in layer_lines if not line.lstrip().startswith("#") and not _PIN.match(line.strip())]
    assert unpinned == []
    assert layer, "the layer pins nothing"
    # ... and to the version the project (and so the tests) installs
    assert {name: (version, project.get(name)) for name, version in layer.items() if project.get(name) != version} == {}
