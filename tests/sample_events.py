"""The events/ files, loaded for tests: the same payloads `sam local invoke -e` uses, never pasted inline.

Every loader returns a fresh deep copy, so a test may edit what it gets without touching other tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"

EXAMPLE_BUCKET = "emr-dispatch-landing-example"
EXAMPLE_CLUSTER_ID = "j-2AXXXXXXGAPLF"
EXAMPLE_STEP_ID = "s-1XXXXXXXXXXXA"
EXAMPLE_CLUSTER_NAME = "emr-dispatch-orders-daily-17c3ac63b97f7b66-a1"
CLASSIC_DECODED_KEY = "raw/orders/2026-11-23/orders 1+2 café.csv"
EVENTBRIDGE_SPECIAL_KEY = "raw/orders/2026-11-23/q4 50% off+tax=final.csv"
"""The key of both s3-object-created-eventbridge-{raw,encoded}-key.json: one EventBridge sample per shape."""
EVENTBRIDGE_KEY_SHAPES = (
    "s3-object-created-eventbridge-raw-key.json",
    "s3-object-created-eventbridge-encoded-key.json",
)

EMR_EVENT_FILES = (
    "emr-cluster-running.json",
    "emr-cluster-terminated-completed.json",
    "emr-cluster-terminated-with-errors.json",
    "emr-step-completed.json",
    "emr-step-failed.json",
)
STEP_EVENT_FILES = (
    "emr-step-hive-failed.json",
    "emr-step-cancelled.json",
    "emr-step-failed-continue.json",
)
"""Step events of a job of several steps (config/routes.yaml's orders-warehouse: clean, load, publish)."""


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event


def with_bucket(event: dict[str, Any], bucket: str) -> dict[str, Any]:
    """The event (any S3 shape, SQS bodies included) with the example bucket name replaced."""
    text = json.dumps(event, ensure_ascii=False).replace(EXAMPLE_BUCKET, bucket)
    result: dict[str, Any] = json.loads(text)
    for record in result.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            record["md5OfBody"] = hashlib.md5(record["body"].encode("utf-8")).hexdigest()  # noqa: S324 - SQS's own checksum
    return result


def for_cluster(
    name: str, cluster_id: str, step_id: str | None = None, cluster_name: str | None = None
) -> dict[str, Any]:
    """An EMR event file re-addressed to a real (moto) cluster and, for step events, to a real step."""
    event = load_event(name)
    detail = event["detail"]
    message = detail["message"].replace(EXAMPLE_CLUSTER_ID, cluster_id)
    detail["clusterId"] = cluster_id
    if cluster_name is not None:
        message = message.replace(EXAMPLE_CLUSTER_NAME, cluster_name)
        if "stepId" not in detail:
            detail["name"] = cluster_name
    if step_id is not None and "stepId" in detail:
        message = message.replace(EXAMPLE_STEP_ID, step_id)
        detail["stepId"] = step_id
    detail["message"] = message
    return event
