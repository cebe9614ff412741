"""The figures derived from the two runs, as table rows shared by the console report and the markdown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from emr_dispatch_tools.bench.burst import Burst
from emr_dispatch_tools.bench.runs import RunResult


@dataclass
class Figures:
    """The derived numbers of one run."""

    expected: int
    started: int
    duplicate_jobs: int
    objects_with_several: int
    objects_without_job: int
    foreign_inputs: int
    calls_per_job: float
    calls_per_arrival: float
    seconds_per_1000: float
    api_seconds_per_1000: float


def figures(result: RunResult, burst: Burst, bucket: str) -> Figures:
    landed = {f"s3://{bucket}/{obj.key}" for obj in burst.objects}
    per_input = Counter(result.started_inputs)
    started = result.clusters + result.job_runs
    arrivals = len(burst.objects)
    return Figures(
        expected=arrivals,
        started=started,
        duplicate_jobs=started - arrivals,
        objects_with_several=sum(1 for uri, n in per_input.items() if n > 1 and uri in landed),
        objects_without_job=len(landed - set(per_input)),
        foreign_inputs=sum(n for uri, n in per_input.items() if uri not in landed),
        calls_per_job=result.api.total / started if started else float("nan"),
        calls_per_arrival=result.api.total / arrivals,
        seconds_per_1000=result.wall_seconds / arrivals * 1000,
        api_seconds_per_1000=sum(result.api.seconds.values()) / arrivals * 1000,
    )


def summary_rows(ours: RunResult, base: RunResult, burst: Burst, bucket: str) -> list[tuple[str, str, str, str]]:
    o, b = figures(ours, burst, bucket), figures(base, burst, bucket)
    ledger = ours.ledger_states or Counter()
    ledger_several = sum(1 for n in Counter(ours.ledger_inputs or []).values() if n > 1)

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}×" if y else "-"

    return [
        ("SQS invocations (batches of 10)", f"{ours.invocations:,}", f"{base.invocations:,}", ""),
        ("batchItemFailures", f"{ours.item_failures:,}", f"{base.item_failures:,}", ""),
        ("jobs expected (unique objects)", f"{o.expected:,}", f"{b.expected:,}", ""),
        (
            "jobs started (EMR clusters + Serverless runs)",
            f"{o.started:,} ({ours.clusters:,} + {ours.job_runs:,})",
            f"{b.started:,} ({base.clusters:,} + {base.job_runs:,})",
            ratio(o.started, b.started),
        ),
        ("duplicate jobs (started − expected)", f"{o.duplicate_jobs:,}", f"{b.duplicate_jobs:,}", ""),
        ("objects with more than one job", f"{o.objects_with_several:,}", f"{b.objects_with_several:,}", ""),
        ("objects with no job started", f"{o.objects_without_job:,}", f"{b.objects_without_job:,}", ""),
        ("jobs whose --input is no landed key", f"{o.foreign_inputs:,}", f"{b.foreign_inputs:,}", ""),
        (
            "ledger jobs (by state)",
            f"{sum(ledger.values()):,} (" + ", ".join(f"{s} {n:,}" for s, n in sorted(ledger.items())) + ")",
            "- (no ledger)",
            "",
        ),
        ("ledger: objects with more than one job", f"{ledger_several:,}", "-", ""),
        ("AWS API calls", f"{ours.api.total:,}", f"{base.api.total:,}", ratio(ours.api.total, base.api.total)),
        ("API calls per job started", f"{o.calls_per_job:.2f}", f"{b.calls_per_job:.2f}", ""),
        (
            "API calls per arrival",
            f"{o.calls_per_arrival:.2f}",
            f"{b.calls_per_arrival:.2f}",
            ratio(o.calls_per_arrival, b.calls_per_arrival),
        ),
        ("boto3 clients created", _clients(ours.api.clients), _clients(base.api.clients), ""),
        (
            "wall time (s)",
            f"{ours.wall_seconds:.1f}",
            f"{base.wall_seconds:.1f}",
            ratio(ours.wall_seconds, base.wall_seconds),
        ),
        (
            "wall time per 1,000 arrivals (s)",
            f"{o.seconds_per_1000:.2f}",
            f"{b.seconds_per_1000:.2f}",
            ratio(o.seconds_per_1000, b.seconds_per_1000),
        ),
        (
            "  of which inside API calls (botocore + moto)",
            f"{o.api_seconds_per_1000:.2f}",
            f"{b.api_seconds_per_1000:.2f}",
            ratio(o.api_seconds_per_1000, b.api_seconds_per_1000),
        ),
        ("peak RSS of the process so far (MiB)", f"{ours.peak_rss_mib:,.0f}", f"{base.peak_rss_mib:,.0f}", ""),
    ]


def _clients(created: Counter[str]) -> str:
    return f"{sum(created.values()):,} (" + ", ".join(f"{name} {n:,}" for name, n in sorted(created.items())) + ")"


def operation_rows(ours: RunResult, base: RunResult, burst: Burst) -> Sequence[tuple[str, ...]]:
    arrivals = len(burst.objects)
    started = ours.clusters + ours.job_runs
    rows = []
    for name in sorted(set(ours.api.calls) | set(base.api.calls)):
        mine, theirs = ours.api.calls[name], base.api.calls[name]
        rows.append(
            (
                name,
                f"{mine:,}",
                f"{mine / started:.2f}" if started else "-",
                f"{mine / arrivals:.2f}",
                f"{ours.api.seconds[name] / mine * 1000:.2f}" if mine else "-",
                f"{theirs:,}",
                f"{theirs / arrivals:.2f}",
            )
        )
    return rows


SUMMARY_HEADER = ("", "emr-dispatch", "naive baseline", "ratio (ours / baseline)")
OPERATION_HEADER = (
    "operation",
    "calls",
    "per job",
    "per arrival",
    "ms per call",
    "baseline calls",
    "baseline per arrival",
)


PROFILE_HEADER = ("package (own time)", "emr-dispatch s (share)", "baseline s (share)")
HOT_SPOT_HEADER = ("function (cumulative time)", "emr-dispatch s (share)", "baseline s (share)")


def hot_spot_rows(ours: RunResult, base: RunResult) -> list[tuple[str, str, str]]:
    def shown(result: RunResult, label: str) -> str:
        total = sum(seconds for _, seconds in result.time_by_package) or 1.0
        seconds = result.hot_spots.get(label, 0.0)
        return f"{seconds:.1f} ({seconds / total:.0%})"

    return [(label, shown(ours, label), shown(base, label)) for label in ours.hot_spots]


def profile_rows(ours: RunResult, base: RunResult) -> list[tuple[str, str, str]]:
    mine, theirs = dict(ours.time_by_package), dict(base.time_by_package)
    total_mine, total_theirs = sum(mine.values()) or 1.0, sum(theirs.values()) or 1.0
    return [
        (
            package,
            f"{mine.get(package, 0.0):.1f} ({mine.get(package, 0.0) / total_mine:.0%})",
            f"{theirs.get(package, 0.0):.1f} ({theirs.get(package, 0.0) / total_theirs:.0%})",
        )
        for package in sorted(set(mine) | set(theirs), key=lambda name: -mine.get(name, 0.0))
        if mine.get(package, 0.0) / total_mine >= 0.005 or theirs.get(package, 0.0) / total_theirs >= 0.005
    ]
