"""`make bench` runs end to end on a tiny size (a smoke test: no figure is asserted, only that each is written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emr_dispatch_tools.bench.__main__ import main


def test_the_bench_writes_every_figure_on_a_tiny_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a tiny run: a few arrivals, one cold start of each function, a small batch for the memory figure,
    # and a stand-in for `sam build`'s output (the real one needs the SAM CLI; pip would need the network)
    output = tmp_path / "BENCHMARKS.md"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    build = tmp_path / "sam-build"
    for function in ("LauncherFunction", "TrackerFunction", "SweeperFunction"):
        (build / function).mkdir(parents=True)
        (build / function / "handler.py").write_text("def handler(event, context): ...\n", encoding="utf-8")
    (build / "EmrDispatchLayer/python/emr_dispatch").mkdir(parents=True)
    (build / "EmrDispatchLayer/python/emr_dispatch/__init__.py").write_text('"""layer"""\n', encoding="utf-8")

    # When the bench runs
    code = main(
        [
            "--arrivals", "12",
            "--hot-jobs", "6",
            "--cold-repeats", "1",
            "--memory-records", "6",
            "--batch-members", "50",
            "--quota-arrivals", "15",
            "--sweep-jobs", "12",
            "--build-dir", str(build),
            "--output", str(output),
        ]
    )  # fmt: skip

    # Then it writes every section, each summary figure with its ratio and goal
    text = output.read_text(encoding="utf-8")
    assert code == 0
    for heading in (
        "## 1. Cold start",
        "## 2. AWS calls per job",
        "## 3. Hot path",
        "## 4. Package size",
        "## 5. Memory",
        "## 6. Against the anchors",
        "## 7. Memory: closing the largest batch",
        "## 8. Burst at EMR's quotas",
        "### The sweeper over 12 active jobs",
    ):
        assert heading in text
    for figure in (
        "7. memory: closing a 50-member batch",
        "cold start: launcher init",
        "launch (new object)",
        "duplicate arrival",
        "hot path per arrival",
        "burst at quotas: arrivals dead-lettered",
        "burst at quotas: duplicate jobs",
        "burst at quotas: drain time ÷ quota floor",
        "burst at quotas: throttled calls per job started",
        "burst at quotas: other operations throttled",
    ):
        assert figure in text
    assert "Problems seen: none" in text
