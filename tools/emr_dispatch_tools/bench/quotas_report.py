"""The quota burst's summary rows (issue 14's names, each beside its goal and both baselines) and its section."""

from __future__ import annotations

from emr_dispatch_tools.bench import quotas_world as world
from emr_dispatch_tools.bench.budgets import Figure
from emr_dispatch_tools.bench.quotas_burst import JOBS_CAP, ORDERS_CAP, Floor, QuotaRun
from emr_dispatch_tools.bench.quotas_sweep import SweepMeasure
from emr_dispatch_tools.bench.report import markdown_table

ROW = "burst at quotas: "


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def figures(runs: list[QuotaRun], floor: Floor) -> list[Figure]:
    by_name = {run.name: run for run in runs}
    ours, today, naive = by_name["emr-dispatch"], by_name.get("today's behaviour"), by_name.get("naive")

    def others(value: str) -> str:
        return "; ".join(
            f"{label} {value.format(run=run)}" for label, run in (("today", today), ("naive", naive)) if run
        )

    ratio = ours.drain_seconds / floor.seconds if floor.seconds else float("nan")
    return [
        Figure(
            ROW + "arrivals dead-lettered",
            f"{ours.dead_lettered:,}",
            others("{run.dead_lettered:,}"),
            "-",
            "0",
            _verdict(ours.dead_lettered == 0),
        ),
        Figure(
            ROW + "duplicate jobs",
            f"{ours.duplicates:,}",
            others("{run.duplicates:,}"),
            "-",
            "0",
            _verdict(ours.duplicates == 0),
        ),
        Figure(
            ROW + "drain time ÷ quota floor",
            f"{ratio:.2f} ({ours.drain_seconds / 3600:.2f} h ÷ {floor.seconds / 3600:.2f} h)",
            others("{run.drain_seconds:.0f} s ÷ floor, {run.objects_lost:,} objects never started"),
            "-",
            "≤ 1.2",
            _verdict(ratio <= 1.2 and ours.objects_lost == 0),
        ),
        Figure(
            ROW + "throttled calls per job started",
            f"{ours.throttled_per_start:.3f} ({ours.throttled:,} / {ours.resources:,})",
            others("{run.throttled_per_start:.2f}"),
            "-",
            "≤ 0.05",
            _verdict(ours.throttled_per_start <= 0.05),
        ),
        Figure(
            ROW + "other operations throttled",
            f"{ours.other_throttled:,}",
            others("{run.other_throttled:,}"),
            "-",
            "(count)",
            "-",
        ),
    ]


def section(runs: list[QuotaRun], floor: Floor, counts: dict[str, int], sweep: SweepMeasure | None) -> str:
    header = (
        "launcher",
        "deliveries",
        "invocations",
        "jobs started",
        "duplicates",
        "objects never started",
        "dead-lettered",
        "drain (virtual)",
        "drain ÷ floor",
        "throttled: starts / others",
        "throttled by operation",
        "wall s",
        "CPU s",
    )
    rows = []
    for run in runs:
        throttled = ", ".join(f"{op} {n:,}" for (_, op), n in sorted(run.meter.throttled.items())) or "none"
        rows.append(
            (
                run.name,
                f"{run.deliveries:,}",
                f"{run.invocations:,}",
                f"{run.resources:,}",
                f"{run.duplicates:,}",
                f"{run.objects_lost:,}",
                f"{run.dead_lettered:,}",
                f"{run.drain_seconds / 3600:.2f} h",
                f"{run.drain_seconds / floor.seconds:.2f}" if floor.seconds else "-",
                f"{run.throttled_starts:,} / {run.other_throttled:,}",
                throttled,
                f"{run.wall_seconds:.0f}",
                f"{run.cpu_seconds:.0f}",
            )
        )
    bounds = "; ".join(f"{name} {seconds / 3600:.2f} h" for name, seconds in floor.bounds.items())
    mix = ", ".join(f"{engine} {n:,}" for engine, n in sorted(counts.items()))
    lifetimes = ", ".join(f"{engine} {seconds // 60} min" for engine, seconds in world.LIFETIMES.items())
    return f"""## 8. Burst at EMR's quotas (issue 14)

{sum(counts.values()):,} objects ({mix}) over the shipped routes (orders-daily, returns-serverless, payments-eks in
config/routes.yaml, with its caps: max_concurrent_jobs {JOBS_CAP}, orders-daily max_concurrent {ORDERS_CAP}, and the
default start rates), delivered {runs[0].deliveries:,} times (re-deliveries, out of order) through the stack's arrivals
queue as Lambda's SQS source hands them over (batches of 10, visibility timeout 720 s, DLQ after 5 receives), on a
virtual clock against EMR's default quotas (RunJobFlow burst 10, 0.5/s; the EMR account bucket 25, 5/s; DescribeCluster
1/s; ListSteps 0.5/s; ListClusters 0.5/s; 500 active clusters; StartJobRun burst 25, 1/s; GetJobRun 10/s; ListJobRuns
1/s). Each cluster and job run ends after its lifetime ({lifetimes}); for emr-dispatch its end's state-change event
goes to the deployed tracker, which frees the slot and asks for the next start; the deployed sweeper runs every five
virtual minutes. A probe makes one DescribeCluster and one GetJobRun a minute (another caller's share).

**Quota floor** (the least time from the first arrival to the last start the quotas and the shipped caps allow, the
largest of: {bounds}) = {floor.seconds / 3600:.2f} h, set by **{floor.binding}**.

{markdown_table(header, rows)}

- **today's behaviour**: claim, start, and on a throttle release the claim and fail the record (5 SDK attempts); SQS
  redelivers after 720 s and dead-letters after 5 receives. **naive**: one start per delivery, no claim.
- The offline contract and IAM checks are **off** in this run (they are on in `make test`, where the same launcher,
  tracker and sweeper paths run against tight quotas: tests/integration/test_burst_at_quotas.py): at this size they
  would take most of the budget. The AWS calls are answered in-process by moto's own handlers (offline/moto_direct.py:
  DynamoDB without HTTP, its data-plane answers rendered with json.dumps and read back with json.loads; SQS, EMR, EMR
  Serverless, EMR on EKS and SNS without botocore's send loop, moto's URL lookup kept per URL), and moto's costs that
  grow with the ledger or the queue are cut (offline/moto_speed.py): item-level transaction backups; queries of an
  index read only the run of the partition moto's loop reads (partitions kept in moto's sort order); item sizes kept
  until the item is written; update expressions parsed and condition expressions lexed once per text, the validator's
  traversals asking their processing map once; no item copies that nothing reads; SQS receives that filter the queue
  as they go and deletes that stop at the message; EMR Serverless GetJobRun by id; handler method lists made once;
  random identifiers drawn at once. Tests hold each to moto's own answers (tests/integration/test_moto_direct.py,
  test_moto_speed.py).
  The launcher, tracker and sweeper are the deployed code, unchanged. emr-dispatch runs in one process, started
  beside figures 1–7; the two baselines and the sweep below in another once figures 1–7 are done (two cores):
  "wall s" and "CPU s" are each variant's own time in its process.
{_sweep_text(sweep)}"""


def _sweep_text(sweep: SweepMeasure | None) -> str:
    if sweep is None:
        return ""
    return sweep.markdown()
