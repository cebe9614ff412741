"""The one engine interface. Launcher and tracker talk to engines only through it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from emr_dispatch.jobs import Job, StateUpdate
from emr_dispatch.placeholders import render
from emr_dispatch.routes import Route


@dataclass(frozen=True)
class StartedJob:
    """What the engine returned when it accepted a job."""

    engine_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineEvent:
    """A state-change event of an engine, parsed defensively into the fields emr-dispatch uses."""

    engine: str
    engine_id: str
    kind: str  # cluster | step | job-run
    state: str
    sub_id: str | None = None  # step id
    name: str = ""
    reason_code: str | None = None
    reason_message: str | None = None
    time: str = ""


@dataclass(frozen=True)
class FailureReport:
    """Everything an engine can tell about a failed job, gathered once for the alert and the ledger."""

    details: dict[str, Any]
    log_locations: list[str]
    resource_alive: bool


class Engine(Protocol):
    name: str

    def start(self, job: Job, route: Route) -> StartedJob: ...

    def parse_event(self, event: dict[str, Any]) -> EngineEvent | None:
        """The engine's view of an EventBridge event; None when the detail-type is not one it tracks."""
        ...

    def interpret(self, event: EngineEvent, job: Job) -> StateUpdate | None:
        """The job state an event implies, or None when it implies no change."""
        ...

    def inspect_failure(self, job: Job, event: EngineEvent) -> FailureReport: ...

    def stop(self, job: Job) -> None:
        """Terminate or cancel the job's engine resource."""
        ...

    def console_link(self, job: Job) -> str: ...

    def log_locations(self, job: Job) -> list[str]: ...


def placeholder_values(job: Job, route: Route, work_bucket: str) -> dict[str, str]:
    """Values of every placeholder for this job. Input placeholders come from its first input."""
    values = {
        "work_bucket": work_bucket,
        "route": route.name,
        "job_id": job.job_id,
        "attempt": str(job.attempt),
    }
    values["output_uri"] = render(route.output, values) if route.output else ""
    if job.inputs:
        first = job.inputs[0]
        values.update(bucket=first["bucket"], key=first["key"], input_uri=f"s3://{first['bucket']}/{first['key']}")
    return values


def parse_reason(raw: Any) -> tuple[str | None, str | None]:
    """EMR's stateChangeReason is JSON inside JSON; accept a string, an object or nothing."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return None, raw
    if not isinstance(raw, dict):
        return None, None
    code = raw.get("code") or raw.get("Code")
    message = raw.get("message") or raw.get("Message")
    return (str(code) if code else None), (str(message) if message else None)
