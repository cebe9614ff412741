"""The work a route runs, as an ordered list of steps: a Spark application, a Hive script or a command.

A route gives either ``job:`` (one Spark application, the form every route had first) or ``steps:`` (an ordered
list). Which kinds and how many steps an engine runs is the engine's to say (its declaration); these models only
say what a step is and keep the placeholder guarantee: a value derived from an object key is data only — an
application argument after the entry point, a command argument after the program, or the value of a Hive
variable — never an option, a program, a script or a parameter. Loaded with the routes file only (pydantic).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from emr_dispatch.placeholders import ALL_PLACEHOLDERS, INPUT_PLACEHOLDERS, STATIC_PLACEHOLDERS, placeholders_in
from emr_dispatch.route_parts import RouteModel, S3Template, SparkJob, check_template

StepKind = Literal["spark", "hive", "command"]
STEP_KINDS: tuple[StepKind, ...] = ("spark", "hive", "command")

ActionOnFailure = Literal["terminate_cluster", "cancel_and_wait", "continue"]
"""What EMR on EC2 does when the step fails (StepConfig.ActionOnFailure, lower-cased; TERMINATE_JOB_FLOW is the
deprecated spelling of TERMINATE_CLUSTER and is not offered)."""

HiveVariableName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
HiveConfName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}$")]
StepName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\u0020-\ud7ff\ue000-\ufffd]+$")]
"""EMR StepConfig.Name: XmlStringMaxLen256 (botocore emr model), no line breaks here."""

_S3_SCHEMES = ("s3://", "s3a://", "s3n://")
_LOCATION_NAME = re.compile(r"(dir|directory|location)$")
"""A hiveconf property naming a directory Hive writes: the last part of its name ends in dir or location
(hive.exec.scratchdir, hive.metastore.warehouse.dir, hive.metastore.warehouse.external.dir, hive.querylog.location)."""

_INPUT_HINT = "input placeholders are only allowed where the value stays data"

_CODE_RUNNERS = re.compile(
    r"(?:sh|ash|bash|dash|ksh|mksh|zsh|csh|tcsh|fish|busybox|env|sudo|su|nohup|timeout|nice|xargs|eval|exec|ssh|find|awk|gawk|mawk|sed|"
    r"(?:python|pypy|perl|ruby|php|lua|node|java|scala|groovy|rscript|r)[0-9.]*|jshell|"
    r"hive|hive-script|beeline|hplsql|spark-sql|spark-submit|spark-shell|pyspark|sparkr|pig|presto|presto-cli|trino|"
    r"trino-cli|flink|sqlline|psql|mysql|sqlite3)"
)
"""Programs that read some argument as code, a script to run, or another program to start (shells, interpreters,
SQL clients, launchers like env/sudo/xargs, find -exec, sed's e command): no input placeholder in a command that
runs one (README "Step kinds"). Matched on the program's last path part, lower-cased, whole: a launcher (env,
sudo, xargs...) is itself refused, so the program it would start needs no look."""


class HiveStep(RouteModel):
    """A Hive script in S3. ``variables`` become ``-d NAME=value`` on EMR on EC2 (``--hivevar`` on EMR
    Serverless); ``hiveconf`` are Hive configuration properties. Only variable values may use input
    placeholders: ``NAME=value`` is one word Hive reads as a variable, never as an option."""

    script: S3Template
    init_script: S3Template | None = Field(default=None, description="a script run before the query (Hive -i)")
    variables: dict[HiveVariableName, str] = Field(default_factory=dict)
    hiveconf: dict[HiveConfName, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_placeholders(self) -> HiveStep:
        statics = [("script", self.script)] + ([("init_script", self.init_script)] if self.init_script else [])
        statics += [(f"hiveconf.{name}", value) for name, value in self.hiveconf.items()]
        for where, text in statics:
            check_template(text, STATIC_PLACEHOLDERS, where, _INPUT_HINT + " (hive.variables values)")
        for name, value in self.variables.items():
            check_template(value, ALL_PLACEHOLDERS, f"variables.{name}", "")
        return self

    def written_locations(self, output: str | None) -> list[tuple[str, str]]:
        """(property, s3:// location template) of every hiveconf directory in S3 this step's jobs write (the
        scratch and warehouse directories, any ``*dir`` or ``*location`` property): never inputs. ``output``: the
        route's output template, which ``{output_uri}`` stands for. Non-S3 values (HDFS, local) are no loop."""
        written = []
        for name, value in self.hiveconf.items():
            if not _LOCATION_NAME.search(name.rsplit(".", 1)[-1].lower()):
                continue
            location = value.replace("{output_uri}", output or "", 1) if value.startswith("{output_uri}") else value
            scheme = next((scheme for scheme in _S3_SCHEMES if location.lower().startswith(scheme)), None)
            if scheme is not None:
                written.append((name, "s3://" + location[len(scheme) :]))
        return written


class CommandStep(RouteModel):
    """A command run by EMR's command-runner.jar: ``command[0]`` is the program, the rest its arguments. Input
    placeholders are allowed in the arguments only, and not at all when the program is a shell, an interpreter, a
    SQL client or a launcher (``_CODE_RUNNERS``: ``bash -c``, ``hive -e``, ``python3 {key}`` would run the key
    as code, ``sudo``/``env``/``xargs`` start a program that may); one that begins an argument can make a key
    that begins with "-" read as an option, so such keys are refused at launch (Route.refuses_key)."""

    command: list[str] = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _check_placeholders(self) -> CommandStep:
        check_template(self.command[0], STATIC_PLACEHOLDERS, "command[0]", "the program is never input-derived")
        for index, argument in enumerate(self.command[1:], start=1):
            check_template(argument, ALL_PLACEHOLDERS, f"command[{index}]", "")
        runner = self.code_runner()
        holding = [i for i, a in enumerate(self.command) if placeholders_in(a) & INPUT_PLACEHOLDERS]
        if runner is not None and holding:
            raise ValueError(
                f"command[{holding[0]}]: input placeholders are refused in a command that runs {runner!r}, which"
                " may read an argument as code or as the script to run (a key is only ever data): use a spark"
                " step (arguments after the entry point) or a hive step's variables"
            )
        return self

    def code_runner(self) -> str | None:
        """The program when it may run an argument as code or a script, or start another program
        (``_CODE_RUNNERS``), else None."""
        program = self.command[0]
        return program if _CODE_RUNNERS.fullmatch(program.rsplit("/", 1)[-1].lower()) else None


class Step(RouteModel):
    """One step of a route: a name, what to do if it fails, and exactly one of spark, hive or command."""

    name: StepName
    action_on_failure: ActionOnFailure = Field(
        default="terminate_cluster", description="EMR on EC2 only: terminate_cluster, cancel_and_wait or continue"
    )
    spark: SparkJob | None = None
    hive: HiveStep | None = None
    command: CommandStep | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        given = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"step {self.name!r}: give exactly one of spark, hive or command (got {given or 'none'})")
        return self

    @property
    def kind(self) -> StepKind:
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    def data_arguments(self) -> list[tuple[str, str]]:
        """(where, template) of every place this step may put input-derived values, in order."""
        if self.spark is not None:
            return [(f"spark.arguments[{i}]", a) for i, a in enumerate(self.spark.arguments)]
        if self.hive is not None:
            return [(f"hive.variables.{name}", value) for name, value in self.hive.variables.items()]
        if self.command is not None:
            return [(f"command.command[{i}]", a) for i, a in enumerate(self.command.command) if i > 0]
        return []

    def scripts(self) -> list[str]:
        """The S3 templates of the code this step runs (the job role must read them): the Spark entry point, or
        the Hive script and init script; a command runs a program already on the cluster."""
        if self.spark is not None:
            return [self.spark.entry_point]
        if self.hive is not None:
            return [self.hive.script] + ([self.hive.init_script] if self.hive.init_script else [])
        return []

    def leading_arguments(self) -> list[str]:
        """Templates whose rendered value begins a word the program reads (a key beginning with "-" there
        would read as an option): Spark application arguments and command arguments, not Hive variables."""
        if self.spark is not None:
            return list(self.spark.arguments)
        if self.command is not None:
            return list(self.command.command[1:])
        return []


def job_as_steps(job: SparkJob, name: str) -> tuple[Step, ...]:
    """The single-``job`` form as steps: one Spark step that terminates the cluster if it fails."""
    return (Step(name=name, spark=job),)
