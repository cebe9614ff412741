"""emr-dispatch: look at jobs, retry, cancel and replay them, check and explain routes, redrive dead letters,
and run a function locally (the command tree; each group lives in its own module)."""

from __future__ import annotations

import typer

from emr_dispatch_tools.cli.common import (
    EXIT_AWS,
    EXIT_CODES,
    EXIT_INVALID_ROUTES,
    EXIT_NO_CREDENTIALS,
    EXIT_NO_STACK,
    EXIT_NOT_FOUND,
    EXIT_NOTHING_DONE,
    EXIT_REFUSED,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
)
from emr_dispatch_tools.cli.dlq import dlq_app
from emr_dispatch_tools.cli.doctor import doctor
from emr_dispatch_tools.cli.invoke import invoke
from emr_dispatch_tools.cli.jobs import jobs_app
from emr_dispatch_tools.cli.replay import replay
from emr_dispatch_tools.cli.routes import routes_app

__all__ = [
    "EXIT_AWS",
    "EXIT_CODES",
    "EXIT_INVALID_ROUTES",
    "EXIT_NOTHING_DONE",
    "EXIT_NOT_FOUND",
    "EXIT_NO_CREDENTIALS",
    "EXIT_NO_STACK",
    "EXIT_REFUSED",
    "EXIT_UNHEALTHY",
    "EXIT_USAGE",
    "app",
    "main",
]

HELP = "\n\n".join(
    [
        "emr-dispatch: look at jobs, retry, cancel and replay them, check and explain routes, redrive dead letters,"
        " and run a function locally.",
        "Talks to a deployed stack (--stack, $EMR_DISPATCH_STACK or samconfig.toml's stack_name) with the usual AWS"
        " environment (AWS_PROFILE / --profile, AWS_REGION / --region, AWS_ENDPOINT_URL)."
        " Every command takes --output json for scripts.",
        "Exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + ".",
    ]
)

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False)
app.add_typer(jobs_app, name="jobs")
app.add_typer(routes_app, name="routes")
app.add_typer(dlq_app, name="dlq")
app.command("replay")(replay)
app.command("invoke")(invoke)
app.command("doctor")(doctor)


def main() -> None:
    app()
