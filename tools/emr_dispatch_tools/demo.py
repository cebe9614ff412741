"""`make demo`: the whole story offline — the real template.yaml deployed into moto, files landing,
jobs launched, EMR lifecycles simulated, outcomes recorded, one failure alerted, clusters cleaned up.

Exits non-zero when the story does not end as promised, so the demo is also a check.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emr_dispatch.engines import ENGINE_NAMES as ENGINES
from emr_dispatch_tools.lambda_events import scheduled_event, sqs_event
from emr_dispatch_tools.logs import diverted_logs
from emr_dispatch_tools.offline.summary import Checked, checking
from emr_dispatch_tools.render import step_lines

DEMO_KEYS = {
    # key → how its job's first attempt ends (one route per engine, see config/routes.yaml); a retried attempt
    # succeeds
    "raw/orders/2026-11-23/orders 1+2 café.csv": "succeed",  # EMR on EC2
    "raw/orders/2026-11-23/orders-corrupt.csv": "step-failure",
    "raw/orders/2026-11-23/orders-spot-loss.csv": "capacity-failure",  # retried on on-demand instances
    "raw/orders-warehouse/2026-11-23/orders-0001.csv": "succeed",  # EMR on EC2, steps: Spark, Hive, command
    "raw/orders-warehouse/2026-11-23/orders-bad-load.csv": "step-failure",  # fails at its Hive step
    "raw/returns/2026-11-23/returns-0001.csv": "succeed",  # EMR Serverless
    "raw/returns/2026-11-23/returns-corrupt.csv": "step-failure",
    "raw/refunds/2026-11-23/refunds-0001.csv": "succeed",  # EMR Serverless, a Hive job on the HIVE application
    "raw/refunds/2026-11-23/refunds-corrupt.csv": "step-failure",
    "raw/payments/2026-11-23/payments-0001.csv": "succeed",  # EMR on EKS
    "raw/payments/2026-11-23/payments-corrupt.csv": "step-failure",
}
SKIPPED_KEYS = ["raw/orders/2026-11-23/", "raw/customers/customers.csv", "raw/refunds/2026-11-23/refunds 0002.csv"]
HIVE_KEYS = ("raw/refunds/2026-11-23/refunds-0001.csv", "raw/refunds/2026-11-23/refunds-corrupt.csv")
"""Run by a Hive job on the stack's Hive application; the key with a space is refused: a Hive variable would carry
it into EMR Serverless' one-string parameters (skipped with the reason, not started)."""
OWN_TAGS = {"raw/orders/2026-11-23/orders 1+2 café.csv": {"owner": "finance"}}
"""Tags an input already carries when it lands: emr-dispatch's outcome tags are merged in beside them."""
TRUE_END = {"succeed": "SUCCEEDED", "step-failure": "FAILED", "capacity-failure": "SUCCEEDED"}
"""The state each DEMO_KEYS job must end in (a capacity failure is retried, and the retry succeeds)."""


def outcome_name(job: Any) -> str:
    """How this attempt of a demo job ends: the key's outcome first, success on a retry."""
    return str(DEMO_KEYS[job.inputs[0].key]) if job.attempt == 1 else "succeed"


def demo_routes(directory: Path, tag_inputs: bool = True) -> Path:
    """The shipped routes with retries that start at once (the demo has no minutes to wait for a backoff), each
    tagging its inputs with their job's end (on_end.tag_inputs)."""
    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "routes.yaml").read_text("utf-8"))
    for route in raw["routes"]:
        route["retry"] = {**route.get("retry", {}), "backoff_seconds": 0}
        if tag_inputs:
            route["on_end"] = {**route.get("on_end", {}), "tag_inputs": True}
    path = directory / "routes.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class DemoReport:
    launches: list[dict[str, Any]] = field(default_factory=list)
    tracked: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)
    application_state: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # namespace-wide totals the handlers emitted
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stack: Any = None  # the DeployedStack the story ran in
    input_tags: dict[str, dict[str, str]] = field(default_factory=dict)  # each demo input's tags at the end
    checked: Checked = field(default_factory=Checked)
    """Every AWS call checked against its API contract, and each function's against its role (offline IAM)."""


class LogCapture(logging.Handler):
    """Collects the handlers' structured log records (what CloudWatch would hold) instead of printing JSON."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self, *messages: str) -> list[dict[str, Any]]:
        taken = [
            {"message": record.getMessage(), **{k: v for k, v in vars(record).items() if k in _FIELDS}}
            for record in self.records
            if record.getMessage() in messages
        ]
        self.records.clear()
        return taken


_FIELDS = {"job_id", "route", "uri", "reason", "engine_id", "state"}


def run_demo(console: Any, drop_events: bool = False) -> DemoReport:
    """The story; with ``drop_events`` every engine event is lost and the sweeper alone finds out what happened."""
    from moto import mock_aws

    with tempfile.TemporaryDirectory() as directory, checking() as checked:
        report = run_story(console, drop_events, {"ROUTES_FILE": str(demo_routes(Path(directory)))}, mock_aws())
    report.checked = checked
    report.problems += checked.problems
    return report


def run_story(
    console: Any,
    drop_events: bool,
    overrides: dict[str, str],
    world: AbstractContextManager[Any],
    stack_name: str = "emr-dispatch-demo",
) -> DemoReport:
    """The demo's story in ``world`` (in-process moto for the demo; `make sandbox` passes its moto server's)."""
    import boto3

    from emr_dispatch.ledger import Ledger
    from emr_dispatch_tools import moto_stack
    from emr_dispatch_tools.simulator import SIMULATORS, Outcome

    report = DemoReport()
    region = "us-east-1"
    with world, diverted_logs(LogCapture()) as logs:
        console.rule("1. deploy template.yaml into moto (SAM → CloudFormation offline → create_stack)")
        # An account that already runs all three engines: a stopped EMR Serverless application (emr-dispatch
        # starts and stops it) and an EMR on EKS virtual cluster; their ids and job roles are stack parameters.
        stack = moto_stack.deploy_with_engines(stack_name, region=region)
        report.stack = stack
        outputs = stack.outputs
        for name in ("LandingBucketName", "WorkBucketName", "LedgerTableName", "AlertsTopicArn", "ArrivalsQueueUrl"):
            console.print(f"  {name:<20} {outputs[name]}")
        console.print(
            "  (routes: config/routes.yaml with retry backoffs of 0 s, so the demo need not wait, and"
            " on_end: {tag_inputs: true})"
        )
        s3 = boto3.client("s3", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        sns = boto3.client("sns", region_name=region)
        landing, queue_url = outputs["LandingBucketName"], outputs["ArrivalsQueueUrl"]
        for script in ("jobs/clean_csv.py", "jobs/load_refunds.q", "jobs/create_refunds.q"):
            s3.upload_file(str(moto_stack.ROOT / script), outputs["WorkBucketName"], script)

        # Ops subscribe to the alerts topic; the demo reads what they would receive.
        inbox = sqs.create_queue(QueueName="demo-ops-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=inbox_arn)

        console.rule("2. files land in the landing bucket (S3 → arrivals queue)")
        # moto's CloudFormation skips NotificationConfiguration; configure it through the API. Classic
        # notifications to the queue (a shape the launcher accepts) also produce S3's s3:TestEvent.
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=landing,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        for key in [*DEMO_KEYS, *SKIPPED_KEYS]:
            own = "&".join(f"{name}={value}" for name, value in OWN_TAGS.get(key, {}).items())
            body = b"" if key.endswith("/") else b"order_id,amount\n1,9.99\n"
            s3.put_object(Bucket=landing, Key=key, Body=body, Tagging=own)
            console.print(f"  put s3://{landing}/{key}" + (f" (tagged {own})" if own else ""))

        def launch(batch: list[dict[str, Any]]) -> None:
            response = stack.invoke("LauncherFunction", sqs_event(batch, queue_arn, region), overrides)
            failures = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            for message in batch:
                if message["MessageId"] in failures:
                    report.problems.append(f"arrival message {message['MessageId']} failed")
            taken = logs.take("job started", "arrival skipped", "duplicate arrival")
            report.launches += taken
            for line in taken:
                console.print(
                    f"  {line['message']:<17} {line.get('reason', ''):<17} {line.get('uri', '')}"
                    + (f" → {line['job_id']} on {line['engine_id']}" if "engine_id" in line else ""),
                    markup=False,
                    highlight=False,
                )

        console.rule("3. launcher: SQS batches → routes → EMR clusters (one message delivered twice)")
        messages = _drain(sqs, queue_url)
        redelivered = next(m for m in messages if "orders+1%2B2" in m["Body"])
        for batch in (messages, [redelivered]):  # S3 and SQS deliver at least once
            launch(batch)

        lost = " — every event LOST; the sweeper finds out" if drop_events else ""
        console.rule(f"4. engine lifecycles simulated; the events AWS would send go to the tracker{lost}")
        ledger = Ledger(outputs["LedgerTableName"], boto3.client("dynamodb", region_name=region))
        simulators = Simulators(*(simulator(region=region) for simulator in SIMULATORS))
        patterns = moto_stack.rule_patterns()
        simulated: set[tuple[str, int]] = set()
        for _round in range(3):  # first attempts, then retries (a retry of a retry would need a third)
            running = [
                job
                for job in sorted(ledger.list_jobs(), key=lambda j: j.created_at)
                if job.engine_id and (job.job_id, job.attempt) not in simulated
            ]
            if not running:
                break
            for job in running:
                simulated.add((job.job_id, job.attempt))
                _lifecycle(
                    console,
                    stack,
                    overrides,
                    report,
                    job,
                    simulators,
                    patterns,
                    Outcome(outcome_name(job)),
                    drop_events,
                )
            if drop_events:
                report.sweeps.append(stack.invoke("SweeperFunction", scheduled_event(region), overrides))
                console.print(f"  sweep: {_sweep_line(report.sweeps[-1])}", markup=False, highlight=False)
            # A retry asks the launcher (through the arrivals queue) to start its next attempt.
            requests = _drain(sqs, queue_url)
            if requests:
                console.print(f"  {len(requests)} start request(s) for a retry's next attempt → launcher")
                launch(requests)
        if not drop_events:
            console.print("  (every event delivered a second time, in reverse order: no job moved)")

        report.jobs = sorted(ledger.list_jobs(), key=lambda j: j.created_at)
        console.rule("ordered steps: one cluster runs Spark, then Hive, then a command (emr-dispatch jobs show)")
        for job in report.jobs:
            if len(job.steps) > 1:
                console.print(f"  {job.job_id} {job.state.value}: {job.reason_message}", markup=False, highlight=False)
                for line in step_lines(job):
                    console.print(f"    {line}", markup=False, highlight=False)
        console.rule("5. input outcome tags: each input object version says how its job ended")
        for key in DEMO_KEYS:
            tag_set = s3.get_object_tagging(Bucket=landing, Key=key)["TagSet"]
            report.input_tags[key] = {tag["Key"]: tag["Value"] for tag in tag_set}
            shown = ", ".join(f"{name}={value}" for name, value in report.input_tags[key].items())
            console.print(f"  s3://{landing}/{key}: {shown}", markup=False, highlight=False)
        report.clusters = simulators.cluster_states()
        report.application_state = ", ".join(sorted(set(simulators.application_states().values())))
        report.alerts = [_alert_of(message) for message in _drain(sqs, inbox)]
        report.metrics = _metric_totals(stack)
    _check(report)
    return report


def _lifecycle(
    console: Any,
    stack: Any,
    overrides: dict[str, str],
    report: DemoReport,
    job: Any,
    simulators: Simulators,
    patterns: Any,
    outcome: Any,
    drop_events: bool,
) -> None:
    """One attempt's life in moto; its events delivered to the tracker (then again, reversed), or lost."""
    from emr_dispatch_tools import moto_stack

    events = []
    for event in simulators.lifecycle(job, outcome):
        detail = f"{job.engine:<14} {event['detail-type']:<36} {event['detail']['state']:<22}"
        if drop_events:
            console.print(f"  {detail} → lost", markup=False, highlight=False)
            continue
        if not moto_stack.matching_rules(event, patterns):
            report.problems.append(f"no tracker rule matches {event['detail-type']} {event['detail']['state']}")
            continue
        result = stack.invoke("TrackerFunction", event, overrides)
        events.append(event)
        report.tracked.append(result)
        moved = f" {result['state']}" if result["status"] == "moved" else ""
        console.print(f"  {detail} → {result['status']}{moved}", markup=False, highlight=False)
    # EventBridge may deliver again, and out of order: replay this attempt's events reversed.
    for event in reversed(events):
        if stack.invoke("TrackerFunction", event, overrides)["status"] == "moved":
            report.problems.append(f"a replayed event moved job {job.job_id}")


def _sweep_line(report: dict[str, Any]) -> str:
    return (
        f"examined {report['examined']}, moved {len(report['moved'])}, timed out {len(report['timed_out'])}, "
        f"orphans {len(report['orphans'])}, starts requested {len(report['starts_requested'])}"
    )


class Simulators:
    """One lifecycle simulator per engine (simulator.py), each found by the engine it stands for."""

    def __init__(self, *simulators: Any) -> None:
        self._by_engine: dict[str, Any] = {simulator.engine: simulator for simulator in simulators}

    def lifecycle(self, job: Any, outcome: Any) -> Iterator[dict[str, Any]]:
        """The engine events of one job's life, in the order AWS would send them."""
        return self._by_engine[job.engine].lifecycle(job, outcome)  # type: ignore[no-any-return]

    def cluster_states(self) -> dict[str, str]:
        """The state of every cluster the engines that run clusters hold."""
        states: dict[str, str] = {}
        for simulator in self._by_engine.values():
            states.update(simulator.states() if hasattr(simulator, "states") else {})
        return states

    def application_states(self) -> dict[str, str]:
        """The state of every application the engines that run on applications hold."""
        states: dict[str, str] = {}
        for simulator in self._by_engine.values():
            states.update(simulator.application_states() if hasattr(simulator, "application_states") else {})
        return states


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not batch.get("Messages"):
            return messages
        messages += batch["Messages"]
        for message in batch["Messages"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _metric_totals(stack: Any) -> dict[str, float]:
    """Every metric the handlers emitted, over the namespace-wide set (what the alarms watch): counts summed,
    durations at their maximum."""
    names = {metric["Name"] for record in stack.emf for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    return {name: (max if name.endswith("Seconds") else sum)(stack.metric_values(name)) for name in sorted(names)}


def _alert_of(message: dict[str, Any]) -> dict[str, Any]:
    envelope = json.loads(message["Body"])
    return {
        "subject": envelope.get("Subject"),
        "message": envelope.get("Message"),
        "attributes": envelope.get("MessageAttributes", {}),
    }


def _check(report: DemoReport) -> None:
    states = {job.inputs[0].key: job.state.value for job in report.jobs}
    if len(report.jobs) != len(DEMO_KEYS):
        report.problems.append(f"expected {len(DEMO_KEYS)} jobs, found {len(report.jobs)}")
    for key, outcome in DEMO_KEYS.items():
        if states.get(key) != TRUE_END[outcome]:
            report.problems.append(f"the job of {key} ended {states.get(key)}, not {TRUE_END[outcome]}")
    for engine in ENGINES:
        ended = {job.state.value for job in report.jobs if job.engine == engine}
        if ended != {"SUCCEEDED", "FAILED"}:
            report.problems.append(f"expected SUCCEEDED and FAILED jobs on {engine}, found {sorted(ended)}")
    if report.application_state != "STOPPED":
        report.problems.append(f"the managed Serverless application is {report.application_state}, not STOPPED")
    failed = list(states.values()).count("FAILED")
    retries = sum(len(job.attempts) for job in report.jobs)
    if len(report.alerts) != failed + retries:
        report.problems.append(
            f"expected {failed} failure alert(s) and {retries} retry notice(s), received {len(report.alerts)}"
        )
    alive = [cluster for cluster, state in report.clusters.items() if not state.startswith("TERMINATED")]
    if alive:
        report.problems.append(f"clusters still alive: {alive}")
    started = [line for line in report.launches if line["message"] == "job started"]
    if len(started) != len(DEMO_KEYS) + retries:
        report.problems.append(f"expected {len(DEMO_KEYS) + retries} attempts started, saw {len(started)}")
    skipped = {line.get("reason") for line in report.launches if line["message"] == "arrival skipped"}
    if not {"s3 test event", "folder marker", "no route matches"} <= skipped:
        report.problems.append(f"expected test event, folder marker and unrouted file skipped, saw {skipped}")
    _check_hive(report)
    for key, outcome in DEMO_KEYS.items():
        expected = {**OWN_TAGS.get(key, {}), "emr-dispatch-state": TRUE_END[outcome]}
        tags = report.input_tags.get(key, {})
        if {name: tags.get(name) for name in expected} != expected or not tags.get("emr-dispatch-job"):
            report.problems.append(f"the input {key} is tagged {tags}, expected {expected} and its job")
    _check_steps(report)
    if not any(line["message"] == "duplicate arrival" for line in report.launches):
        report.problems.append("the redelivered arrival was not recognised as a duplicate")
    counted = (
        report.metrics.get("JobsFailed"),
        report.metrics.get("JobsStarted"),
        report.metrics.get("JobsRetried", 0),
    )
    if counted != (failed, len(DEMO_KEYS) + retries, retries):
        report.problems.append(f"the metrics do not count the jobs: {report.metrics}")


STEP_ENDS = {"succeed": ["COMPLETED"] * 3, "step-failure": ["COMPLETED", "FAILED", "CANCELLED"]}
"""How each step of the demo's three-step jobs (Spark, Hive, command) ends: all complete, or the Hive step fails."""


def _check_steps(report: DemoReport) -> None:
    """Each multi-step job's steps ended as its cluster ran them, and the failed one's alert names its Hive step."""
    from emr_dispatch.job_steps import ordered_steps

    for job in (job for job in report.jobs if len(job.steps) > 1):
        states = [str(step.get("state")) for step in ordered_steps(job)]
        expected = STEP_ENDS[DEMO_KEYS[job.inputs[0].key]]
        if states != expected:
            report.problems.append(f"the steps of {job.job_id} ended {states}, not {expected}")
        if job.state.value == "FAILED" and not any(
            job.job_id in str(alert["message"]) and "Step name:  load" in str(alert["message"])
            for alert in report.alerts
        ):
            report.problems.append(f"the alert of {job.job_id} does not name its failed step")


def _check_hive(report: DemoReport) -> None:
    """The Hive story: both Hive jobs ran on the stack's Hive application (not the Spark one), the failed one's
    alert carries EMR Serverless' stateDetails, and the key a Hive variable could not carry was skipped with that
    reason."""
    hive_jobs = [job for job in report.jobs if job.inputs[0].key in HIVE_KEYS]
    hive_applications = {job.engine_details.get("application_id") for job in hive_jobs}
    spark_applications = {
        job.engine_details.get("application_id")
        for job in report.jobs
        if job.inputs[0].key not in HIVE_KEYS and job.engine in {hive.engine for hive in hive_jobs}
    }
    if len(hive_applications) != 1 or hive_applications & spark_applications:
        report.problems.append(f"the Hive jobs ran on {hive_applications}, not on an application of their own")
    for job in hive_jobs:
        alerted = any(str(job.reason_message) in str(alert["message"]) for alert in report.alerts)
        if job.state.value == "FAILED" and not alerted:
            report.problems.append(f"the alert of the failed Hive job {job.job_id} lacks {job.reason_message!r}")
    skipped = [str(line.get("reason")) for line in report.launches if line["message"] == "arrival skipped"]
    if not any("hive variable" in reason for reason in skipped):
        report.problems.append(f"the key a Hive variable cannot carry was not skipped with its reason: {skipped}")


def summary_table(report: DemoReport) -> Any:
    """The first screen: jobs per engine and how they ended, alerts, what was cleaned up."""
    from rich.table import Table

    table = Table(title="emr-dispatch demo: what happened", title_justify="left")
    for column in ("engine", "jobs", "succeeded", "failed", "retried", "alerts"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for engine in ENGINES:
        jobs = [job for job in report.jobs if job.engine == engine]
        alerts = [a for a in report.alerts if a["attributes"].get("engine", {}).get("Value") == engine]
        table.add_row(
            engine,
            str(len(jobs)),
            str(sum(job.state.value == "SUCCEEDED" for job in jobs)),
            str(sum(job.state.value == "FAILED" for job in jobs)),
            str(sum(len(job.attempts) for job in jobs)),
            str(len(alerts)),
        )
    return table


def summary_lines(report: DemoReport) -> list[str]:
    states = [a["attributes"].get("state", {}).get("Value") for a in report.alerts]
    terminated = [cid for cid, state in report.clusters.items() if state.startswith("TERMINATED")]
    skipped = sorted({str(line.get("reason")) for line in report.launches if line["message"] == "arrival skipped"})
    duplicates = sum(line["message"] == "duplicate arrival" for line in report.launches)
    tagged = [tags for tags in report.input_tags.values() if "emr-dispatch-state" in tags]
    by_state: dict[str, int] = {}
    for tags in tagged:
        by_state[tags["emr-dispatch-state"]] = by_state.get(tags["emr-dispatch-state"], 0) + 1
    kept = sum(
        all(report.input_tags.get(key, {}).get(name) == value for name, value in own.items())
        for key, own in OWN_TAGS.items()
    )
    return [
        f"alerts: {states.count('FAILED')} failure alert(s), one per failed job; "
        f"{states.count('RETRYING')} retry notice(s)",
        f"cleaned up: {len(terminated)} of {len(report.clusters)} EMR clusters terminated; "
        f"the managed EMR Serverless application {report.application_state}",
        f"not started, with a logged reason: {', '.join(skipped)}; {duplicates} re-delivered arrival(s) "
        "recognised as duplicates",
        f"input tags: {len(tagged)} of {len(report.input_tags)} input objects tagged emr-dispatch-state "
        f"({', '.join(f'{n} {state}' for state, n in sorted(by_state.items()))}) and emr-dispatch-job, "
        f"merged with the tags they already had ({kept} of {len(OWN_TAGS)} kept)",
    ]


NEXT_COMMANDS = [
    ("make demo-lost-events", "the same story with every EMR event lost: the sweeper finds out"),
    ("make sandbox", "this world kept running, for every README and RUNBOOK command"),
    ("make test", "lint, types, tests, template validation, security scanners"),
    ("make build && .venv-sam/bin/sam deploy --guided", "deploy it (README: Deploy to AWS)"),
]


def main() -> int:
    import io

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fake credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    os.environ.pop("AWS_PROFILE", None)
    from rich.console import Console

    from emr_dispatch_tools.render import jobs_table, print_table

    console = Console(soft_wrap=True)  # the terminal's own width
    console.print("[dim]make demo: template.yaml deployed into moto, files landing, three engines ...[/]")
    # The story's detail is kept and shown after the summary: the first screen says what happened.
    detail = Console(
        file=io.StringIO(),
        soft_wrap=True,
        width=console.width,
        force_terminal=console.is_terminal,
        color_system=console.color_system,  # type: ignore[arg-type]
    )
    report = run_demo(detail, drop_events="--drop-events" in sys.argv[1:])
    console.print(summary_table(report))
    for line in summary_lines(report):
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=False)  # wrapped to the terminal
    if report.problems:
        console.rule("[bold red]demo did not end as promised")
        for problem in report.problems:
            console.print(f"  - {problem}", markup=False)
    else:
        console.print(
            "[green]  every job recorded on three engines, each failure alerted once, nothing left running[/]",
            soft_wrap=False,
        )
    console.print("\n[bold]The detail[/] (the story as it happened, the ledger, metrics and alerts):\n")
    sys.stdout.write(detail.file.getvalue())  # type: ignore[attr-defined]
    console.rule("5. the ledger")
    print_table(console, jobs_table(report.jobs))
    console.print(
        "  EMR on EC2 clusters: " + ", ".join(f"{cid} {state}" for cid, state in sorted(report.clusters.items()))
    )
    console.print(f"  EMR Serverless application (managed by emr-dispatch): {report.application_state}")
    console.rule("6. metrics (namespace EmrDispatch, as CloudWatch would hold them; the dashboard graphs them)")
    console.print("  " + ", ".join(f"{name} {value:g}" for name, value in report.metrics.items()) + " (durations: max)")
    console.rule(f"7. alerts received by ops ({len(report.alerts)})")
    for alert in report.alerts:
        console.print(f"Subject: {alert['subject']}", markup=False, highlight=False)
        attributes = {name: value.get("Value") for name, value in alert["attributes"].items()}
        console.print(f"Attributes: {attributes}", markup=False, highlight=False)
        console.print(alert["message"].split("\n--- machine-readable ---")[0], markup=False, highlight=False)
    console.rule("every AWS call checked: API contracts (botocore's models), IAM (template.yaml's roles)")
    console.print(f"  {report.checked.contracts_line()}", markup=False, highlight=False)
    console.rule("next")
    for command, what in NEXT_COMMANDS:
        console.print(f"  $ {command:<48} {what}", markup=False, highlight=False, soft_wrap=False)
    # The last line: how many calls of each function IAM checked, and that all were allowed.
    console.print(report.checked.iam_line(), markup=False, highlight=False, soft_wrap=True)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
