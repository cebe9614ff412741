"""Control messages on the arrivals queue: work the launcher does on request, not on an S3 arrival.

The tracker asks for queued jobs to be started when a slot frees, so it never needs the right to start
engines itself. Anyone who may send to the queue can only ask for what emr-dispatch would do anyway.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.errors import EmrDispatchError

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


def control_kind(message: Any) -> str | None:
    """The kind of a control message (a parsed SQS body), or None for anything else."""
    if isinstance(message, dict) and set(message) >= {MARKER} and message.get(MARKER) in KINDS:
        return str(message[MARKER])
    return None


def control_body(kind: str, **fields: str) -> str:
    return json.dumps({MARKER: kind, **fields})


def retry_body(job_id: str, requested_by: str, request_id: str = "") -> str:
    """Ask the launcher for an ended job's next attempt (same inputs). A refusal is recorded on the job under
    ``request_id`` (``Ledger.record_refusal``), so the asker learns that nothing will start."""
    return control_body(RETRY_JOB, job_id=job_id, requested_by=requested_by, request_id=request_id)


def replay_body(event: dict[str, Any], requested_by: str) -> str:
    """An S3 event to launch as usual, except that an object whose job already ended gets a new attempt."""
    return json.dumps({MARKER: REPLAY, "force": True, "requested_by": requested_by, "event": event})


class QueueSignal:
    """Asks the launcher, through the arrivals queue, to start queued jobs now that a slot is free."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self._queue_url = queue_url
        self._given_client = client

    def slot_freed(self, route: str) -> None:
        self._send(control_body(START_QUEUED, route=route), 0)

    def drain_later(self, delay_seconds: int) -> None:
        """Ask for the queued jobs to be started after a wait (the next start token is due then)."""
        self._send(control_body(START_QUEUED, route="*"), max(0, min(delay_seconds, MAX_DELAY_SECONDS)))

    def close_later(self, batch_id: str, delay_seconds: int) -> None:
        """Ask for a batch to be closed when its window ends (SQS delivers the message after the delay)."""
        self._send(control_body(CLOSE_BATCH, batch_id=batch_id), min(delay_seconds, MAX_DELAY_SECONDS))

    def close_batch(self, batch_id: str) -> None:
        """Ask for a batch to be closed now (the sweeper, for a batch past its deadline)."""
        self._send(control_body(CLOSE_BATCH, batch_id=batch_id), 0)

    def start_job(self, job_id: str, attempt: int, delay_seconds: int = 0) -> None:
        """Ask for an attempt of a job to be started: a retry after its backoff, or a start the sweeper
        found abandoned. Starting is idempotent per attempt, so a duplicate message starts nothing."""
        self._send(control_body(START_JOB, job_id=job_id, attempt=str(attempt)), min(delay_seconds, MAX_DELAY_SECONDS))

    def _send(self, body: str, delay_seconds: int) -> None:
        if not self._queue_url:
            raise EmrDispatchError("ARRIVALS_QUEUE_URL is not set: control messages cannot be sent")
        from emr_dispatch import aws

        client = self._given_client or aws.sqs()
        try:
            client.send_message(QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=delay_seconds)
        except ClientError as exc:
            raise EmrDispatchError(f"sending a control message failed: {exc}") from exc
