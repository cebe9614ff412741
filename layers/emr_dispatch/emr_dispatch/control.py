"""Control messages on the arrivals queue: work the launcher does on request, not on an S3 arrival.

The tracker asks for queued jobs to be started when a slot frees, so it never needs the right to start
engines itself. Anyone who may send to the queue can only ask for what emr-dispatch would do anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.errors import EmrDispatchError, MalformedEventError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MARKER = "emr-dispatch"
START_QUEUED = "start-queued"
CLOSE_BATCH = "close-batch"
START_JOB = "start-job"
RETRY_JOB = "retry-job"  # an operator's new attempt of an ended job (emr-dispatch jobs retry)
REPLAY = "replay"  # arrivals replayed with --force (emr-dispatch replay)
KINDS = frozenset({START_QUEUED, CLOSE_BATCH, START_JOB, RETRY_JOB, REPLAY})
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit
EVERY_ROUTE = "*"


@dataclass(frozen=True)
class StartQueued:
    """Start QUEUED jobs: of ``route`` first (it freed a slot), or of every route (EVERY_ROUTE, or None)."""

    route: str | None = EVERY_ROUTE

    def body(self) -> str:
        return _body(START_QUEUED, route=self.route or EVERY_ROUTE)


@dataclass(frozen=True)
class CloseBatch:
    """Close a batch (its window ended, it is full, or the sweeper found it overdue) and admit its job."""

    batch_id: str

    def body(self) -> str:
        return _body(CLOSE_BATCH, batch_id=self.batch_id)


@dataclass(frozen=True)
class StartJob:
    """Start an attempt whose start is pending (a retry after its backoff, a start found abandoned)."""

    job_id: str
    attempt: int

    def body(self) -> str:
        return _body(START_JOB, job_id=self.job_id, attempt=str(self.attempt))


@dataclass(frozen=True)
class RetryJob:
    """An ended job's next attempt, same inputs (``emr-dispatch jobs retry``)."""

    job_id: str
    requested_by: str = "operator"
    request_id: str = ""  # a refusal is recorded on the job under it (Ledger.record_refusal): the asker's answer

    def body(self) -> str:
        return _body(RETRY_JOB, job_id=self.job_id, requested_by=self.requested_by, request_id=self.request_id)


@dataclass(frozen=True)
class Replay:
    """An S3 event launched as usual, except that an object whose job already ended gets a new attempt."""

    event: dict[str, Any]
    requested_by: str = "operator"

    def body(self) -> str:
        return json.dumps({MARKER: REPLAY, "force": True, "requested_by": self.requested_by, "event": self.event})


ControlMessage = StartQueued | CloseBatch | StartJob | RetryJob | Replay


class ControlMessageError(MalformedEventError):
    """A message that names itself a control message (it carries ``MARKER``) but is of an unknown kind or lacks
    what its kind needs. Like any malformed record it fails alone: SQS redelivers it, then moves it to the
    arrivals DLQ, where ``emr-dispatch dlq list arrivals`` shows it; the records beside it are handled."""

    def __init__(self, kind: str, problem: str) -> None:
        self.kind = kind
        self.problem = problem
        super().__init__(f"control message {kind!r}: {problem}")


def control_kind(message: Any) -> str | None:
    """The kind a parsed SQS body names itself by (known or not), or None when it is no control message."""
    if isinstance(message, dict) and MARKER in message:
        return str(message[MARKER])
    return None


def parse_control(message: Any) -> ControlMessage | None:
    """A control message (a parsed SQS body) as its type; None for anything else (an S3 event). Raises
    ControlMessageError for an unknown kind or a malformed one (a field missing or of the wrong type)."""
    kind = control_kind(message)
    if kind is None:
        return None
    fields: dict[str, Any] = message
    if kind == START_QUEUED:
        return StartQueued(_text(fields, kind, "route", required=False) or None)
    if kind == CLOSE_BATCH:
        return CloseBatch(_text(fields, kind, "batch_id"))
    if kind == START_JOB:
        return StartJob(_text(fields, kind, "job_id"), _attempt(fields, kind))
    requested_by = _text(fields, kind, "requested_by", required=False) or "operator"
    if kind == RETRY_JOB:
        return RetryJob(_text(fields, kind, "job_id"), requested_by, _text(fields, kind, "request_id", required=False))
    if kind == REPLAY:
        event = fields.get("event")
        if not isinstance(event, dict):
            raise ControlMessageError(kind, "event is missing or not an object")
        return Replay(event, requested_by)
    raise ControlMessageError(kind[:64], f"unknown kind (known: {', '.join(sorted(KINDS))})")


def _text(fields: dict[str, Any], kind: str, name: str, *, required: bool = True) -> str:
    value = fields.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ControlMessageError(kind, f"{name} is missing or not a non-empty string")
    return value


def _attempt(fields: dict[str, Any], kind: str) -> int:
    value = fields.get("attempt")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() or int(value) < 1:
        raise ControlMessageError(kind, "attempt is missing or not a positive integer")
    return int(value)


def _body(kind: str, **fields: str) -> str:
    return json.dumps({MARKER: kind, **fields})


def retry_body(job_id: str, requested_by: str, request_id: str = "") -> str:
    """Ask the launcher for an ended job's next attempt (same inputs). A refusal is recorded on the job under
    ``request_id`` (``Ledger.record_refusal``), so the asker learns that nothing will start."""
    return RetryJob(job_id, requested_by, request_id).body()


def replay_body(event: dict[str, Any], requested_by: str) -> str:
    """An S3 event to launch as usual, except that an object whose job already ended gets a new attempt."""
    return Replay(event, requested_by).body()


class QueueSignal:
    """Asks the launcher, through the arrivals queue, to start queued jobs now that a slot is free."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self._queue_url = queue_url
        self._given_client = client

    def slot_freed(self, route: str) -> None:
        self._send(StartQueued(route).body(), 0)

    def drain_later(self, delay_seconds: int) -> None:
        """Ask for the queued jobs to be started after a wait (the next start token is due then)."""
        self._send(StartQueued(EVERY_ROUTE).body(), max(0, min(delay_seconds, MAX_DELAY_SECONDS)))

    def close_later(self, batch_id: str, delay_seconds: int) -> None:
        """Ask for a batch to be closed when its window ends (SQS delivers the message after the delay)."""
        self._send(CloseBatch(batch_id).body(), min(delay_seconds, MAX_DELAY_SECONDS))

    def close_batch(self, batch_id: str) -> None:
        """Ask for a batch to be closed now (the sweeper, for a batch past its deadline)."""
        self._send(CloseBatch(batch_id).body(), 0)

    def start_job(self, job_id: str, attempt: int, delay_seconds: int = 0) -> None:
        """Ask for an attempt of a job to be started: a retry after its backoff, or a start the sweeper
        found abandoned. Starting is idempotent per attempt, so a duplicate message starts nothing."""
        self._send(StartJob(job_id, attempt).body(), min(delay_seconds, MAX_DELAY_SECONDS))

    def _send(self, body: str, delay_seconds: int) -> None:
        if not self._queue_url:
            raise EmrDispatchError("ARRIVALS_QUEUE_URL is not set: control messages cannot be sent")
        from emr_dispatch import aws

        client = self._given_client or aws.sqs()
        try:
            client.send_message(QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=delay_seconds)
        except ClientError as exc:
            raise EmrDispatchError(f"sending a control message failed: {exc}") from exc
