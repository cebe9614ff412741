"""The parts a route is made of: which objects it takes (Match), the Spark job, batching, the retry policy, and
what every part is built from (the strict model base, S3 location templates, the placeholder check).

routes.py and the engines' route settings (engines/<engine>/route_settings.py) share these; loaded with the
routes file only (pydantic), never by the tracker."""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emr_dispatch.placeholders import ALL_PLACEHOLDERS, STATIC_PLACEHOLDERS, placeholders_in, unknown_braces

S3Template = Annotated[str, Field(pattern=r"^s3://")]
ReleaseLabel = Annotated[str, Field(pattern=r"^emr-\d+\.\d+\.\d+(-latest)?$")]


class RouteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(text: str, allowed: frozenset[str], where: str, hint: str) -> None:
    if unknown_braces(text):
        raise ValueError(f"{where}: unbalanced brace (write {{{{ or }}}} for a literal brace)")
    unknown = placeholders_in(text) - allowed
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        raise ValueError(f"{where}: placeholder {names} not allowed here{'; ' + hint if hint else ''}")


class Match(RouteModel):
    """Which objects a route takes: all given conditions must hold."""

    bucket: str | None = None
    prefix: str = ""
    suffix: str | None = None
    glob: str | None = Field(default=None, description="fnmatch pattern on the whole key, e.g. raw/*/orders-*.csv")

    def matches(self, bucket: str, key: str) -> bool:
        if self.bucket is not None and bucket != self.bucket:
            return False
        if not key.startswith(self.prefix):
            return False
        if self.suffix is not None and not key.endswith(self.suffix):
            return False
        return self.glob is None or fnmatch.fnmatchcase(key, self.glob)

    def could_take(self, location: str, file_suffix: str | None = None) -> bool:
        """Whether objects written under an s3:// location template could match. Conservative: unknown
        parts (placeholders, wildcards, names of files a job writes) are assumed to match. The stack's
        own work bucket ({work_bucket}) is never a bucket a route names."""
        bucket, _, key = location.removeprefix("s3://").partition("/")
        if self.bucket is not None and ("{work_bucket}" in bucket or ("{" not in bucket and bucket != self.bucket)):
            return False
        if file_suffix and self.suffix and not (self.suffix.endswith(file_suffix) or file_suffix.endswith(self.suffix)):
            return False
        written = key.split("{", 1)[0]
        taken = self.prefix
        if self.glob:
            glob_static = re.split(r"[*?\[]", self.glob, maxsplit=1)[0]
            taken = max(taken, glob_static, key=len) if glob_static.startswith(taken) else taken
        return written.startswith(taken) or taken.startswith(written)


class SparkJob(RouteModel):
    """The Spark application a route runs; the same shape for every engine."""

    entry_point: S3Template
    arguments: list[str] = Field(default_factory=list)
    spark_submit_parameters: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_placeholders(self) -> SparkJob:
        for where, text in [("entry_point", self.entry_point)] + [
            (f"spark_submit_parameters[{i}]", p) for i, p in enumerate(self.spark_submit_parameters)
        ]:
            check_template(text, STATIC_PLACEHOLDERS, where, "input placeholders are only allowed in arguments")
        for i, argument in enumerate(self.arguments):
            check_template(argument, ALL_PLACEHOLDERS, f"arguments[{i}]", "")
        return self


class Batching(RouteModel):
    """How arrivals become jobs: one per object, many per window, or one per marker object."""

    mode: Literal["per-object", "batch", "marker"] = "per-object"
    window_seconds: int = Field(default=300, ge=10, le=900, description="batch: how long a batch stays open")
    max_count: int = Field(default=1000, ge=1, le=100000, description="batch: close early at this many inputs")
    max_bytes: int = Field(default=1024**4, ge=1, description="batch: close early at this many bytes")
    marker: str = Field(default="_SUCCESS", min_length=1, description="marker: the object that starts the job")


RetryCause = Literal["capacity", "spot", "internal"]
RETRY_CAUSES: tuple[RetryCause, ...] = ("capacity", "spot", "internal")
MAX_RETRY_DELAY_SECONDS = 900
"""Retries wait on a delayed SQS control message: SQS delays at most 15 minutes."""


class RetryPolicy(RouteModel):
    """When a failed attempt is tried again. Only causes a second try can fix are retried: capacity and
    instance failures, Spot loss, internal errors of the engine — never validation or user-code errors."""

    max_attempts: int = Field(default=2, ge=1, le=10, description="attempts in all, the first included")
    backoff_seconds: int = Field(default=60, ge=0, le=MAX_RETRY_DELAY_SECONDS, description="wait before attempt 2")
    backoff_rate: float = Field(default=2.0, ge=1.0, le=10.0, description="each later wait is this many times longer")
    causes: list[RetryCause] = Field(
        default_factory=lambda: list(RETRY_CAUSES),
        description="causes that are retried (not `on`: YAML reads it as true)",
    )

    def delay_before(self, attempt: int) -> int:
        """Seconds to wait before starting ``attempt`` (2 or more), capped at SQS's longest delay."""
        delay = self.backoff_seconds * self.backoff_rate ** max(attempt - 2, 0)
        return int(min(delay, MAX_RETRY_DELAY_SECONDS))


class OnEnd(RouteModel):
    """What emr-dispatch does when a job ends, whatever its end (tagging.py)."""

    tag_inputs: bool = Field(
        default=False,
        description=(
            "when a job ends, tag each input object version with emr-dispatch-state and emr-dispatch-job, "
            "merged with the tags it has"
        ),
    )
