"""The console tables and the markdown written to docs/BENCHMARKS.md (or --output)."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _machine() -> str:
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


def _markdown_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(
    args: argparse.Namespace, burst: Burst, ours: RunResult, base: RunResult, bucket: str, took: float, code: str
) -> str:
    classic = sum(1 for obj in burst.objects if obj.shape == "classic")
    logs = ", ".join(f"`{line}` {n:,}" for line, n in sorted(ours.log_lines.items()))
    return f"""# Benchmarks

## Bursts and duplicates (issue 4)

- **Date**: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- **Machine**: {_machine()}
- **Code**: {code}
- **Reproduce**: `{_command(args)}` (`make bench` runs the 10,000-arrival default).
- **Took** {took:.0f} s in all. emr-dispatch: {phases(ours).strip()}; baseline: {phases(base).strip()}.
- **Where the time goes**: {_time_note(ours)}
- **Burst**: {len(burst.objects):,} unique objects (half under `{ORDERS_PREFIX}` → EMR on EC2, half under
  `{EVENTS_PREFIX}` → EMR Serverless; {classic:,} as classic S3 notifications,
  {len(burst.objects) - classic:,} as EventBridge "Object Created"; a quarter of the keys have spaces, `+`, `%`
  or `é`), plus {burst.duplicates:,} re-deliveries of the same object versions ({args.duplicates:.0%}, drawn
  with replacement), {len(burst.order):,} deliveries in all; {burst.out_of_order():,} of them arrive after a
  later object's delivery. Batches of {BATCH_SIZE} to the launcher's handler (`moto_stack.DeployedStack.invoke`),
  as the template's SQS event source mapping sends them.

{_markdown_table(SUMMARY_HEADER, summary_rows(ours, base, burst, bucket))}

### API calls by operation

"per job" divides by the jobs emr-dispatch started; "per arrival" by the unique objects.

{_markdown_table(OPERATION_HEADER, operation_rows(ours, base, burst))}

Launcher log lines: {logs or "none"}.
{_profile_section(ours, base)}
### How to read this

- **moto's in-process latency is not AWS latency.** Every call is answered by moto in this process, in the
  milliseconds of Python that "ms per call" shows, and nothing is ever throttled. The wall times therefore
  measure emr-dispatch's own overhead plus moto's, not the time AWS would take, and the wall-time ratio says
  how much more work our launcher does than the naive one, not how much longer a burst takes in AWS. There,
  each call costs its network round trip and RunJobFlow refills at 0.5/s, StartJobRun at 1/s: the call counts
  (and those limits), not these seconds, decide how long a burst takes and what it costs.
- **The baseline** starts one job per delivered event (RunJobFlow or StartJobRun, boto3's random clientToken),
  with no claim and no ledger. It is cheaper per event and wrong: every re-delivery is another cluster or job run.
  "Duplicate jobs" is jobs started minus unique objects; "objects with more than one job" comes from each
  started resource's `--input=` argument, so it does not trust the launcher's own records.
- **Calls** are counted with botocore `before-call` / `after-call` events on the boto3 session the launcher's
  clients come from, only while the burst is delivered (not the bench's deployment or inventory). A retried call
  counts once. Both sides create their clients on every invocation (moto_stack resets emr-dispatch's wiring
  per invocation; a warm Lambda container would keep them), which is part of both wall times.
- **Peak RSS** is `ru_maxrss`, the whole process's peak so far: the baseline runs second, so its figure is
  at least emr-dispatch's (it includes the deployment and both moto accounts' data).
"""


def _profile_section(ours: RunResult, base: RunResult) -> str:
    if not ours.time_by_package:
        return ""
    return f"""
### Where the time goes (`--profile`)

cProfile over the delivery loop only: own time per function, summed by package (standard library and builtins
charged to their caller's package), then the cumulative time of a few functions (these overlap). Profiling
slows everything down about twofold: read the shares, not the seconds.

{_markdown_table(PROFILE_HEADER, profile_rows(ours, base))}

{_markdown_table(HOT_SPOT_HEADER, hot_spot_rows(ours, base))}
"""


def _time_note(result: RunResult) -> str:
    inside = sum(result.api.seconds.values())
    slowest = sorted(result.api.calls, key=lambda name: -result.api.seconds[name] / result.api.calls[name])[:2]
    per_call = ", ".join(
        f"`{name}` {result.api.seconds[name] / result.api.calls[name] * 1000:.1f} ms" for name in slowest
    )
    clients = sum(result.api.clients.values())
    return (
        f"{inside / result.wall_seconds:.0%} of emr-dispatch's delivery loop is spent inside AWS API calls, that is in "
        f"botocore and moto (slowest per call: {per_call}); the rest is the handler, Powertools, the harness and "
        f"creating boto3 clients ({clients:,}, {clients / max(result.invocations, 1):.0f} per invocation). "
        "Run with `--profile` for a breakdown by package."
    )


def phases(result: RunResult) -> str:
    return (
        f"  setup {result.setup_seconds:.1f} s, delivering the burst {result.wall_seconds:.1f} s, "
        f"inventory {result.inventory_seconds:.1f} s"
    )


def _command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python -m emr_dispatch_tools.bench --arrivals {args.arrivals} --duplicates {args.duplicates} "
        f"--seed {args.seed} --output {args.output}" + (" --profile" if args.profile else "")
    )


def print_report(console: Any, ours: RunResult, base: RunResult, burst: Burst, bucket: str) -> None:
    from rich.table import Table

    table = Table(title="bursts and duplicates", title_justify="left")
    for column in SUMMARY_HEADER:
        table.add_column(column, overflow="fold")
    for row in summary_rows(ours, base, burst, bucket):
        table.add_row(*row)
    console.print(table)
    operations = Table(title="API calls by operation", title_justify="left")
    for column in OPERATION_HEADER:
        operations.add_column(column)
    for op_row in operation_rows(ours, base, burst):
        operations.add_row(*op_row)
    console.print(operations)
    console.print(
        "launcher log lines: " + ", ".join(f"{line} {n:,}" for line, n in sorted(ours.log_lines.items())), markup=False
    )
    if ours.time_by_package:
        profile = Table(title="where the time goes (cProfile own time by package)", title_justify="left")
        for column in PROFILE_HEADER:
            profile.add_column(column)
        for profile_row in profile_rows(ours, base):
            profile.add_row(*profile_row)
        console.print(profile)
        spots = Table(title="hot spots (cumulative, overlapping)", title_justify="left")
        for column in HOT_SPOT_HEADER:
            spots.add_column(column)
        for spot_row in hot_spot_rows(ours, base):
            spots.add_row(*spot_row)
        console.print(spots)
