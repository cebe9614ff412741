"""What every command shares: which deployment it talks to, AWS errors as exit codes, and output.

A deployment is a CloudFormation stack (``--stack``, else $EMR_DISPATCH_STACK, else samconfig.toml's
stack_name): its outputs name the table, queues and functions, as template.yaml declares them. ``--table``
names a ledger table directly (the jobs commands need nothing else).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from emr_dispatch.errors import JobNotFoundError, JobStateError, LedgerError, RoutesError
from emr_dispatch.ledger import Ledger
from emr_dispatch.routes import RoutesFile, load_routes_file
from emr_dispatch_tools.logs import diverted_logs

if TYPE_CHECKING:
    import boto3

EXIT_OK = 0
EXIT_INVALID_ROUTES = 1
EXIT_USAGE = 2
EXIT_AWS = 3
EXIT_FUNCTION_FAILED = EXIT_AWS  # `invoke`: the function raised (Lambda would answer with a FunctionError)
EXIT_NOT_FOUND = 4  # the job, object or message asked for does not exist
EXIT_NO_CREDENTIALS = 5
EXIT_NO_STACK = 6  # the stack, or a table or queue it names, does not exist
EXIT_REFUSED = 7  # the job's state does not allow it (retry a running job, cancel an ended one)
EXIT_NOTHING_DONE = 8  # the command would change nothing (already paused, nothing to redrive, unrouted object)
EXIT_UNHEALTHY = 9  # `doctor` found something the deployment needs fixed

EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_INVALID_ROUTES: "invalid routes file",
    EXIT_USAGE: "usage error",
    EXIT_AWS: "AWS error (or the invoked function failed)",
    EXIT_NOT_FOUND: "not found (job, object)",
    EXIT_NO_CREDENTIALS: "no AWS credentials",
    EXIT_NO_STACK: "stack, table or queue missing",
    EXIT_REFUSED: "refused by the job's state",
    EXIT_NOTHING_DONE: "nothing to do (the command would change nothing)",
    EXIT_UNHEALTHY: "doctor found a problem",
}

# On a terminal, its width; piped (grep, less, a file), as wide as the content: a line is never broken.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
errors = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    table = "table"
    json = "json"


TableOption = Annotated[str | None, typer.Option("--table", envvar="EMR_DISPATCH_TABLE", help="Ledger table name.")]
StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack", envvar="EMR_DISPATCH_STACK", help="emr-dispatch stack (default: samconfig.toml's stack_name)."
    ),
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: the AWS environment's).")]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the AWS environment's).")]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table for people, json for scripts.")]
RoutesOption = Annotated[Path, typer.Option("--routes", help="Routes file (the one the stack's RoutesLayer ships).")]

DEFAULT_ROUTES = Path("config/routes.yaml")


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


P = ParamSpec("P")
R = TypeVar("R")


def command(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command, turning what went wrong into one line on stderr and an exit code scripts can trust."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = kwargs.get("output") is Output.json
        # The package's log lines (JSON meant for CloudWatch) go to stderr: stdout carries only the result.
        with diverted_logs(_stderr_handler()):
            try:
                return func(*args, **kwargs)
            except CliError as exc:
                raise _fail(exc.message, exc.code, as_json) from exc
            except JobNotFoundError as exc:
                raise _fail(str(exc), EXIT_NOT_FOUND, as_json) from exc
            except JobStateError as exc:
                raise _fail(str(exc), EXIT_REFUSED, as_json) from exc
            except LedgerError as exc:
                raise _fail(str(exc), _aws_exit_code(exc.__cause__) or EXIT_AWS, as_json) from exc
            except Exception as exc:
                code = _aws_exit_code(exc)
                if code is None:
                    raise
                raise _fail(_aws_message(exc, code), code, as_json) from exc

    return wrapper


def _stderr_handler() -> logging.Handler:
    from emr_dispatch.observability import logger

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logger.registered_formatter)
    # What the package logs in a function (INFO and up) is for CloudWatch; at the terminal, what went wrong.
    handler.setLevel(os.environ.get("EMR_DISPATCH_LOG_LEVEL", "WARNING").upper())
    return handler


def _aws_exit_code(exc: BaseException | None) -> int | None:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return EXIT_NO_CREDENTIALS
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        missing = code in ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            return EXIT_NOT_FOUND
        if missing or (code == "ValidationError" and "does not exist" in str(error.get("Message", ""))):
            return EXIT_NO_STACK
        if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"):
            return EXIT_NO_CREDENTIALS
        return EXIT_AWS
    if isinstance(exc, BotoCoreError):
        return EXIT_AWS
    return None


def _aws_message(exc: BaseException, code: int) -> str:
    if code == EXIT_NO_CREDENTIALS:
        return f"no usable AWS credentials ({exc}): set AWS_PROFILE or pass --profile"
    if code == EXIT_NO_STACK:
        return f"not found in this account and region: {exc}"
    if code == EXIT_NOT_FOUND:
        return f"not found: {exc}"
    return f"AWS refused or is unreachable: {exc}"


def _fail(message: str, code: int, as_json: bool = False) -> typer.Exit:
    if as_json:  # scripts read one JSON document, on stdout, whatever happened
        print_json({"error": message, "exit_code": code, "meaning": EXIT_CODES.get(code, "")})
    else:
        errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def nothing_done(message: str, output: Output, result: Any = None) -> typer.Exit:
    """A command that changed nothing says so (stderr, or the JSON result) and exits EXIT_NOTHING_DONE."""
    if output is Output.json:
        print_json(result if result is not None else {"nothing_done": message})
    else:
        errors.print(f"nothing done: {message}", highlight=False, markup=False)
    return typer.Exit(EXIT_NOTHING_DONE)


def print_table(table: Any) -> None:
    from emr_dispatch_tools.render import print_table as render_table

    render_table(console, table)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def default_stack_name(samconfig: Path = Path("samconfig.toml")) -> str | None:
    """The stack `sam deploy` uses from this directory, if there is a samconfig.toml."""
    if not samconfig.is_file():
        return None
    config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    name = config.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
    return str(name) if name else None


@dataclass
class Deployment:
    """One emr-dispatch deployment, as the CLI reaches it (one boto3 session, also used by the layer's adapters)."""

    session: boto3.session.Session
    stack: str | None
    table: str | None = None
    _outputs: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def connect(
        cls, stack: str | None, region: str | None, profile: str | None, table: str | None = None
    ) -> Deployment:
        import boto3

        from emr_dispatch import aws

        # As the AWS CLI resolves them: --profile, else AWS_PROFILE; --region, else AWS_REGION, else
        # AWS_DEFAULT_REGION, else the profile's region (boto3 alone does not read AWS_REGION).
        region = region or os.environ.get("AWS_REGION") or None
        # The layer's adapters create their clients from boto3's default session: make it this one.
        boto3.setup_default_session(profile_name=profile, region_name=region)
        aws.reset_clients()
        session = boto3.DEFAULT_SESSION
        if session is None or session.region_name is None:
            raise CliError("no AWS region: pass --region or set AWS_REGION", EXIT_USAGE)
        return cls(session, stack or (None if table else default_stack_name()), table)

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        return self.session.client(service)  # type: ignore[call-overload]

    @property
    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            if not self.stack:
                raise CliError("say which deployment: --stack NAME (or --table NAME for the ledger)", EXIT_USAGE)
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
            self._outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
        return self._outputs

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise CliError(f"stack {self.stack} has no {key} output: is it an emr-dispatch stack?", EXIT_NO_STACK)
        return self.outputs[key]

    @property
    def ledger_table(self) -> str:
        return self.table or self.output("LedgerTableName")

    def ledger(self) -> Ledger:
        return Ledger(self.ledger_table, self.client("dynamodb"))

    def function_environment(self, name_output: str) -> dict[str, str]:
        """The environment a deployed function runs with (what template.yaml set, resolved by CloudFormation)."""
        config = self.client("lambda").get_function_configuration(FunctionName=self.output(name_output))
        return dict(config.get("Environment", {}).get("Variables", {}))


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for people (nothing when stderr is not a terminal); yields ``advance(n)``."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def load_routes_or_exit(path: Path, output: Output = Output.table) -> RoutesFile:
    try:
        return load_routes_file(path)
    except FileNotFoundError as exc:
        raise CliError(f"{path}: no such file", EXIT_USAGE) from exc
    except RoutesError as exc:
        if output is Output.json:
            print_json({"file": str(path), "valid": False, "problems": list(exc.problems)})
            raise typer.Exit(EXIT_INVALID_ROUTES) from exc
        errors.print(f"[bold red]{exc.source} is invalid:[/]")
        for problem in exc.problems:
            errors.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID_ROUTES) from exc


def caller(deployment: Deployment) -> str:
    """Who asks (recorded on the job or pause): the caller's AWS identity."""
    identity: dict[str, Any] = deployment.client("sts").get_caller_identity()
    return str(identity.get("Arn", "operator"))
