"""emr-dispatch jobs: look at jobs in the ledger, ask for a new attempt, cancel one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from emr_dispatch.alerts import Alerter
from emr_dispatch.capacity import Capacity
from emr_dispatch.control import QueueSignal, retry_body
from emr_dispatch.engines import build_engines
from emr_dispatch.errors import JobNotFoundError, JobStateError
from emr_dispatch.jobs import JobState
from emr_dispatch.operations import cancel_job
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.settings import settings_from
from emr_dispatch.timeutil import to_iso
from emr_dispatch_tools.cli.common import (
    DEFAULT_ROUTES,
    EXIT_USAGE,
    CliError,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    RoutesOption,
    StackOption,
    TableOption,
    command,
    console,
    load_routes_or_exit,
    print_json,
)
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
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
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
        str | None, typer.Option("--since", help="Only jobs created since: 90m, 6h, 2d or an ISO-8601 time.")
    ] = None,
    output: OutputOption = Output.table,
    table: TableOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """List jobs, newest first."""
    after = since_timestamp(since) if since else ""
    ledger = Deployment.connect(stack, region, profile, table).ledger()
    jobs = sorted(
        (job for job in ledger.list_jobs(state=state, route=route) if job.created_at >= after),
        key=lambda job: job.created_at,
        reverse=True,
    )
    if output is Output.json:
        print_json([job_as_dict(job) for job in jobs])
    else:
        console.print(jobs_table(jobs))


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
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Start a new attempt of an ended job over the same inputs, through the deployed launcher.

    The launcher records attempt N+1 in the ledger and starts it on the route's engine with the deployed
    routes and its own permissions (over a capacity cap, the attempt waits QUEUED)."""
    deployment = Deployment.connect(stack, region, profile)
    job = deployment.ledger().get(job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id}")
    if not job.state.is_terminal:
        raise JobStateError(f"job {job_id} is {job.state.value}: only an ended job is retried (cancel it first)")
    if job.alert_pending:
        raise JobStateError(f"job {job_id}'s alert is not yet published (the next sweep resends it): retry after that")
    requested_by = _caller(deployment)
    queue_url = deployment.output("ArrivalsQueueUrl")
    sent = deployment.client("sqs").send_message(QueueUrl=queue_url, MessageBody=retry_body(job_id, requested_by))
    result = {
        "job_id": job_id,
        "requested": "retry",
        "attempt": job.attempt + 1,
        "previous_state": job.state.value,
        "requested_by": requested_by,
        "message_id": sent["MessageId"],
    }
    if output is Output.json:
        print_json(result)
    else:
        console.print(
            f"asked the launcher for attempt {job.attempt + 1} of {job_id} (was {job.state.value}); "
            f"follow it with: emr-dispatch jobs show {job_id}",
            highlight=False,
        )


@jobs_app.command("cancel")
@command
def jobs_cancel(
    job_id: Annotated[str, typer.Argument(help="A job that has not ended.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded on the job.")] = "cancelled by an operator",
    routes_file: RoutesOption = DEFAULT_ROUTES,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Record CANCELLED (with the reason), then terminate the cluster or cancel the job run."""
    deployment = Deployment.connect(stack, region, profile)
    ledger = deployment.ledger()
    settings = settings_from(
        {**deployment.function_environment("LauncherFunctionName"), "AWS_REGION": deployment.region}
    )
    outcomes = OutcomeRecorder(
        ledger,
        Alerter(deployment.output("AlertsTopicArn")),
        Capacity(settings.ledger_table, deployment.client("dynamodb")),
        QueueSignal(deployment.output("ArrivalsQueueUrl")),
        load_routes_or_exit(routes_file),  # retry policies (a cancelled job is never retried)
    )
    job = cancel_job(job_id, reason, _caller(deployment), ledger, build_engines(settings, ledger), outcomes)
    if output is Output.json:
        print_json(job_as_dict(job))
    else:
        console.print(job_detail(job))


def _caller(deployment: Deployment) -> str:
    """Who asks (recorded on the job): the caller's AWS identity."""
    identity: dict[str, Any] = deployment.client("sts").get_caller_identity()
    return str(identity.get("Arn", "operator"))
