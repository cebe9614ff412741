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
KINDS = frozenset({START_QUEUED})


def control_kind(message: Any) -> str | None:
    """The kind of a control message (a parsed SQS body), or None for anything else."""
    if isinstance(message, dict) and set(message) >= {MARKER} and message.get(MARKER) in KINDS:
        return str(message[MARKER])
    return None


def control_body(kind: str, **fields: str) -> str:
    return json.dumps({MARKER: kind, **fields})


class QueueSignal:
    """Asks the launcher, through the arrivals queue, to start queued jobs now that a slot is free."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self._queue_url = queue_url
        self._given_client = client

    def slot_freed(self, route: str) -> None:
        if not self._queue_url:
            return  # no queue configured (a deployment without caps needs none)
        from emr_dispatch import aws

        client = self._given_client or aws.sqs()
        try:
            client.send_message(QueueUrl=self._queue_url, MessageBody=control_body(START_QUEUED, route=route))
        except ClientError as exc:
            raise EmrDispatchError(f"asking for queued jobs to start failed: {exc}") from exc
