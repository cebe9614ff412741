"""Engines by name and by event source: the only place that knows which engines exist."""

from __future__ import annotations

from emr_dispatch.engines.base import ActiveJobs, Engine, EngineEvent, Inspection, StartedJob
from emr_dispatch.settings import Settings

EVENT_SOURCES = {"aws.emr": "emr-ec2", "aws.emr-serverless": "emr-serverless", "aws.emr-containers": "emr-eks"}
"""EventBridge source → engine name."""

__all__ = ["EVENT_SOURCES", "ActiveJobs", "Engine", "EngineEvent", "Inspection", "StartedJob", "build_engines"]


def build_engines(settings: Settings, active_jobs: ActiveJobs) -> dict[str, Engine]:
    """Every engine, each with its client created lazily (only when first used)."""
    from emr_dispatch.engines.emr_ec2 import EmrEc2Engine
    from emr_dispatch.engines.emr_eks import EmrEksEngine
    from emr_dispatch.engines.emr_serverless import EmrServerlessEngine

    return {
        "emr-ec2": EmrEc2Engine(settings),
        "emr-serverless": EmrServerlessEngine(settings, active_jobs),
        "emr-eks": EmrEksEngine(settings),
    }
