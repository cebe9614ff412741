"""Routes: which files start which job. Validated once at load, with errors naming route and field."""

from __future__ import annotations

import fnmatch
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emr_dispatch.errors import RoutesError
from emr_dispatch.placeholders import (
    ALL_PLACEHOLDERS,
    STATIC_PLACEHOLDERS,
    placeholders_in,
    unknown_braces,
)

RouteName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
S3Template = Annotated[str, Field(pattern=r"^s3://")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Model):
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


class SparkJob(_Model):
    """The Spark application a route runs; the same shape for every engine."""

    entry_point: S3Template
    arguments: list[str] = Field(default_factory=list)
    spark_submit_parameters: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_placeholders(self) -> SparkJob:
        for where, text in [("entry_point", self.entry_point)] + [
            (f"spark_submit_parameters[{i}]", p) for i, p in enumerate(self.spark_submit_parameters)
        ]:
            _check_template(text, STATIC_PLACEHOLDERS, where, "input placeholders are only allowed in arguments")
        for i, argument in enumerate(self.arguments):
            _check_template(argument, ALL_PLACEHOLDERS, f"arguments[{i}]", "")
        return self


class InstanceGroup(_Model):
    instance_type: str = Field(pattern=r"^[a-z0-9]+[a-z0-9-]*\.[a-z0-9]+$")
    count: int = Field(default=1, ge=1, le=256)
    market: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"


class Ec2Instances(_Model):
    primary: InstanceGroup
    core: InstanceGroup | None = None

    @model_validator(mode="after")
    def _single_primary(self) -> Ec2Instances:
        if self.primary.count != 1:
            raise ValueError("primary.count must be 1 (one primary node)")
        return self


class EmrEc2Settings(_Model):
    release_label: str = Field(pattern=r"^emr-\d+\.\d+\.\d+$")
    applications: list[str] = Field(default_factory=lambda: ["Spark"], min_length=1)
    instances: Ec2Instances
    idle_timeout_seconds: int = Field(default=600, ge=60, le=604800)
    ebs_root_volume_size_gb: int | None = Field(default=None, ge=15, le=100)


class Route(_Model):
    name: RouteName
    description: str = ""
    match: Match
    engine: Literal["emr-ec2"]
    emr_ec2: EmrEc2Settings | None = None
    job: SparkJob
    output: S3Template | None = Field(default=None, description="rendered into {output_uri}")
    timeout_minutes: int = Field(default=120, ge=1, le=10080)
    tags: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _engine_settings_present(self) -> Route:
        if self.engine == "emr-ec2" and self.emr_ec2 is None:
            raise ValueError("engine emr-ec2 needs an emr_ec2 section")
        if self.output is not None:
            _check_template(self.output, STATIC_PLACEHOLDERS - {"output_uri"}, "output", "")
        reserved = {key for key in self.tags if key in {"managed-by", "route", "job-id"} or key.startswith("aws:")}
        if reserved:
            raise ValueError(f"tags use reserved keys: {', '.join(sorted(reserved))}")
        return self


class RoutesFile(_Model):
    version: Literal[1] = 1
    routes: list[Route] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> RoutesFile:
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"route name {route.name!r} is used twice")
            seen.add(route.name)
        return self

    def match(self, bucket: str, key: str) -> Route | None:
        """The first route, in file order, whose match takes this object."""
        for route in self.routes:
            if route.match.matches(bucket, key):
                return route
        return None

    def get(self, name: str) -> Route | None:
        return next((route for route in self.routes if route.name == name), None)


def _check_template(text: str, allowed: frozenset[str], where: str, hint: str) -> None:
    if unknown_braces(text):
        raise ValueError(f"{where}: unbalanced brace (write {{{{ or }}}} for a literal brace)")
    unknown = placeholders_in(text) - allowed
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        raise ValueError(f"{where}: placeholder {names} not allowed here{'; ' + hint if hint else ''}")


def parse_routes(raw: Any, source: str = "routes file") -> RoutesFile:
    """Validate a parsed routes document; raise RoutesError naming each bad route and field."""
    try:
        return RoutesFile.model_validate(raw)
    except ValidationError as exc:
        raise RoutesError([_describe(error, raw) for error in exc.errors()], source) from exc


def load_routes_file(path: str | Path) -> RoutesFile:
    text = Path(path).read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutesError([f"not valid YAML: {exc}"], str(path)) from exc
    return parse_routes(raw, str(path))


@cache
def load_routes(path: str) -> RoutesFile:
    """Routes of this container, read and validated once."""
    return load_routes_file(path)


def _describe(error: Any, raw: Any) -> str:
    location = list(error["loc"])
    message = error["msg"]
    if len(location) >= 2 and location[0] == "routes" and isinstance(location[1], int):
        index = location[1]
        name = _route_name(raw, index)
        field = ".".join(str(part) for part in location[2:]) or "(route)"
        return f"route {name!r}: {field}: {message}"
    field = ".".join(str(part) for part in location) or "(file)"
    return f"{field}: {message}"


def _route_name(raw: Any, index: int) -> str:
    try:
        name = raw["routes"][index].get("name")
    except (KeyError, IndexError, TypeError, AttributeError):
        name = None
    return str(name) if name else f"#{index + 1}"
