"""emr-dispatch: look at jobs in the ledger and check routes files.

Reads the ledger named by --table, or by a deployed stack's outputs (--stack), with the usual AWS
environment (AWS_PROFILE / --profile, AWS_REGION / --region, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from emr_dispatch.errors import LedgerError, RoutesError
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.routes import load_routes_file
from emr_dispatch_tools.render import job_as_dict, job_detail, jobs_table

EXIT_USAGE = 2
EXIT_AWS = 3
EXIT_NOT_FOUND = 4

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
jobs_app = typer.Typer(help="Jobs in the ledger.", no_args_is_help=True)
routes_app = typer.Typer(help="The routes file.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(routes_app, name="routes")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    table = "table"
    json = "json"


TableOption = Annotated[str | None, typer.Option("--table", envvar="EMR_DISPATCH_TABLE", help="Ledger table name.")]
StackOption = Annotated[
    str | None, typer.Option("--stack", envvar="EMR_DISPATCH_STACK", help="Stack whose LedgerTableName output to use.")
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: the AWS environment's).")]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the AWS environment's).")]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table for people, json for scripts.")]


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _ledger(table: str | None, stack: str | None, region: str | None, profile: str | None) -> Ledger:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        if session.region_name is None:
            raise _fail("no AWS region: pass --region or set AWS_REGION", EXIT_USAGE)
        if not table:
            if not stack:
                raise _fail("say which ledger: --table NAME or --stack NAME", EXIT_USAGE)
            stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
            outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
            if "LedgerTableName" not in outputs:
                raise _fail(
                    f"stack {stack} has no LedgerTableName output: is it an emr-dispatch stack?", EXIT_NOT_FOUND
                )
            table = outputs["LedgerTableName"]
        return Ledger(table, session.client("dynamodb"))
    except ClientError as exc:
        raise _fail(f"AWS refused: {exc}", EXIT_AWS) from exc
    except BotoCoreError as exc:
        raise _fail(f"AWS is not reachable or not configured: {exc}", EXIT_AWS) from exc


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        JobState | None, typer.Option("--state", case_sensitive=False, help="Only jobs in this state.")
    ] = None,
    route: Annotated[str | None, typer.Option("--route", help="Only jobs of this route.")] = None,
    output: OutputOption = Output.table,
    table: TableOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """List jobs, newest first."""
    ledger = _ledger(table, stack, region, profile)
    try:
        jobs = sorted(ledger.list_jobs(state=state, route=route), key=lambda job: job.created_at, reverse=True)
    except LedgerError as exc:
        raise _fail(str(exc), EXIT_AWS) from exc
    if output is Output.json:
        _print_json([job_as_dict(job) for job in jobs])
    else:
        console.print(jobs_table(jobs))


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="The job id (from jobs list or an alert).")],
    output: OutputOption = Output.table,
    table: TableOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Everything the ledger knows about one job, with its timeline."""
    ledger = _ledger(table, stack, region, profile)
    try:
        job = ledger.get(job_id)
    except LedgerError as exc:
        raise _fail(str(exc), EXIT_AWS) from exc
    if job is None:
        raise _fail(f"no job {job_id}", EXIT_NOT_FOUND)
    if output is Output.json:
        _print_json(job_as_dict(job))
    else:
        console.print(job_detail(job))


@routes_app.command("check")
def routes_check(
    file: Annotated[Path, typer.Argument(help="Routes file to validate.")] = Path("config/routes.yaml"),
) -> None:
    """Validate a routes file; exits non-zero naming each bad route and field."""
    try:
        routes = load_routes_file(file)
    except FileNotFoundError as exc:
        raise _fail(f"{file}: no such file", EXIT_USAGE) from exc
    except RoutesError as exc:
        errors.print(f"[bold red]{exc.source} is invalid:[/]")
        for problem in exc.problems:
            errors.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    names = ", ".join(route.name for route in routes.routes)
    console.print(f"{file}: {len(routes.routes)} route(s) valid: {names}", markup=False, highlight=False)


def main() -> None:
    app()
