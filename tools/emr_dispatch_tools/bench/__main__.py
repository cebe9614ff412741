"""`make bench` (issue 4, "Bursts and duplicates"): a burst of S3 arrivals with re-deliveries, through the
launcher's public entry point, against a naive one-job-per-event baseline. A benchmark, not a test.

All in this process, in moto: template.yaml is deployed with moto_stack; a routes file written here takes
`burst/orders/` to EMR on EC2 and `burst/events/` to EMR Serverless (one job per object, the default); every
arrival is a classic S3 notification or an EventBridge "Object Created" event, some delivered two or three
times, partly out of order, and handed to the launcher's handler the way Lambda's SQS event source mapping
would (batches of 10, partial batch responses). Nothing below the handler is called, so the figures hold
whatever the launcher does inside. AWS calls are counted with botocore events on the session the launcher's
clients come from; engine resources are counted in moto afterwards.

moto answers in-process (in milliseconds of Python) and never throttles: wall times measure emr-dispatch's own
overhead plus moto's, not AWS latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from emr_dispatch_tools.bench.burst import REGION, ROUTES_YAML, make_burst
from emr_dispatch_tools.bench.report import markdown, phases, print_report, revision
from emr_dispatch_tools.bench.runs import run_baseline, run_emr_dispatch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emr_dispatch_tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrivals", type=int, default=10_000, help="unique objects landing (default 10000)")
    parser.add_argument(
        "--duplicates", type=float, default=0.3, help="re-deliveries, as a share of arrivals (default 0.3)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic burst (default 7)")
    parser.add_argument("--output", type=Path, default=Path("docs/BENCHMARKS.md"), help="Markdown report to write")
    parser.add_argument("--profile", action="store_true", help="also profile the delivery loops (about 2× slower)")
    args = parser.parse_args(argv)
    if args.arrivals < 1 or not 0 <= args.duplicates <= 10:
        parser.error("--arrivals must be at least 1 and --duplicates between 0 and 10")

    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fake credentials
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    from rich.console import Console

    console = Console(soft_wrap=True, width=max(Console().width, 160))
    began = time.perf_counter()
    code = revision()  # before the runs: the launcher's modules are loaded then, and may change meanwhile
    burst = make_burst(args.arrivals, args.duplicates, args.seed)
    console.print(
        f"burst: {len(burst.objects):,} arrivals + {burst.duplicates:,} re-deliveries = "
        f"{len(burst.order):,} deliveries, {burst.out_of_order():,} out of order"
    )
    with tempfile.TemporaryDirectory(prefix="emr-dispatch-bench-") as directory:
        routes_file = Path(directory) / "routes.yaml"
        routes_file.write_text(ROUTES_YAML, encoding="utf-8")
        console.print("emr-dispatch: deploying template.yaml into moto, then the burst through the launcher …")
        ours, bucket = run_emr_dispatch(burst, args.seed, routes_file, args.profile)
    console.print(phases(ours))
    console.print("naive baseline: the same deliveries, one job per event, in a fresh moto account …")
    base = run_baseline(burst, args.seed, bucket, args.profile)
    console.print(phases(base))
    took = time.perf_counter() - began
    print_report(console, ours, base, burst, bucket)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(args, burst, ours, base, bucket, took, code), encoding="utf-8")
    console.print(f"wrote {args.output} ({took:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
