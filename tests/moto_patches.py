"""Where moto answers differently from AWS in a way a test depends on, answered as AWS does (each says which)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from moto.s3.responses import S3Response


def _with_eventbridge_configuration(original: Callable[[S3Response], Any]) -> Callable[[S3Response], Any]:
    """moto stores a bucket's EventBridgeConfiguration but leaves it out of GetBucketNotificationConfiguration,
    where S3 returns <EventBridgeConfiguration/>: answer as S3 does."""

    def answer(self: S3Response) -> Any:
        configuration = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if configuration is None or configuration.event_bridge is None:
            return original(self)
        status, headers, body = original(self)
        text = body.decode() if isinstance(body, bytes) else str(body)
        closing = "</NotificationConfiguration>"
        if closing not in text:  # moto writes an empty configuration as a self-closing element
            text = text.replace("/>", ">" + closing, 1) if text.rstrip().endswith("/>") else text
        return status, headers, text.replace(closing, "<EventBridgeConfiguration></EventBridgeConfiguration>" + closing)

    return answer


def answer_eventbridge_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """GetBucketNotificationConfiguration includes <EventBridgeConfiguration/> when it is on, as S3 does."""
    monkeypatch.setattr(
        S3Response, "get_bucket_notification", _with_eventbridge_configuration(S3Response.get_bucket_notification)
    )
