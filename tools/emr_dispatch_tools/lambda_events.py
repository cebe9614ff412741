"""The events AWS hands the stack's functions, built in one place for the demo, the sandbox, the bench and the
tests: Lambda's SQS event source mapping (a batch of received messages) and EventBridge Scheduler's tick.

Shapes from the Lambda developer guide ("Using Lambda with Amazon SQS", example SQS message event) and the
EventBridge "Scheduled Event" sample; events/ holds the same shapes for `sam local invoke`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

ACCOUNT = "123456789012"  # moto's default account


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the event, from one message as ReceiveMessage returned it (AttributeNames=["All"])."""
    attributes = message.get("Attributes", {})
    digest = message.get("MD5OfBody") or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest()
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "0",
            "SenderId": "",
            "ApproximateFirstReceiveTimestamp": "0",
            **attributes,
        },
        "messageAttributes": dict(message.get("MessageAttributes", {})),
        "md5OfBody": digest,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping hands the function for a batch of received messages."""
    return {"Records": [sqs_record(message, queue_arn, region) for message in messages]}


def sqs_event_of(bodies: Iterable[Any], region: str = "us-east-1", queue: str = "arrivals") -> dict[str, Any]:
    """The same event for message bodies that never went through a queue (a body that is not a string is
    JSON-encoded): message ids ``m-0``, ``m-1``… and receipt handles ``r-0``…, first receive."""
    messages = [
        {
            "MessageId": f"m-{index}",
            "ReceiptHandle": f"r-{index}",
            "Body": body if isinstance(body, str) else json.dumps(body),
        }
        for index, body in enumerate(bodies)
    ]
    return sqs_event(messages, f"arn:aws:sqs:{region}:{ACCOUNT}:{queue}", region)


def scheduled_event(region: str, time: str = "2026-11-23T09:05:00Z") -> dict[str, Any]:
    """What EventBridge Scheduler's rate(5 minutes) rule hands the sweeper."""
    return {
        "version": "0",
        "id": "5b1c7c36-9d52-4a8e-9a31-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time,
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/emr-dispatch-sweeper"],
        "detail": {},
    }
