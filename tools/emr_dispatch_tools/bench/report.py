"""Pieces of the markdown written to docs/BENCHMARKS.md: machine, revision, tables, the burst section."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from emr_dispatch_tools.bench.burst import BATCH_SIZE, EVENTS_PREFIX, ORDERS_PREFIX, Burst
from emr_dispatch_tools.bench.runs import RunResult
from emr_dispatch_tools.bench.tables import (
    HOT_SPOT_HEADER,
    OPERATION_HEADER,
    PROFILE_HEADER,
    SUMMARY_HEADER,
    hot_spot_rows,
    operation_rows,
    profile_rows,
    summary_rows,
)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}; "
        f"{platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; moto {version('moto')}, boto3 {version('boto3')}"
    )


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def revision() -> str:
    """The commit measured, and whether the working tree differed from it (the launcher changes often)."""
    git = ["git", "-C", str(Path(__file__).resolve().parents[3])]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)  # noqa: S603
        dirty = subprocess.run(  # noqa: S603 - git with fixed arguments
            [*git, "status", "--porcelain", "--", "layers", "functions", "template.yaml"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = len(dirty.stdout.splitlines())
    return commit.stdout.strip() + (
        f" + {changed} uncommitted change(s) in layers/, functions/, template.yaml" if changed else ""
    )


def markdown_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _profile_section(ours: RunResult, base: RunResult) -> str:
    if not ours.time_by_package:
        return ""
    return f"""
### Where the time goes (`--profile`)

cProfile over the delivery loop only: own time per function, summed by package (standard library and builtins
charged to their caller's package), then the cumulative time of a few functions (these overlap). Profiling
slows everything down about twofold: read the shares, not the seconds.

{markdown_table(PROFILE_HEADER, profile_rows(ours, base))}

{markdown_table(HOT_SPOT_HEADER, hot_spot_rows(ours, base))}
"""


def _time_note(result: RunResult) -> str:
    inside = result.api.total_seconds
    slowest = sorted(result.api.calls, key=lambda name: -result.api.seconds[name] / result.api.calls[name])[:2]
    per_call = ", ".join(
        f"`{name}` {result.api.seconds[name] / result.api.calls[name] * 1000:.1f} ms" for name in slowest
    )
    clients = sum(result.api.clients.values())
    return (
        f"{inside / result.wall_seconds:.0%} of emr-dispatch's delivery loop is spent inside AWS API calls, that is in "
        f"botocore and moto (slowest per call: {per_call}); the rest is the handler, Powertools, JSON log lines and "
        f"the harness. {clients} boto3 client(s) created: the warm container keeps them. "
        "Run with `--profile` for a breakdown by package."
    )


def phases(result: RunResult) -> str:
    return (
        f"  setup {result.setup_seconds:.1f} s, delivering the burst {result.wall_seconds:.1f} s, "
        f"inventory {result.inventory_seconds:.1f} s"
    )


def command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python -m emr_dispatch_tools.bench --arrivals {args.arrivals} --duplicates {args.duplicates} "
        f"--seed {args.seed} --hot-jobs {args.hot_jobs} --cold-repeats {args.cold_repeats} "
        f"--memory-records {args.memory_records} --output {args.output}" + (" --profile" if args.profile else "")
    )


def burst_section(args: argparse.Namespace, burst: Burst, ours: RunResult, base: RunResult, bucket: str) -> str:
    classic = sum(1 for obj in burst.objects if obj.shape == "classic")
    logs = ", ".join(f"`{line}` {n:,}" for line, n in sorted(ours.log_lines.items()))
    return f"""## Bursts and duplicates: correctness and calls per arrival (issue 4)

- **Took**: emr-dispatch: {phases(ours).strip()}; baseline: {phases(base).strip()}.
- **Where the time goes**: {_time_note(ours)}
- **Burst**: {len(burst.objects):,} unique objects (half under `{ORDERS_PREFIX}` → EMR on EC2, half under
  `{EVENTS_PREFIX}` → EMR Serverless; {classic:,} as classic S3 notifications,
  {len(burst.objects) - classic:,} as EventBridge "Object Created"; a quarter of the keys have spaces, `+`, `%`
  or `é`), plus {burst.duplicates:,} re-deliveries of the same object versions ({args.duplicates:.0%}, drawn
  with replacement), {len(burst.order):,} deliveries in all; {burst.out_of_order():,} of them arrive after a
  later object's delivery. Batches of {BATCH_SIZE} to the launcher's handler, warm (bench/warm.py), as the
  template's SQS event source mapping sends them.

{markdown_table(SUMMARY_HEADER, summary_rows(ours, base, burst, bucket))}

### API calls by operation

"per job" divides by the jobs emr-dispatch started; "per arrival" by the unique objects.

{markdown_table(OPERATION_HEADER, operation_rows(ours, base, burst))}

Launcher log lines: {logs or "none"}.
{_profile_section(ours, base)}"""
