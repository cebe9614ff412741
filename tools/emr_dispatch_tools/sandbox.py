"""`make sandbox`: template.yaml deployed into a moto server that stays up, with the demo's story in it, so every
README and RUNBOOK command can be tried against something.

The server listens on 127.0.0.1; this process also plays the parts moto cannot: Lambda's SQS event source
mapping (the arrivals queue is drained into the launcher, in this process, as the deployed trigger would) and the
sweeper's schedule. Engine events are not invented: the sweeper reconciles what the CLI changes (a cancel, a
retry's new cluster). Prints the `export` lines that point the CLI at it; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emr_dispatch_tools.lambda_events import scheduled_event, sqs_event
from emr_dispatch_tools.logs import diverted_logs
from emr_dispatch_tools.moto_stack import seed_sample_job

STACK_NAME = "emr-dispatch"  # samconfig.toml's stack_name: the docs' --stack emr-dispatch works as written
REGION = "us-east-1"
SWEEP_SECONDS = 30.0
DOCS_KEY = "raw/orders/2026-11-23/orders.csv"
BATCH_DOCS_KEY = "raw/clicks/2026-11-23/click-001.csv"
"""A file of the shipped batch route (clicks-batch) that RUNBOOK's stuck-batch section names."""
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto's


@dataclass
class Sandbox:
    """A running sandbox: its endpoint, stack and the values the docs' commands need."""

    endpoint: str
    stack: Any
    overrides: dict[str, str]
    exports: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def export_lines(self) -> list[str]:
        aws = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            **FAKE_CREDENTIALS,
        }
        return [
            "export " + " ".join(f"{name}={value}" for name, value in aws.items()),
            "export " + " ".join(f"{name}={value}" for name, value in self.exports.items()),
        ]

    def pump_once(self) -> int:
        """Lambda's event source mapping, once: every arrival message to the launcher (successes deleted,
        failures back to the queue after their visibility timeout, as Lambda does). Messages handled."""
        import boto3

        queue_url = self.stack.outputs["ArrivalsQueueUrl"]
        sqs = boto3.client("sqs", region_name=REGION)
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        handled = 0
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=60
        ).get("Messages", []):
            with self._lock:
                event = sqs_event(messages, arn, REGION)
                answer = self.stack.invoke("LauncherFunction", event, self.overrides)
            failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += len(messages)
        return handled

    def sweep(self) -> dict[str, Any]:

        with self._lock:
            report: dict[str, Any] = self.stack.invoke("SweeperFunction", scheduled_event(REGION), self.overrides)
        return report

    def run_triggers(self) -> None:
        """Until stopped: the arrivals queue drained every second, a sweep every SWEEP_SECONDS."""
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while not self._stop.is_set():
            try:
                self.pump_once()
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + SWEEP_SECONDS
            except Exception as exc:  # noqa: BLE001 - a trigger's failure is reported, and the next try goes on
                sys.stderr.write(f"sandbox: trigger failed: {exc!r}\n")
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()


def start(port: int, console: Any, routes_dir: Path) -> tuple[Sandbox, Any]:
    """Start the moto server, deploy and seed; the sandbox and the server (to stop)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    endpoint = f"http://{host}:{bound}"
    os.environ.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    try:
        sandbox = seed(endpoint, console, routes_dir)
    except BaseException:
        server.stop()
        raise
    return sandbox, server


def seed(endpoint: str, console: Any, routes_dir: Path) -> Sandbox:
    """The demo's story in the server, then what on-call's commands need: the sample cluster the events/ files
    name, an arrival in the arrivals DLQ, and the landing bucket notifying the arrivals queue."""
    import boto3

    from emr_dispatch import wiring
    from emr_dispatch.engines import ENGINE_NAMES
    from emr_dispatch_tools.demo import demo_routes, run_story

    overrides = {"ROUTES_FILE": str(demo_routes(routes_dir))}
    wiring.reset()
    report = run_story(console, False, overrides, contextlib.nullcontext(), stack_name=STACK_NAME)
    stack = report.stack
    sandbox = Sandbox(endpoint, stack, overrides)
    # The failed job of the first engine the registry lists (a cluster's step failure: the richest `jobs show`).
    failed = sorted(
        (job for job in report.jobs if job.state.value == "FAILED"), key=lambda job: ENGINE_NAMES.index(job.engine)
    )
    landing = stack.outputs["LandingBucketName"]
    sandbox.exports = {
        "EMR_DISPATCH_STACK": STACK_NAME,
        "LANDING_BUCKET": landing,
        "JOB_ID": failed[0].job_id if failed else report.jobs[0].job_id,
    }
    # The sample events name an example bucket outside the stack, whose objects its roles may not tag (AWS would
    # refuse, and the job would count its input "refused"): the sample job's route does not tag its inputs.
    sample_routes = routes_dir / "sample"
    sample_routes.mkdir(exist_ok=True)
    seed_sample_job(stack, {"ROUTES_FILE": str(demo_routes(sample_routes, tag_inputs=False))})
    # One arrival S3 delivered twice whose second copy failed its way to the DLQ: `dlq show arrivals` has
    # something to read, and its redrive starts nothing twice.
    sqs = boto3.client("sqs", region_name=REGION)
    key = next(job.inputs[0].key for job in report.jobs if job.route == "orders-daily")
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=landing, Key=key)
    from emr_dispatch_tools.cli.replay import notification_for

    sqs.send_message(
        QueueUrl=stack.outputs["ArrivalsDeadLetterQueueUrl"],
        MessageBody=json.dumps(notification_for(landing, key, dict(head), REGION)),
    )
    # The file the docs' examples name: it lands now, and the launcher (the sandbox's trigger) starts its job.
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=landing, Key=DOCS_KEY, Body=b"order_id,amount\n1,9.99\n")
    s3.put_object(Bucket=landing, Key=BATCH_DOCS_KEY, Body=b"click_id,page\n1,/home\n")
    wiring.reset()
    return sandbox


@contextlib.contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the event (Ctrl-C stops the sandbox cleanly, not with a traceback)."""
    stopped = threading.Event()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, lambda *_: stopped.set())
    try:
        yield stopped
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "5055")))
    arguments = parser.parse_args(argv)
    from rich.console import Console

    console = Console(stderr=True, quiet=True)  # the story's detail: `make demo` shows it
    out = Console(soft_wrap=True)
    out.print("deploying template.yaml into a moto server and playing the demo's story in it ...", style="dim")
    # The functions' log lines: warnings and errors on stderr (the sandbox's terminal stays readable).
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request lines
    with tempfile.TemporaryDirectory() as directory, _interrupts() as stopped, diverted_logs(handler):
        sandbox, server = start(arguments.port, console, Path(directory))
        triggers = threading.Thread(target=sandbox.run_triggers, name="sandbox-triggers", daemon=True)
        triggers.start()
        out.print(f"sandbox up at {sandbox.endpoint}: stack {STACK_NAME}. In another shell:", highlight=False)
        for line in sandbox.export_lines():
            sys.stdout.write(line + "\n")
        out.print(
            "then try: .venv/bin/emr-dispatch jobs list   (every command in README.md and docs/RUNBOOK.md works)\n"
            "the arrivals queue is drained into the launcher every second, the sweeper runs every "
            f"{SWEEP_SECONDS:.0f} s. Ctrl-C stops it.",
            highlight=False,
            markup=False,
        )
        sys.stdout.flush()
        while not stopped.wait(0.5):
            pass
        sandbox.stop()
        triggers.join(timeout=10)
        server.stop()
    out.print("sandbox stopped", style="dim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
