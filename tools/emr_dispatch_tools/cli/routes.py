"""emr-dispatch routes: validate a routes file; explain what an object would start."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.syntax import Syntax

from emr_dispatch.arrivals import Arrival, parse_s3_event
from emr_dispatch.control import QueueSignal
from emr_dispatch.engines import DECLARATIONS, build_engines
from emr_dispatch.operations import explain
from emr_dispatch.pauses import RoutePauses
from emr_dispatch.settings import Settings, settings_from
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
    caller,
    command,
    console,
    errors,
    load_routes_or_exit,
    nothing_done,
    print_json,
)

routes_app = typer.Typer(help="The routes file: check it, explain what an object would start.", no_args_is_help=True)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key → (bucket, key); the key may be empty (a whole bucket) or end with / (a prefix)."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise CliError(f"{uri!r} is not an s3://bucket/key URI", EXIT_USAGE)
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@routes_app.command("check")
@command
def routes_check(
    file: Annotated[Path, typer.Argument(help="Routes file to validate.")] = DEFAULT_ROUTES,
    output: OutputOption = Output.table,
) -> None:
    """Validate a routes file; exits 1 naming each bad route and field."""
    routes = load_routes_or_exit(file, output)
    names = [route.name for route in routes.routes]
    warnings = routes.warnings()
    if output is Output.json:
        print_json({"file": str(file), "valid": True, "routes": names, "warnings": warnings})
    else:
        console.print(f"{file}: {len(names)} route(s) valid: {', '.join(names)}", markup=False, highlight=False)
        for warning in warnings:
            console.print(f"warning: {warning}", markup=False, highlight=False)


@routes_app.command("schema")
@command
def routes_schema_command(
    write: Annotated[
        Path | None, typer.Option("--write", help="Write the schema to this file instead of printing it.")
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """The routes file's JSON Schema, generated from the route models (editors read config/routes.schema.json).
    Printed as JSON whatever the output format."""
    from emr_dispatch_tools.routes_schema import render

    text = render()
    if write is None:
        sys.stdout.write(text)
        return
    write.write_text(text, encoding="utf-8")
    if output is Output.json:
        print_json({"wrote": str(write)})
    else:
        console.print(f"wrote {write}", highlight=False)


@routes_app.command("explain")
@command
def routes_explain(
    uri: Annotated[str, typer.Argument(help="s3://bucket/key of an object (it need not exist).")],
    routes_file: RoutesOption = DEFAULT_ROUTES,
    output: OutputOption = Output.table,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack", help="Fill in the stack's values (work bucket, roles, application); else placeholders."
        ),
    ] = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Which route an object would match and the exact engine request the launcher would send (not sent)."""
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise CliError(f"{uri}: name an object, not a prefix", EXIT_USAGE)
    routes = load_routes_or_exit(routes_file)
    settings = _stack_settings(stack, region, profile, routes_file) if stack else placeholder_settings(routes_file)
    # Engines are built as the launcher builds them (their clients only on first use): explaining calls no AWS.
    engines = build_engines(settings, _NoLedger())
    landed = _landed(bucket, key, stack, region, profile) if stack else None
    explanation = explain(routes, engines, bucket, key, settings.work_bucket, landed)
    real = f"version {landed.version}" if landed else ""
    if output is Output.json:
        print_json({**asdict(explanation), "routes_file": str(routes_file), "job_id_of": real or None})
        return
    console.print(f"{explanation.uri}  (routes file {routes_file})", highlight=False, markup=False)
    if explanation.route:
        console.print(f"route:   {explanation.route} ({explanation.engine})", highlight=False, markup=False)
    console.print(f"outcome: {explanation.outcome}: {explanation.reason}", highlight=False, markup=False)
    if explanation.request is not None:
        if real:
            console.print(f"job id:  {explanation.job_id} (of the object's current {real})", highlight=False)
        else:
            console.print(
                "job id:  depends on the object version (with --stack, that of the object in S3): "
                f"shown below as {explanation.job_id}",
                highlight=False,
                markup=False,
            )
        for line in step_list(explanation.request):
            console.print(line, highlight=False, markup=False)
        console.print(Syntax(json.dumps(explanation.request, indent=2, sort_keys=True), "json", word_wrap=True))


def step_list(request: dict[str, Any]) -> list[str]:
    """The steps a cluster request runs, in order, each with its action on failure and rendered arguments."""
    steps = request.get("Steps") or []
    lines = [f"steps:   {len(steps)}, in order"] if steps else []
    for number, step in enumerate(steps, start=1):
        jar = step.get("HadoopJarStep", {})
        arguments = " ".join(shlex.quote(str(argument)) for argument in jar.get("Args", []))
        lines.append(f"  {number}. {step.get('Name')} [{step.get('ActionOnFailure')}] {jar.get('Jar')}: {arguments}")
    return lines


def _landed(bucket: str, key: str, stack: str, region: str | None, profile: str | None) -> Arrival | None:
    """The object's current version as the launcher would see it arrive, or None if there is no such object."""
    from botocore.exceptions import ClientError

    from emr_dispatch_tools.cli.replay import notification_for

    deployment = Deployment.connect(stack, region, profile)
    try:
        head = deployment.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return None  # the object need not exist: the id then depends on the version it will have
        if code in ("403", "AccessDenied", "Forbidden"):
            # S3 answers 403 for a missing object to a caller without s3:ListBucket, and for a bucket outside the
            # operator policy: the explanation stands, only the id cannot be told (said so, as for a missing one).
            errors.print(f"note: s3://{bucket}/{key} is not readable ({code}): the job id depends on its version")
            return None
        raise
    (arrival,) = parse_s3_event(notification_for(bucket, key, dict(head), deployment.region))
    return arrival if isinstance(arrival, Arrival) else None


class _NoLedger:
    """Explaining reads no job: an engine that asked the ledger would be a bug, said loudly."""

    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        raise RuntimeError("routes explain must not read the ledger")


PLACEHOLDER_ENVIRONMENT = {
    "LEDGER_TABLE": "<LedgerTable>",
    "ALERTS_TOPIC_ARN": "<AlertsTopic>",
    "WORK_BUCKET": "<WorkBucket>",
    **{
        setting.variable: setting.shown_as
        for declared in DECLARATIONS
        for setting in declared.stack_settings
        if setting.shown_as
    },
    "AWS_REGION": "us-east-1",
}
"""What a stack would fill in, shown as its parameter or resource names (roles: template.yaml's defaults); each
engine declares what its own settings are shown as."""


def placeholder_settings(routes_file: Path) -> Settings:
    return settings_from({**PLACEHOLDER_ENVIRONMENT, "ROUTES_FILE": str(routes_file)})


def _stack_settings(stack: str, region: str | None, profile: str | None, routes_file: Path) -> Settings:
    deployment = Deployment.connect(stack, region, profile)
    environment = deployment.function_environment("LauncherFunctionName")
    return settings_from({**environment, "ROUTES_FILE": str(routes_file), "AWS_REGION": deployment.region})


@routes_app.command("pause")
@command
def routes_pause(
    route: Annotated[str, typer.Argument(help="The route to pause (its name in the deployed routes file).")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the ledger.")] = "paused by an operator",
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Stop starting the route's jobs, without a deploy: its arrivals wait QUEUED in the ledger (not lost); jobs
    already running finish and are tracked as usual."""
    deployment = Deployment.connect(stack, region, profile)
    pauses = RoutePauses(deployment.ledger_table, deployment.client("dynamodb"))
    pause = pauses.pause(route, reason, caller(deployment))
    if pause is None:
        held = pauses.get(route)
        since = f" since {held.paused_at} by {held.paused_by}: {held.reason}" if held else ""
        raise nothing_done(f"route {route} is already paused{since}", output, {"route": route, "paused": True})
    if output is Output.json:
        print_json({"route": route, "paused": True, **asdict(pause)})
    else:
        console.print(
            f"route {route} paused: its arrivals wait QUEUED until `emr-dispatch routes resume {route}`",
            highlight=False,
            markup=False,
        )


@routes_app.command("resume")
@command
def routes_resume(
    route: Annotated[str, typer.Argument(help="A paused route.")],
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Start the route's jobs again: the launcher is asked to start what waited QUEUED, oldest first, under the
    route's caps."""
    deployment = Deployment.connect(stack, region, profile)
    pause = RoutePauses(deployment.ledger_table, deployment.client("dynamodb")).resume(route)
    if pause is None:
        raise nothing_done(f"route {route} is not paused", output, {"route": route, "paused": False})
    QueueSignal(deployment.output("ArrivalsQueueUrl"), deployment.client("sqs")).slot_freed(route)
    if output is Output.json:
        print_json({"route": route, "paused": False, "was": asdict(pause), "asked": "start-queued"})
    else:
        console.print(
            f"route {route} resumed (paused since {pause.paused_at}); the launcher starts its QUEUED jobs: "
            f"emr-dispatch jobs list --route {route} --state QUEUED",
            highlight=False,
            markup=False,
        )
