"""emr-dispatch invoke: run one function of template.yaml in this process, as `sam local invoke` would, without
Docker: its handler, its environment as CloudFormation resolved it (Globals and the function's own), its
layers on the path and /opt files (the routes) read from the layers' directories.

By default against template.yaml freshly deployed into moto (an EMR Serverless application and an EMR on EKS
virtual cluster included, so every route can start); with ``--aws``, against a deployed stack in a real account.
Several ``-e`` files run one after the other against the same stack (their results as a list).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.json import JSON

from emr_dispatch_tools.cli.common import (
    EXIT_FUNCTION_FAILED,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CliError,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    StackOption,
    command,
    console,
    errors,
    print_json,
)
from emr_dispatch_tools.logs import diverted_logs

MOTO_STACK_NAME = "emr-dispatch-local"


@command
def invoke(
    function: Annotated[str, typer.Argument(help="Logical id in template.yaml, e.g. LauncherFunction.")],
    event_files: Annotated[
        list[Path] | None,
        typer.Option("--event", "-e", help="Event JSON file (e.g. events/s3-put-classic.json); repeat for several."),
    ] = None,
    real_aws: Annotated[
        bool, typer.Option("--aws", help="Against the deployed stack (--stack) in a real account, not moto.")
    ] = False,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Run a function's handler on an event in-process (logs on stderr, the function's result on stdout)."""
    from emr_dispatch_tools import moto_stack

    functions = moto_stack.function_specs(moto_stack.load_sam_template(), moto_stack.ROOT)
    if function not in functions:
        raise CliError(f"template.yaml has no function {function!r}: one of {', '.join(functions)}", EXIT_USAGE)
    if not event_files:
        raise CliError(
            "say which event: -e events/<file>.json (the events/ folder has one per trigger shape)", EXIT_USAGE
        )
    events = [_load_event(path) for path in event_files]
    if real_aws:
        deployment = Deployment.connect(stack, region, profile)
        if not deployment.stack:
            raise CliError("--aws needs the deployed stack: --stack NAME", EXIT_USAGE)
        results, emf = _run(moto_stack.attach(deployment.stack, deployment.region), function, events)
    else:
        results, emf = _in_moto(function, events, region or "us-east-1")
    result: Any = results[0] if len(results) == 1 else results
    if output is Output.json:
        print_json(result)
        return
    console.print(JSON(json.dumps(result, default=str)))
    for record in emf:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        names = ", ".join(f"{metric['Name']}={record[metric['Name']]}" for metric in directive["Metrics"])
        dimensions = ", ".join(f"{key}={record[key]}" for key in directive["Dimensions"][0])
        errors.print(f"metric {names} ({dimensions})", highlight=False, markup=False)


def _load_event(event_file: Path) -> Any:
    try:
        return json.loads(event_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError(f"{event_file}: no such file", EXIT_NOT_FOUND) from exc
    except json.JSONDecodeError as exc:
        raise CliError(f"{event_file} is not JSON: {exc}", EXIT_USAGE) from exc


def _in_moto(function: str, events: list[Any], region: str) -> tuple[list[Any], list[dict[str, Any]]]:
    try:
        from moto import mock_aws
    except ImportError as exc:  # moto comes with the dev extra
        raise CliError("invoking without --aws needs moto: pip install -e '.[dev]'", EXIT_USAGE) from exc
    from emr_dispatch import wiring
    from emr_dispatch_tools import moto_stack

    # Fake credentials come with moto; the SAM translator also wants a region. An AWS_ENDPOINT_URL (e.g. the
    # sandbox's) is set aside meanwhile: this moto is in-process and fresh, whatever the shell points at.
    endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with moto_stack.set_environment({"AWS_DEFAULT_REGION": region}), mock_aws():
            wiring.reset()
            try:
                stack = moto_stack.deploy_with_engines(MOTO_STACK_NAME, region=region)
                if function == "TrackerFunction":
                    # The engine events in events/ name a cluster: it exists, with its job in the ledger (the one
                    # events/s3-put-classic.json starts), as it would in the account they came from.
                    with diverted_logs(logging.NullHandler()):
                        moto_stack.seed_sample_job(stack)
                return _run(stack, function, events)
            finally:
                wiring.reset()
    finally:
        if endpoint is not None:
            os.environ["AWS_ENDPOINT_URL"] = endpoint


def _run(stack: Any, function: str, events: list[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The handler's logs go to stderr (as `sam local invoke` prints them), keeping stdout for the results."""
    from emr_dispatch.observability import logger

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logger.registered_formatter)
    results = []
    with diverted_logs(handler):
        for event in events:
            try:
                results.append(stack.invoke(function, event))
            except Exception as exc:
                # What Lambda reports for a function error (the handler raised): its type and message, not
                # a traceback (the function's own log line above has it).
                raise CliError(f"{function} failed: {type(exc).__name__}: {exc}", EXIT_FUNCTION_FAILED) from exc
    return results, list(stack.emf)
