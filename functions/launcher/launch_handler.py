"""Launcher: S3 arrivals (direct, or SQS-wrapped with partial batch failures) → EMR jobs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from emr_dispatch import metrics, wiring
from emr_dispatch.observability import logger, traced

# A batch whose every record failed (e.g. EMR throttling) is still a partial-batch answer, not a function
# error: SQS redelivers the same messages either way, and function errors stay for real faults.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def launch_message(record: SQSRecord) -> list[dict[str, Any]]:
    """One SQS message: a bad one raises and alone goes back to the queue (then its DLQ)."""
    return [asdict(result) for result in wiring.launcher().handle_message(record.body)]


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else None
    if isinstance(first, dict) and first.get("eventSource") == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=launch_message, processor=processor, context=context
        )
    return {"results": [asdict(result) for result in wiring.launcher().handle_event(event)]}
