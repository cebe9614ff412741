"""Launcher: S3 arrivals (direct, or SQS-wrapped with partial batch failures) → EMR jobs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from emr_dispatch import invocation, metrics, wiring
from emr_dispatch.observability import logger, traced
from emr_dispatch.partial_batch import PartialBatchResponse, is_sqs_batch, process_messages


def launch_message(body: str) -> list[dict[str, Any]]:
    """One SQS message: a bad one raises and alone goes back to the queue (then its DLQ)."""
    return [asdict(result) for result in wiring.launcher().handle_message(body)]


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse | dict[str, Any]:
    with invocation.lasting(context.get_remaining_time_in_millis()):  # a lookup never outlasts the invocation
        if is_sqs_batch(event):
            return process_messages(event, launch_message)
        return {"results": [asdict(result) for result in wiring.launcher().handle_event(event)]}
