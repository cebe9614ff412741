"""emr-dispatch jobs: look at jobs in the ledger, ask for a new attempt, cancel one."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from emr_dispatch.alerts import Alerter
from emr_dispatch.capacity import Capacity
from emr_dispatch.control import QueueSignal, retry_body
from emr_dispatch.engines import build_engines
from emr_dispatch.errors import JobNotFoundError, JobStateError
from emr_dispatch.jobs import JobState, job_id_for
from emr_dispatch.ledger import Ledger
from emr_dispatch.operations import cancel_job
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.settings import settings_from
from emr_dispatch.timeutil import parse_iso, to_iso
from emr_dispatch_tools.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CliError,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    StackOption,
    TableOption,
    caller,
    command,
    console,
    errors,
    print_json,
    print_table,
)
from emr_dispatch_tools.cli.routes import parse_s3_uri
from emr_dispatch_tools.render import job_as_dict, job_detail, jobs_table

jobs_app = typer.Typer(help="Jobs in the ledger: list, show, retry, cancel.", no_args_is_help=True)

_AGE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since_timestamp(text: str, now: datetime | None = None) -> str:
    """'90m', '6h', '2d' (ago) or an ISO-8601 time, as the ledger's sortable timestamp."""
    match = _AGE.match(text.strip())
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return to_iso(moment)
    try:
        moment = parse_iso(text)
    except ValueError as exc:
        raise CliError(f"--since {text!r}: say 90m, 6h, 2d or an ISO-8601 time", EXIT_USAGE) from exc
    return to_iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@jobs_app.command("list")
@command
def jobs_list(
    state: Annotated[
        JobState | None, typer.Option("--state", case_sensitive=False, help="Only jobs in this state.")
    ] = None,
    route: Annotated[str | None, typer.Option("--route", help="Only jobs of this route.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only jobs that changed since (last state change): 90m, 6h, 2d or ISO-8601."),
    ] = None,
    created_since: Annotated[
        str | None, typer.Option("--created-since", help="Only jobs created since: 90m, 6h, 2d or ISO-8601.")
    ] = None,
    ended_since: Annotated[
        str | None, typer.Option("--ended-since", help="Only jobs that ended since: 90m, 6h, 2d or ISO-8601.")
    ] = None,
    output: OutputOption = Output.table,
    table: TableOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """List jobs, most recently changed first."""
    changed = since_timestamp(since) if since else ""
    created = since_timestamp(created_since) if created_since else ""
    ended = since_timestamp(ended_since) if ended_since else ""
    ledger = Deployment.connect(stack, region, profile, table).ledger()
    jobs = sorted(
        (
            job
            for job in ledger.list_jobs(state=state, route=route)
            if job.updated_at >= changed and job.created_at >= created and (not ended or (job.ended_at or "") >= ended)
        ),
        key=lambda job: job.updated_at,
        reverse=True,
    )
    if output is Output.json:
        print_json([job_as_dict(job) for job in jobs])
        return
    if not jobs:  # said, not silently an empty table (a mistyped route or state looks the same)
        errors.print(f"no job matches{_filters(state, route, since, created_since, ended_since)}", highlight=False)
        return
    print_table(jobs_table(jobs))


def _filters(state: JobState | None, route: str | None, *times: str | None) -> str:
    named = [f"state {state.value}" if state else "", f"route {route}" if route else ""]
    labels = ("changed since", "created since", "ended since")
    named += [f"{label} {value}" for label, value in zip(labels, times, strict=True) if value]
    words = [word for word in named if word]
    return (": " + ", ".join(words)) if words else " (the ledger holds none)"


@jobs_app.command("show")
@command
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="The job id (from jobs list or an alert).")],
    output: OutputOption = Output.table,
    table: TableOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Everything the ledger knows about one job, with the timeline of its states."""
    job = Deployment.connect(stack, region, profile, table).ledger().get(job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id}")
    if output is Output.json:
        print_json(job_as_dict(job))
    else:
        console.print(job_detail(job))


@jobs_app.command("retry")
@command
def jobs_retry(
    job_id: Annotated[str, typer.Argument(help="An ended job (FAILED, TIMED_OUT, CANCELLED or SUCCEEDED).")],
    wait: Annotated[
        int,
        typer.Option(min=0, max=900, help="Seconds to wait for the launcher's answer (0: send and return)."),
    ] = 60,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Start a new attempt of an ended job over the same inputs, through the deployed launcher.

    The launcher records attempt N+1 in the ledger and starts it on the route's engine with the deployed
    routes and its own permissions (over a capacity cap, the attempt waits QUEUED). The command waits for that
    answer: a refusal (the job's route is gone from the deployed routes) exits 7 and says why."""
    deployment = Deployment.connect(stack, region, profile)
    ledger = deployment.ledger()
    job = ledger.get(job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id}")
    if not job.state.is_terminal:
        raise JobStateError(f"job {job_id} is {job.state.value}: only an ended job is retried (cancel it first)")
    if job.alert_pending:
        raise JobStateError(f"job {job_id}'s alert is not yet published (the next sweep resends it): retry after that")
    requested_by = _caller(deployment)
    request_id = uuid.uuid4().hex
    queue_url = deployment.output("ArrivalsQueueUrl")
    sent = deployment.client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=retry_body(job_id, requested_by, request_id)
    )
    answered = _launcher_answer(ledger, job_id, job.attempt, request_id, wait)
    result: dict[str, Any] = {
        "job_id": job_id,
        "requested": "retry",
        "attempt": job.attempt + 1,
        "previous_state": job.state.value,
        "requested_by": requested_by,
        "message_id": sent["MessageId"],
        "answer": answered.answer,
    }
    if answered.answer == "refused":
        raise JobStateError(f"the launcher refused attempt {job.attempt + 1} of {job_id}: {answered.detail}")
    if answered.answer == "started":
        result["state"] = answered.detail
    if output is Output.json:
        print_json(result)
    elif answered.answer == "started":
        console.print(
            f"attempt {job.attempt + 1} of {job_id} is {answered.detail}; "
            f"follow it with: emr-dispatch jobs show {job_id}",
            highlight=False,
        )
    else:
        console.print(
            f"asked the launcher for attempt {job.attempt + 1} of {job_id} (was {job.state.value}); it has not "
            f"answered within {wait} s (a busy arrivals queue); follow it with: emr-dispatch jobs show {job_id}",
            highlight=False,
        )


_pause = time.sleep  # between looks at the job while the launcher answers (a test plays the launcher here)


@dataclass(frozen=True)
class _Answer:
    answer: str  # "started" (the next attempt is recorded), "refused", or "pending" (no answer yet)
    detail: str = ""


def _launcher_answer(ledger: Ledger, job_id: str, attempt: int, request_id: str, wait: int) -> _Answer:
    """The launcher's answer to a retry request: the job's next attempt recorded (its state), the refusal it
    recorded on the job, or nothing yet within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        job = ledger.get(job_id)
        if job is not None and job.attempt > attempt:
            return _Answer("started", job.state.value)
        refused = ledger.refusal(job_id, request_id)
        if refused is not None:
            return _Answer("refused", refused)
        if time.monotonic() >= deadline:
            return _Answer("pending")
        _pause(min(1.0, max(0.0, deadline - time.monotonic())))


@jobs_app.command("cancel")
@command
def jobs_cancel(
    job_id: Annotated[str, typer.Argument(help="A job that has not ended.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded on the job.")] = "cancelled by an operator",
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Record CANCELLED (with the reason), then terminate the cluster or cancel the job run."""
    deployment = Deployment.connect(stack, region, profile)
    ledger = deployment.ledger()
    # The deployed launcher's environment (engines, work bucket, roles): nothing is read from local files.
    settings = settings_from(
        {**deployment.function_environment("LauncherFunctionName"), "AWS_REGION": deployment.region}
    )
    outcomes = OutcomeRecorder(
        ledger,
        Alerter(deployment.output("AlertsTopicArn")),
        Capacity(settings.ledger_table, deployment.client("dynamodb")),
        QueueSignal(deployment.output("ArrivalsQueueUrl")),
        _no_routes,  # routes are read only for a failure's retry policy: a cancelled job is never retried
    )
    job = cancel_job(job_id, reason, _caller(deployment), ledger, build_engines(settings, ledger), outcomes)
    if output is Output.json:
        print_json(job_as_dict(job))
    else:
        console.print(job_detail(job))


def _no_routes() -> Any:
    raise RuntimeError("cancelling a job reads no routes file")


_caller = caller


@jobs_app.command("find")
@command
def jobs_find(
    uri: Annotated[str, typer.Argument(help="s3://bucket/key of an input object.")],
    version: Annotated[
        str | None, typer.Option("--version", help="One object version: its version id (or ETAG:SIZE, unversioned).")
    ] = None,
    output: OutputOption = Output.table,
    table: TableOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """The job(s) an input object started (a batch's or marker's job included), or why it started none.

    Read from the ledger's by_object index (a query, not a scan)."""
    _, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise CliError(f"{uri}: name an object, not a prefix", EXIT_USAGE)
    ledger = Deployment.connect(stack, region, profile, table).ledger()
    found = [_found(ledger, item) for item in ledger.find_by_object(uri, version)]
    if not found:
        what = f"{uri} (version {version})" if version else uri
        raise CliError(f"{what}: never seen by emr-dispatch (no job, batch or recorded skip)", EXIT_NOT_FOUND)
    if output is Output.json:
        print_json(found)
        return
    table_ = Table(title=f"jobs for {uri}", title_justify="left")
    for column in ("version", "job id", "state", "attempt", "engine id", "how", "next"):
        table_.add_column(column, no_wrap=column in ("job id", "engine id", "next"), overflow="fold")
    for row in found:
        table_.add_row(
            str(row["version"]),
            row.get("job_id") or "-",
            row.get("state") or "-",
            str(row.get("attempt") or "-"),
            row.get("engine_id") or "-",
            row["how"],
            row.get("next") or "",
        )
    print_table(table_)


def _found(ledger: Any, item: dict[str, Any]) -> dict[str, Any]:
    """One index item as on-call reads it: the job it leads to (directly, through its batch or its marker)."""
    pk = str(item.get("pk", ""))
    row: dict[str, Any] = {"version": item.get("object_version"), "route": item.get("route")}
    job_id: str | None = None
    if pk.startswith("JOB#"):
        job_id, row["how"] = str(item["job_id"]), "its own job"
    elif pk.startswith("ARRIVAL#"):
        batch_id = str(item.get("batch_id", ""))
        job_id = job_id_for(str(item.get("route", "")), f"batch\x00{batch_id}")
        row["how"], row["batch_id"] = f"member of batch {batch_id}", batch_id
    else:  # a recorded skip
        reason = str(item.get("skip_reason", ""))
        row["how"], row["skip_reason"] = f"skipped: {reason}", reason
        marker = str(item.get("marker_uri", ""))
        if marker:
            jobs_of_marker = ledger.find_by_object(marker)
            marker_jobs = [found for found in jobs_of_marker if str(found.get("pk", "")).startswith("JOB#")]
            if marker_jobs:
                job_id = str(marker_jobs[-1]["job_id"])
                row["how"] = f"read by the job of its marker {marker}"
            else:
                row["how"] = f"waiting for its marker {marker}"
    if job_id is None:
        return row
    job = ledger.get(job_id)
    if job is None:
        row["job_id"], row["how"] = job_id, row["how"] + " (its job has not started: batch still open)"
        return row
    row.update(
        job_id=job.job_id,
        state=job.state.value,
        attempt=job.attempt,
        engine_id=job.engine_id,
        engine_ids=[a.get("engine_id") for a in job.attempts if a.get("engine_id")] + [job.engine_id or ""],
        next=f"emr-dispatch jobs show {job.job_id}",
    )
    row["engine_ids"] = [engine_id for engine_id in row["engine_ids"] if engine_id]
    return row
