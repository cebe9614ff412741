"""Long operations show progress on a terminal (and stay silent for scripts)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from emr_dispatch_tools.cli import common


def _run(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> str:
    screen = io.StringIO()
    monkeypatch.setattr(common, "errors", Console(file=screen, force_terminal=terminal, width=100))
    with common.progress("redriving arrivals", 3) as advance:
        for _ in range(3):
            advance(1)
    return screen.getvalue()


def test_progress_is_drawn_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "redriving arrivals" in _run(monkeypatch, terminal=True)


def test_progress_is_silent_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(monkeypatch, terminal=False) == ""
