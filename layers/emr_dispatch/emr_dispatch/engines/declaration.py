"""What an engine declares about itself: everything the rest of emr-dispatch may know about it.

Each engine package holds one ``DECLARATION``; the registry (``emr_dispatch.engines``) is built from them, and
code outside ``engines/`` reads engines only through it (tests/unit/test_engine_seam.py). template.yaml stays
the single source of truth for names: a test compares its EventBridge rules with these declarations.
Pure data and small functions: importing a declaration loads neither pydantic nor boto3.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emr_dispatch.limits import TagRules

if TYPE_CHECKING:
    from pydantic import BaseModel

    from emr_dispatch.engines.base import ActiveJobs, Engine
    from emr_dispatch.settings import Settings


@dataclass(frozen=True)
class ApiLimits:
    """The engine's start API limits that values derived from routes, keys and tags must respect (limits.py)."""

    name_max: int  # the started resource's name
    entry_point_max: int  # EntryPointPath (or the step argument holding it)
    argument_max: int | None  # one application argument; None: the model sets none
    tags: TagRules
    step_total_max: int | None = None  # all of one step's arguments together (EMR's HadoopJarStep); None: no limit


@dataclass(frozen=True)
class FailureCauses:
    """The engine's reason codes a second attempt can fix, by cause (retries.py reads every engine's)."""

    capacity: frozenset[str] = frozenset()
    spot: frozenset[str] = frozenset()  # Spot capacity could not be had or was lost
    spot_if_route_uses_spot: frozenset[str] = frozenset()  # capacity codes that mean Spot on a Spot route
    internal: frozenset[str] = frozenset()
    internal_if_message_says: tuple[str, ...] = ()  # code prefixes with no cause of their own: read the message


@dataclass(frozen=True)
class StackSetting:
    """A value of the stack the engine reads from its function's environment (template.yaml sets it)."""

    variable: str  # environment variable
    default: str = ""
    shown_as: str = ""  # what `routes explain` prints without a deployed stack (the template's name for it)


def stack_setting(settings: Settings, setting: StackSetting) -> str:
    """The stack's value of an engine's setting (its default when the function's environment has none)."""
    return settings.engine_settings.get(setting.variable, setting.default)


@dataclass(frozen=True)
class RetryChange:
    """What a retry of the engine changes for the next attempt, given the route's engine settings and the cause."""

    launch_options: Callable[[Any, str], dict[str, str]]  # (engine settings, cause) → options of the next attempt
    describe: Callable[[Mapping[str, str]], str]  # launch options → words for the retry notice ("" if none)
    uses_spot: Callable[[Any], bool]  # whether the route's engine settings ask for Spot capacity


def _no_options(settings: Any, cause: str) -> dict[str, str]:
    return {}


def _no_words(options: Mapping[str, str]) -> str:
    return ""


def _no_spot(settings: Any) -> bool:
    return False


UNCHANGED = RetryChange(_no_options, _no_words, _no_spot)
"""A retry that starts the same request again (a new attempt: new name, new client token)."""


@dataclass(frozen=True)
class EngineDeclaration:
    """One engine, as the rest of emr-dispatch knows it."""

    name: str  # a route's `engine:` and a job's engine
    event_source: str  # EventBridge source of its state-change events
    services: tuple[str, ...]  # the AWS services it calls (boto3 and IAM names): only the engine calls them
    detail_types: tuple[str, ...]  # the detail-types the tracker parses (template.yaml's rules match these)
    route_settings: str  # "module:Model" of the route's engine section (pydantic: loaded only with routes)
    engine_class: str  # "module:factory(settings, active_jobs)" building the engine
    log_prefix: str  # key prefix, in the work bucket, of its logs
    limits: ApiLimits
    failure_causes: FailureCauses = field(default_factory=FailureCauses)
    retry: RetryChange = UNCHANGED
    stack_settings: tuple[StackSetting, ...] = ()
    # The AWS default quota of its start API (docs/decisions.md): at most ``start_burst`` at once, then
    # ``start_per_second``; None: not paced unless the routes file sets a rate.
    start_per_second: float | None = None
    start_burst: int = 1
    per_object_burst: str = ""  # what a burst does to an uncapped per-object route ({overall}: the overall cap)
    label: str = ""  # how people call it ("EMR on EC2")
    # The step kinds (route_steps.STEP_KINDS) its start request can run, and how many steps one job may have;
    # ``steps_check`` (engine settings, steps) → what else the engine refuses in a route's steps (EMR on EC2: actions
    # on failure against step concurrency). Without one, a step's action_on_failure must stay the default.
    step_kinds: tuple[str, ...] = ("spark",)
    max_steps: int = 1
    steps_check: Callable[[Any, Sequence[Any]], list[str]] | None = None
    # ``key_check`` (steps, key) → why the engine refuses an object key for these steps (None: it takes it); the
    # object is skipped with the reason when it arrives (EMR Serverless: a Hive variable's one-string parameters).
    key_check: Callable[[Sequence[Any], str], str | None] | None = None
    # ``route_check`` (route) → what every start of a route's steps would be refused for, seen with the whole route
    # (EMR Serverless: a Hive parameter holding {output_uri} is one word only if the route's output is).
    route_check: Callable[[Any], list[str]] | None = None
    # Other key prefixes of the work bucket its jobs write (what, prefix): never inputs, like its logs.
    work_prefixes: tuple[tuple[str, str], ...] = ()

    def steps_problems(self, settings: Any, steps: Sequence[Any], given: bool = True) -> list[str]:
        """Why this engine cannot run these steps (route_steps.Step), naming each field; empty: it can. ``given``:
        the route wrote ``steps:`` (the single-job form is one Spark step, which every engine runs)."""
        problems = [
            f"steps[{index}].{step.kind}: {self.name} runs {' and '.join(self.step_kinds)} steps only"
            for index, step in enumerate(steps)
            if step.kind not in self.step_kinds
        ]
        if len(steps) > self.max_steps:
            plural = "s" if self.max_steps > 1 else ""
            problems.append(f"steps: {self.name} runs at most {self.max_steps} step{plural} per job (got {len(steps)})")
        if self.steps_check is not None:
            problems += self.steps_check(settings, steps) if given else []
        else:
            problems += [
                f"steps[{index}].action_on_failure: {self.name} has no action on failure (EMR on EC2 steps have)"
                for index, step in enumerate(steps)
                if step.action_on_failure != "terminate_cluster"
            ]
        return problems

    @property
    def section(self) -> str:
        """The route's key for this engine's settings: the name with underscores (``engine: a-b`` → ``a_b:``)."""
        return self.name.replace("-", "_")

    def log_uri(self, work_bucket: str) -> str:
        return f"s3://{work_bucket}/{self.log_prefix}"

    def settings_model(self) -> type[BaseModel]:
        model: type[BaseModel] = _load(self.route_settings)
        return model

    def build(self, settings: Settings, active_jobs: ActiveJobs) -> Engine:
        engine: Engine = _load(self.engine_class)(settings, active_jobs)
        return engine


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
