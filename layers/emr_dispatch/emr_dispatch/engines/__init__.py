"""The registry: which engines exist, built from their declarations. The only place that lists them.

Everything outside engines/ asks here (by a job's or route's engine name, or an event's source) instead of
naming an engine; tests/unit/test_engine_seam.py keeps it so. Adding an engine: a package with a DECLARATION
and an Engine, its line below, and its rules, roles and parameters in template.yaml.
"""

from __future__ import annotations

from emr_dispatch.engines import emr_ec2, emr_eks, emr_serverless
from emr_dispatch.engines.base import ActiveJobs, Engine, EngineEvent, Inspection, StartedJob
from emr_dispatch.engines.declaration import EngineDeclaration
from emr_dispatch.limits import TagRules
from emr_dispatch.settings import Settings

DECLARATIONS: tuple[EngineDeclaration, ...] = (emr_ec2.DECLARATION, emr_serverless.DECLARATION, emr_eks.DECLARATION)
"""Every engine, in the order routes, reports and error messages list them."""

ENGINE_NAMES: tuple[str, ...] = tuple(declared.name for declared in DECLARATIONS)
"""Every engine a route may name (the values of Route.engine)."""

EVENT_SOURCES = {declared.event_source: declared.name for declared in DECLARATIONS}
"""EventBridge source → engine name."""

LOG_PREFIXES = {declared.name: declared.log_prefix for declared in DECLARATIONS}
"""Key prefix, in the work bucket, of each engine's logs."""

NAME_MAX = {declared.name: declared.limits.name_max for declared in DECLARATIONS}
ENTRY_POINT_MAX = {declared.name: declared.limits.entry_point_max for declared in DECLARATIONS}
ARGUMENT_MAX = {declared.name: declared.limits.argument_max for declared in DECLARATIONS}
TAG_RULES: dict[str, TagRules] = {declared.name: declared.limits.tags for declared in DECLARATIONS}

__all__ = [
    "DECLARATIONS",
    "ENGINE_NAMES",
    "EVENT_SOURCES",
    "LOG_PREFIXES",
    "ActiveJobs",
    "Engine",
    "EngineDeclaration",
    "EngineEvent",
    "Inspection",
    "StartedJob",
    "build_engines",
    "declaration",
]


def declaration(name: str) -> EngineDeclaration:
    """The declaration of an engine by name; KeyError naming the known ones for any other."""
    for declared in DECLARATIONS:
        if declared.name == name:
            return declared
    raise KeyError(f"unknown engine {name!r} (known: {', '.join(ENGINE_NAMES)})")


def build_engines(settings: Settings, active_jobs: ActiveJobs) -> dict[str, Engine]:
    """Every engine, each with its client created lazily (only when first used)."""
    return {declared.name: declared.build(settings, active_jobs) for declared in DECLARATIONS}
