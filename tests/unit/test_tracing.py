"""Tracing costs nothing when it is off; on, the handler is traced by Powertools Tracer."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emr_dispatch import observability

ROOT = Path(__file__).resolve().parents[2]


def test_with_tracing_off_the_xray_sdk_is_not_imported() -> None:
    # Given a fresh interpreter with the environment template.yaml gives when TracingMode is PassThrough
    environment = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join(str(ROOT / path) for path in ("layers/emr_dispatch", "functions/tracker")),
    }
    probe = "import sys, track_handler; print(sorted(m for m in sys.modules if 'xray' in m))"
    # When the tracker's handler module is imported (what a cold start does)
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True)  # noqa: S603 - our own interpreter and code
    # Then the X-Ray SDK (what costs; Powertools' own tracing module is imported with its Logger) was not loaded
    assert done.stdout.strip() == "[]", done.stderr


def test_with_tracing_on_the_handler_is_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given tracing on (TracingMode Active)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")

    def handler(event: dict[str, Any], context: Any) -> str:
        return "ran"

    # When the handler is decorated, then Tracer wraps it
    traced = observability.traced(handler)
    assert traced is not handler
    assert getattr(traced, "__wrapped__", None) is handler


def test_with_tracing_on_but_no_xray_sdk_the_handler_runs_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given tracing on in a runtime without the X-Ray SDK (the layer does not ship it)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)

    def handler(event: dict[str, Any], context: Any) -> str:
        return "ran"

    # When the handler is decorated / Then it is itself: no import error at init, Lambda's segments only
    assert observability.traced(handler) is handler


@pytest.mark.parametrize("setting", ["true", None])
def test_with_tracing_off_or_unset_the_handler_is_itself(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> None:
    # Given tracing off (TracingMode PassThrough), or not set at all (a tool importing a handler)
    if setting is None:
        monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", setting)

    def handler(event: dict[str, Any], context: Any) -> str:
        return "ran"

    # Then the handler is not wrapped at all
    assert observability.traced(handler) is handler
