"""Tracker: EMR state-change events (EventBridge) → job outcome recorded, failure alerted, cleanup."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from emr_dispatch import metrics, wiring
from emr_dispatch.observability import logger, traced


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asdict(wiring.tracker().handle(event))
