"""Typed exceptions of emr-dispatch, in one place."""

from __future__ import annotations


class EmrDispatchError(Exception):
    """Base class of every error emr-dispatch raises on purpose."""


class ConfigurationError(EmrDispatchError):
    """The function's environment is incomplete or wrong: a deployment problem."""


class RoutesError(EmrDispatchError):
    """The routes file is invalid. Each problem names the route and the field."""

    def __init__(self, problems: list[str], source: str = "routes file") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))


class MalformedEventError(EmrDispatchError):
    """An event does not have the shape its source promises; it goes to a DLQ, never crashes a batch."""


class EngineError(EmrDispatchError):
    """An engine API call failed in a way retrying will not fix (validation, access denied)."""

    def __init__(self, message: str, code: str = "ENGINE_ERROR") -> None:
        self.code = code
        super().__init__(message)


class EngineThrottledError(EmrDispatchError):
    """The engine refused a start for a quota: its API rate (throttled) or its capacity. A reason to wait: the
    job waits QUEUED in the ledger and starts when the quota allows, never lost (DESIGN.md invariant 10)."""

    def __init__(self, message: str, quota: str = "rate", retry_after: float = 0.0) -> None:
        self.quota = quota  # rate | capacity
        self.retry_after = retry_after  # seconds worth waiting before the next try (0: unknown)
        super().__init__(message)


class EngineQuotaError(EngineThrottledError):
    """A start refused for a capacity quota (EMR's active clusters, EMR Serverless vCPUs, a full job queue)."""

    def __init__(self, message: str, retry_after: float = 60.0) -> None:
        super().__init__(message, "capacity", retry_after)


class EngineStartUnknownError(EmrDispatchError):
    """A start call without an idempotency token (RunJobFlow) ended without an answer (read timeout, connection
    lost) and no resource it could have created was found. The launcher keeps the claim (the arrival is done
    with): the abandoned-start path looks the resource up by name again before any new call, so one arrival
    never starts two clusters."""


class LedgerError(EmrDispatchError):
    """The ledger could not be read or written."""


class AlertPublishError(EmrDispatchError):
    """SNS refused an alert; the job keeps alert_pending so it can be sent again."""


class JobNotFoundError(EmrDispatchError):
    """No job of this id in the ledger."""


class JobStateError(EmrDispatchError):
    """The job's state does not allow what was asked (cancel an ended job, retry a running one)."""
