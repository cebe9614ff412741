"""SQS partial batch responses: each message handled alone; a failing one is reported for redelivery.

What Powertools' BatchProcessor does for a synchronous SQS batch, without its import cost: importing
`aws_lambda_powertools.utilities.batch` pulls in asyncio and every event data class, about a third of the
launcher's cold start (docs/BENCHMARKS.md, docs/decisions.md). The template's event source mapping must
keep `FunctionResponseTypes: [ReportBatchItemFailures]`, or a reported failure would count as a success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from emr_dispatch.observability import logger


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


def is_sqs_batch(event: Any) -> bool:
    """An event Lambda's SQS event source mapping sends (as opposed to a direct S3 or control event)."""
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else None
    return isinstance(first, dict) and first.get("eventSource") == "aws:sqs"


def process_messages(event: dict[str, Any], handle_body: Callable[[str], object]) -> PartialBatchResponse:
    """Call ``handle_body`` with each message body. A message whose handling raises is logged with its
    exception and reported in ``batchItemFailures``, so SQS redelivers it (then dead-letters it) alone;
    the others are done. A batch whose every message failed is still a partial answer, not a function
    error: SQS redelivers the same messages either way, and function errors stay for real faults."""
    failures: list[ItemFailure] = []
    for record in event["Records"]:
        message_id = str(record["messageId"])
        try:
            handle_body(record["body"])
        except Exception:  # noqa: BLE001 - reported back to SQS for redelivery, and logged with its traceback
            logger.exception("message failed, left for redelivery", message_id=message_id)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
