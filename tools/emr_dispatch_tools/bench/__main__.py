"""`make bench` (issue 8, "Performance budgets"): every figure beside a baseline measured in the same run.

1. cold start of each function against the floor set by boto3 and its clients (fresh interpreters);
2. AWS calls per job over its whole life, per engine and per path (moto, the deployed handlers);
3. hot path: handler time beside the time inside the same AWS calls (moto, a burst with re-deliveries, then
   its jobs' state-change events), with the burst's correctness against a naive one-job-per-event launcher;
4. package size after `sam build` (run by `make bench` first);
5. peak RSS of the launcher on one 10,000-record batch (AWS answered by a botocore-level stub);
6. latency and controller cost against Airflow and Step Functions, on paper with cited figures;
7. memory of closing the largest batch a route may declare (100,000 members), against closing as it was;
8. a burst at EMR's default quotas on a virtual clock, beside today's behaviour and a naive launcher (issue 14),
   and one sweep over many active jobs, metered.

A benchmark, not a test: nothing here fails on a number; docs/BENCHMARKS.md says which goals are met.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUOTA_ARRIVALS = 10_000
SWEEP_JOBS = 2_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emr_dispatch_tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrivals", type=int, default=1_500, help="unique objects in the burst (default 1500)")
    parser.add_argument("--duplicates", type=float, default=0.3, help="re-deliveries, share of arrivals (0.3)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic data (default 7)")
    parser.add_argument("--hot-jobs", type=int, default=150, help="jobs for the small-ledger hot path (150)")
    parser.add_argument("--cold-repeats", type=int, default=11, help="fresh interpreters per cold start figure (11)")
    parser.add_argument("--memory-records", type=int, default=10_000, help="records in the memory run's batch")
    parser.add_argument("--batch-members", type=int, default=100_000, help="members of the batch closed (7.)")
    parser.add_argument(
        "--quota-arrivals", type=int, default=QUOTA_ARRIVALS, help=f"objects in the quota burst (8.; {QUOTA_ARRIVALS})"
    )
    parser.add_argument(
        "--sweep-jobs", type=int, default=SWEEP_JOBS, help=f"active jobs of the metered sweep (8.; {SWEEP_JOBS})"
    )
    parser.add_argument("--build-dir", type=Path, default=None, help="sam build output (default .aws-sam/build)")
    parser.add_argument(
        "--no-sam-build", action="store_true", help="figure 4 from a pip install of the layer, not .aws-sam/build"
    )
    parser.add_argument("--output", type=Path, default=Path("docs/BENCHMARKS.md"), help="Markdown report to write")
    parser.add_argument("--profile", action="store_true", help="also profile the burst's delivery loops")
    args = parser.parse_args(argv)
    if (
        min(args.arrivals, args.cold_repeats, args.memory_records, args.hot_jobs, args.quota_arrivals, args.sweep_jobs)
        < 1
        or not 0 <= args.duplicates <= 10
    ):
        parser.error("--arrivals, --cold-repeats, --memory-records, --hot-jobs must be at least 1; --duplicates 0..10")

    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        os.environ.pop(name, None)
    from emr_dispatch_tools.bench.burst import REGION

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fake credentials
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    from rich.console import Console

    from emr_dispatch_tools.bench import quotas_burst
    from emr_dispatch_tools.bench.report import revision

    console = Console(soft_wrap=True, width=max(Console().width, 160))
    began = time.perf_counter()
    load_before = os.getloadavg()
    code = revision()  # before the runs: the launcher's modules are loaded then, and may change meanwhile
    # Figure 8's emr-dispatch run is the longest: it starts now in its own process, beside figures 1–7.
    background = quotas_burst.InBackground(args.quota_arrivals, args.duplicates, args.seed, args.sweep_jobs)
    try:
        return _figures(args, console, began, load_before, code, background)
    except BaseException:
        background.cancel()
        raise


def _figures(
    args: argparse.Namespace,
    console: Any,
    began: float,
    load_before: tuple[float, float, float],
    code: str,
    background: Any,
) -> int:
    from emr_dispatch_tools.bench import (
        batch_close,
        budgets,
        coldstart,
        lifecycle,
        memory,
        package,
        paper,
        quotas_burst,
        quotas_report,
        quotas_world,
    )
    from emr_dispatch_tools.bench.burst import ROUTES_YAML, make_burst
    from emr_dispatch_tools.bench.report import burst_section, command, machine, phases
    from emr_dispatch_tools.bench.runs import run_baseline, run_emr_dispatch
    from emr_dispatch_tools.offline.summary import checking

    # Every AWS call of the runs below is checked as in the tests: API contracts, and IAM inside the functions.
    checks = checking()
    checked = checks.__enter__()
    console.print(f"1. cold start: {args.cold_repeats} fresh interpreters per function and per floor …")
    cold = coldstart.measure(args.cold_repeats)
    console.print(
        f"2. AWS calls per job: one job per engine and path through the deployed handlers; then {args.hot_jobs} "
        "jobs through the warm launcher and tracker (3. hot path on a small ledger) …"
    )
    life = lifecycle.measure(args.hot_jobs)
    burst = make_burst(args.arrivals, args.duplicates, args.seed)
    console.print(
        f"3. hot path and correctness: {len(burst.objects):,} arrivals + {burst.duplicates:,} re-deliveries through "
        "the warm launcher, then the same deliveries through the naive baseline …"
    )
    with tempfile.TemporaryDirectory(prefix="emr-dispatch-bench-") as directory:
        routes_file = Path(directory) / "routes.yaml"
        routes_file.write_text(ROUTES_YAML, encoding="utf-8")
        ours, bucket = run_emr_dispatch(burst, args.seed, routes_file, args.profile)
    console.print(phases(ours))
    base = run_baseline(burst, args.seed, bucket, args.profile)
    console.print(phases(base))
    build_dir = None if args.no_sam_build else (args.build_dir or package.BUILD)
    console.print(f"4. package: measuring {build_dir or 'a pip install of the layer for the Lambda platform'} …")
    sizes = package.measure(build_dir)
    console.print(f"5. memory: one {args.memory_records:,}-record batch through the launcher, AWS stubbed …")
    mem = memory.measure(args.memory_records, args.seed)
    console.print(f"7. memory: closing a {args.batch_members:,}-member batch, streamed and as it was …")
    closing = batch_close.measure(args.batch_members)
    checks.__exit__(None, None, None)
    console.print(f"{checked.contracts_line()}; {checked.iam_line()}", markup=False)
    quota_burst = make_burst(args.quota_arrivals, args.duplicates, args.seed)
    counts = quotas_burst.engine_counts(quotas_world.shipped_burst(quota_burst))
    floor = quotas_burst.quota_floor(counts)
    console.print(
        f"8. burst at quotas: {args.quota_arrivals:,} arrivals + {quota_burst.duplicates:,} re-deliveries over the "
        f"shipped routes, virtual clock (floor {floor.seconds / 3600:.2f} h), three launchers (checks off) …"
    )
    quota_runs, sweep = background.finish()
    for run in quota_runs:
        console.print(
            f"   {run.name}: {run.resources:,} started, {run.duplicates:,} duplicates, {run.dead_lettered:,} "
            f"dead-lettered, drain {run.drain_seconds / 3600:.2f} h, {run.throttled:,} throttled "
            f"({run.wall_seconds:.0f} s, {run.cpu_seconds:.0f} s CPU)"
        )
    console.print(
        f"   the sweeper over {args.sweep_jobs:,} active jobs: examined {sweep.examined:,}, "
        f"{sum(sweep.throttled.values()):,} throttled ({sweep.wall_seconds:.0f} s)"
    )
    took = time.perf_counter() - began
    load_after = os.getloadavg()

    own_ms = (life.tracker.wall_seconds - life.tracker.inside_seconds) / max(len(life.tracker.wall), 1) * 1000
    rows = budgets.figures(cold, life, ours, base, mem, sizes, len(burst.objects))
    rows += budgets.paper_figures(life, own_ms)
    rows.append(batch_close.figure(closing))
    rows += quotas_report.figures(quota_runs, floor)
    summary = budgets.summary_markdown(rows)
    console.print(summary, markup=False, highlight=False)
    document = f"""# Benchmarks

Written by `make bench` (issue 8, performance budgets; issue 4, bursts and duplicates). Every figure stands beside
a baseline measured in the same run, so load on the machine shifts both sides; timings are medians of several
runs. A benchmark, not a test: nothing fails on a number.

- **Date**: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- **Machine**: {machine()}; load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end
- **Code**: {code}
- **Reproduce**: `make bench` (runs `make build`, then `{command(args)}`); figure 4 alone: `make build` then
  `.venv/bin/python -c "from emr_dispatch_tools.bench import package; print(package.measure())"`.
- **Took** {took:.0f} s (the bench itself, after `sam build`).
- **Checked** (every AWS call of figures 1–7, as in the tests; figure 8 runs unchecked, its section says why):
  {checked.contracts_line()}; {checked.iam_line()}.

## Summary

{summary}

{budgets.misses_markdown(cold, life, sizes)}
{budgets.cold_start_section(cold)}
{budgets.lifecycle_section(life)}
{budgets.hot_path_section(ours, life)}
{burst_section(args, burst, ours, base, bucket)}
{budgets.package_section(sizes)}
{budgets.memory_section(mem)}
## 6. Against the anchors

{paper.markdown(life, own_ms)}
{batch_close.markdown(closing)}
{quotas_report.section(quota_runs, floor, counts, sweep)}
## How to read this

- **moto's in-process latency is not AWS latency.** moto answers every call in this process, in milliseconds of
  Python, and never throttles: the hot-path shares say how much of a handler's time is ours next to *moto's*
  cost of the same calls. Against AWS, where a call is a network round trip of milliseconds to a second, our
  share is far smaller; call counts (figure 2) and the engines' rate limits decide how long a burst takes.
- **The naive baseline** starts one job per delivered event (RunJobFlow or StartJobRun, boto3's random
  clientToken), with no claim and no ledger: cheaper per event and wrong, every re-delivery is another cluster or
  job run. "Objects with more than one job" comes from each started resource's `--input=` argument.
- **Cold start** runs are fresh interpreters on this machine's Python {sys.version.split()[0]} (Lambda runs
  python3.13 on arm64): the ratio carries over better than the milliseconds.
"""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(document, encoding="utf-8")
    console.print(f"wrote {args.output} ({took:.0f} s in all)")
    if checked.problems:
        console.print("AWS would refuse calls the bench made:\n  " + "\n  ".join(checked.problems), markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
