"""Engines by name and by event source: the only place that knows which engines exist."""

from __future__ import annotations

from emr_dispatch import aws
from emr_dispatch.engines.base import Engine, EngineEvent, FailureReport, StartedJob
from emr_dispatch.settings import Settings

EVENT_SOURCES = {"aws.emr": "emr-ec2"}
"""EventBridge source → engine name."""

__all__ = ["EVENT_SOURCES", "Engine", "EngineEvent", "FailureReport", "StartedJob", "build_engines"]


def build_engines(settings: Settings) -> dict[str, Engine]:
    from emr_dispatch.engines.emr_ec2 import EmrEc2Engine

    return {"emr-ec2": EmrEc2Engine(aws.emr(), settings)}
