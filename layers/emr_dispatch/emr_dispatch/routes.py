"""Routes: which files start which job. Validated once at load, with errors naming route and field."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from emr_dispatch.engines import DECLARATIONS, ENGINE_NAMES, declaration
from emr_dispatch.errors import RoutesError
from emr_dispatch.key_rules import key_refusal, steps_key_refusal
from emr_dispatch.limits import OWN_TAGS
from emr_dispatch.locations import MANIFEST_PREFIX
from emr_dispatch.placeholders import (
    STATIC_PLACEHOLDERS,
    placeholders_in,
    render_prefix,
)
from emr_dispatch.route_limits import limit_problems
from emr_dispatch.route_parts import RETRY_CAUSES as RETRY_CAUSES
from emr_dispatch.route_parts import Batching as Batching
from emr_dispatch.route_parts import Match as Match
from emr_dispatch.route_parts import OnEnd, S3Template
from emr_dispatch.route_parts import RetryCause as RetryCause
from emr_dispatch.route_parts import RetryPolicy as RetryPolicy
from emr_dispatch.route_parts import RouteModel as _Model
from emr_dispatch.route_parts import SparkJob as SparkJob
from emr_dispatch.route_parts import check_template as _check_template
from emr_dispatch.route_steps import Step, job_as_steps

RouteName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


ENGINES = ENGINE_NAMES
"""Every engine a route may name (the values of Route.engine): the registry's (emr_dispatch.engines)."""

if TYPE_CHECKING:
    EngineName = str
else:
    EngineName = Literal[ENGINE_NAMES]  # a route names an engine the registry knows; the error lists them


class RouteFields(_Model):
    """A route without its engine sections: ``Route`` adds one optional section per engine, of the settings model
    the engine declares (engines/<engine>/route_settings.py), under the key ``engine: a-b`` → ``a_b:``."""

    name: RouteName
    description: str = ""
    match: Match
    engine: EngineName
    job: SparkJob | None = Field(default=None, description="one Spark application (the same as one spark step)")
    steps: list[Step] | None = Field(
        default=None, min_length=1, max_length=256, description="an ordered list of steps, instead of job"
    )
    output: S3Template | None = Field(default=None, description="rendered into {output_uri}")
    timeout_minutes: int = Field(default=120, ge=1, le=10080)
    max_concurrent: int | None = Field(default=None, ge=1, le=1000, description="jobs of this route at once")
    batching: Batching = Field(default_factory=Batching)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    on_end: OnEnd = Field(default_factory=OnEnd)
    tags: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict
    )

    if TYPE_CHECKING:

        def __getattr__(self, section: str) -> Any:
            """The engine sections, added from the engines' declarations (read them with engine_settings())."""

    def engine_settings(self) -> BaseModel | None:
        """The section of the route's own engine (validation makes it present)."""
        section: BaseModel | None = getattr(self, declaration(self.engine).section)
        return section

    def snapshot(self) -> str:
        """The route as a job carries it (JSON): everything needed to start, track, retry and time out the job
        if the route is later edited or removed (docs/decisions.md)."""
        return self.model_dump_json()

    def run_steps(self) -> tuple[Step, ...]:
        """The steps a job of this route runs, in order: ``steps``, or ``job`` as one Spark step named after the
        route (its EMR step name stays ``emr-dispatch-<route>``)."""
        if self.steps is not None:
            return tuple(self.steps)
        if self.job is None:  # unreachable for a validated route: it has job or steps
            raise RoutesError([f"route {self.name!r}: job, steps: give exactly one"], "route")
        return job_as_steps(self.job, self.name)

    def refuses_key(self, key: str) -> str | None:
        """Why this route refuses an object key, or None: where its steps put the key (key_rules.py), then what its
        engine refuses (its declaration's key_check: EMR Serverless, a key a Hive variable cannot carry)."""
        refused = steps_key_refusal(self.run_steps(), key)
        if refused:
            return refused
        key_check = declaration(self.engine).key_check
        return key_check(self.run_steps(), key) if key_check else None

    def writes(self) -> list[tuple[str, str, str | None]]:
        """(what, s3:// location template, suffix of every file written there if known) of this route's jobs."""
        written: list[tuple[str, str, str | None]] = [
            ("engine logs", declaration(self.engine).log_uri("{work_bucket}"), ".gz")
        ]
        written += [
            (what, f"s3://{{work_bucket}}/{prefix}", None) for what, prefix in declaration(self.engine).work_prefixes
        ]
        if self.output:
            written.insert(0, ("output", self.output, None))
        if self.batching.mode == "batch":
            written.append(("input manifests", f"s3://{{work_bucket}}/{MANIFEST_PREFIX}", ".json"))
        return written + [(what, location, None) for what, location in self.step_writes()]

    def step_writes(self) -> list[tuple[str, str]]:
        """(what, s3:// location template) its steps write beyond the output, on any engine: a Hive step's
        scratch, warehouse and other directories its hiveconf sets (the engine's defaults are its work_prefixes)."""
        return [
            (f"step {step.name!r} hiveconf {name}", location)
            for step in self.run_steps()
            if step.hive is not None
            for name, location in step.hive.written_locations(self.output)
        ]

    @model_validator(mode="after")
    def _job_or_steps(self) -> RouteFields:
        """Exactly one of job and steps, and only steps the route's engine runs (its declaration says which)."""
        if (self.job is None) == (self.steps is None):
            raise ValueError("job, steps: give exactly one (job: one Spark application; steps: an ordered list)")
        if self.steps is not None:
            names = [step.name for step in self.steps]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"steps: step names must be unique in a route (used twice: {', '.join(twice)})")
            declared = declaration(self.engine)
            problems = declared.steps_problems(self.engine_settings(), self.steps)
            problems += declared.route_check(self) if declared.route_check else []
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _engine_settings_present(self) -> RouteFields:
        sections = {declared.name: getattr(self, declared.section) for declared in DECLARATIONS}
        if sections[self.engine] is None:
            raise ValueError(f"engine {self.engine} needs an {declaration(self.engine).section} section")
        others = [declaration(name).section for name, section in sections.items() if section and name != self.engine]
        if others:
            raise ValueError(f"engine is {self.engine} but the route also has {', '.join(others)}")
        if self.output is not None:
            _check_template(self.output, STATIC_PLACEHOLDERS - {"output_uri"}, "output", "")
        used = {
            name
            for step in self.run_steps()
            for _, argument in step.data_arguments()
            for name in placeholders_in(argument)
        }
        if self.batching.mode == "batch" and used & {"key", "input_uri", "bucket"}:
            raise ValueError("a batch job has many inputs: pass {inputs_manifest_uri}, not {key}/{input_uri}/{bucket}")
        if self.batching.mode != "batch" and "inputs_manifest_uri" in used:
            raise ValueError("{inputs_manifest_uri} is only set for routes with batching mode batch")
        reserved = {key for key in self.tags if key in OWN_TAGS or key.startswith("aws:")}
        if reserved:
            raise ValueError(f"tags use reserved keys: {', '.join(sorted(reserved))}")
        return self

    @model_validator(mode="after")
    def _fits_engine_limits(self) -> RouteFields:
        """What the engine's API would refuse at every start, refused once here (route_limits.py)."""
        problems = limit_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _with_engine_sections(fields: type[RouteFields]) -> type[RouteFields]:
    """The route model: the fields every route has, then one optional section per declared engine."""
    sections: dict[str, Any] = {declared.section: (declared.settings_model() | None, None) for declared in DECLARATIONS}
    route: type[RouteFields] = create_model("Route", __base__=fields, __module__=__name__, **sections)
    return route


if TYPE_CHECKING:
    Route = RouteFields
else:
    Route = _with_engine_sections(RouteFields)


class StartRate(_Model):
    """How fast the launcher starts jobs on an engine (a token bucket held in the ledger, shared by every
    launcher): at most ``burst`` at once, then ``per_second``. Set it to the account's quota of the engine's
    start API; raise it when AWS raises the quota (README "Bursts and quotas")."""

    per_second: float = Field(gt=0, le=1000, description="starts per second, sustained")
    burst: int = Field(default=1, ge=1, le=10000, description="starts at once after a quiet time")


DEFAULT_START_RATES: dict[EngineName, StartRate] = {
    # Each engine declares its start API's default quota (FACTS.md, issue 14); an engine without one is not paced
    # unless the routes file sets it (throttles still wait).
    declared.name: StartRate(per_second=declared.start_per_second, burst=declared.start_burst)
    for declared in DECLARATIONS
    if declared.start_per_second is not None
}


class RoutesFile(_Model):
    version: Literal[1] = 1
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=10000, description="jobs of all routes at once")
    start_rates: dict[EngineName, StartRate] = Field(
        default_factory=lambda: dict(DEFAULT_START_RATES),
        description="per engine: how fast jobs are started (defaults: the AWS default quotas)",
    )
    routes: list[Route] = Field(min_length=1)

    def warnings(self) -> list[str]:
        """What is valid but may surprise a user in a burst (``emr-dispatch routes check`` prints them)."""
        found = []
        for route in self.routes:
            burst = declaration(route.engine).per_object_burst  # the engine says what a burst costs it
            if burst and route.batching.mode == "per-object" and route.max_concurrent is None:
                overall = (
                    f"only the overall max_concurrent_jobs ({self.max_concurrent_jobs})"
                    if self.max_concurrent_jobs
                    else "nothing"
                )
                found.append(f"route {route.name!r}: {burst.format(overall=overall)}: set max_concurrent")
        return found

    def start_rate(self, engine: str) -> StartRate | None:
        """The pace of starts on an engine: the file's, else the default (None: not paced)."""
        for rates in (self.start_rates, DEFAULT_START_RATES):
            for name, rate in rates.items():
                if name == engine:
                    return rate
        return None

    @model_validator(mode="after")
    def _unique_names(self) -> RoutesFile:
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"route name {route.name!r} is used twice")
            seen.add(route.name)
        return self

    @model_validator(mode="after")
    def _no_loops(self) -> RoutesFile:
        """No route may write (output, engine logs) where any route, itself included, takes inputs."""
        loops = []
        for writer in self.routes:
            for what, location, file_suffix in writer.writes():
                for reader in self.routes:
                    if reader.match.could_take(location, file_suffix):
                        loops.append(
                            f"route {writer.name!r}: {what} {location} could be matched by route {reader.name!r} "
                            f"(bucket {reader.match.bucket or 'any'}, prefix {reader.match.prefix!r}"
                            + (f", glob {reader.match.glob!r}" if reader.match.glob else "")
                            + ") — an S3 → EMR → S3 loop"
                        )
        if loops:
            raise ValueError("; ".join(loops))
        return self

    def decide(self, bucket: str, key: str, work_bucket: str) -> RouteDecision:
        """The route that takes an object, or why none does: an object emr-dispatch's jobs wrote (invariant 7,
        at run time), a key refused as unsafe (invariant 6), or no matching route."""
        written = self.written_by(bucket, key, work_bucket)
        if written:
            return RouteDecision(None, f"under {written}: emr-dispatch's own writes are never inputs")
        refused = key_refusal(key)
        if refused:
            return RouteDecision(None, refused)
        route = self.match(bucket, key)
        if route is None:
            return RouteDecision(None, "no route matches")
        refused = route.refuses_key(key)
        return RouteDecision(None, refused) if refused else RouteDecision(route)

    def written_by(self, bucket: str, key: str, work_bucket: str) -> str | None:
        """What emr-dispatch writes where this object lies (a route's output, engine logs, batch manifests),
        or None. The routes check keeps inputs away from these; this catches what it could not foresee."""
        locations = [(f"{declared.name} logs", declared.log_uri(work_bucket)) for declared in DECLARATIONS]
        locations += [
            (f"{declared.name} {what}", f"s3://{work_bucket}/{prefix}")
            for declared in DECLARATIONS
            for what, prefix in declared.work_prefixes
        ]
        locations.append(("input manifests", f"s3://{work_bucket}/{MANIFEST_PREFIX}"))
        for route in self.routes:
            known = {"work_bucket": work_bucket, "route": route.name}
            if route.output:
                locations.append((f"the output of route {route.name!r}", _known_location(route.output, known)))
            for what, location in route.step_writes():
                locations.append((f"route {route.name!r} {what}", _known_location(location, known)))
        for what, location in locations:
            written_bucket, _, prefix = location.removeprefix("s3://").partition("/")
            if written_bucket in (bucket, "") and key.startswith(prefix):
                return f"{what} ({location})"
        return None

    def match(self, bucket: str, key: str) -> Route | None:
        """The first route, in file order, whose match takes this object."""
        for route in self.routes:
            if route.match.matches(bucket, key):
                return route
        return None

    def get(self, name: str) -> Route | None:
        return next((route for route in self.routes if route.name == name), None)


@dataclass(frozen=True)
class RouteDecision:
    """Which route takes an arrival; when none does, the reason it is skipped."""

    route: Route | None
    reason: str = ""


def _known_location(template: str, known: dict[str, str]) -> str:
    """s3://bucket/prefix of a location template as far as it is known before a job runs; an unknown bucket
    is left empty (any bucket)."""
    bucket_template, _, key_template = template.removeprefix("s3://").partition("/")
    bucket = render_prefix(bucket_template, known)
    bucket = bucket if render_prefix(bucket_template + "/", known).endswith("/") else ""
    return f"s3://{bucket}/{render_prefix(key_template, known)}"


def parse_routes(raw: Any, source: str = "routes file") -> RoutesFile:
    """Validate a parsed routes document; raise RoutesError naming each bad route and field."""
    try:
        return RoutesFile.model_validate(raw)
    except ValidationError as exc:
        raise RoutesError([_describe(error, raw) for error in exc.errors()], source) from exc


def load_routes_file(path: str | Path) -> RoutesFile:
    text = Path(path).read_text(encoding="utf-8")
    try:
        # libyaml's safe loader where PyYAML was built with it (its wheels are): the same documents, parsed
        # about ten times faster than the pure-Python one, at the launcher's cold start.
        raw = yaml.load(text, Loader=yaml.CSafeLoader) if yaml.__with_libyaml__ else yaml.safe_load(text)
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
