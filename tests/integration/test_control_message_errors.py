"""A control message the launcher cannot read fails alone: the records beside it in the same SQS batch are handled,
and it goes back to the queue, then to the arrivals DLQ, where `emr-dispatch dlq list arrivals` names it."""

from __future__ import annotations

import copy
import json
from typing import Any

from emr_dispatch.control import CloseBatch, StartQueued
from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.cli.dlq import describe_message
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import clusters
from sample_events import load_event, with_bucket

UNKNOWN = {"emr-dispatch": "start-everything", "route": "*"}
MALFORMED = {"emr-dispatch": "start-job", "job_id": "orders-daily-0123456789abcdef", "attempt": "two"}


def _record(template: dict[str, Any], message_id: str, body: str) -> dict[str, Any]:
    record = {**copy.deepcopy(template), "messageId": message_id, "body": body}
    record.pop("md5OfBody", None)
    return record


def test_unknown_and_malformed_control_messages_fail_alone(stack: DeployedStack, ledger: Ledger) -> None:
    # Given an SQS batch: an S3 arrival, an unknown control message, a good one, a malformed one, a good one
    batch = with_bucket(load_event("sqs-s3-batch.json"), stack.outputs["LandingBucketName"])
    (arrival, *_rest) = batch["Records"]
    batch["Records"] = [
        arrival,
        _record(arrival, "control-unknown", json.dumps(UNKNOWN)),
        _record(arrival, "control-good-1", StartQueued().body()),
        _record(arrival, "control-malformed", json.dumps(MALFORMED)),
        _record(arrival, "control-good-2", CloseBatch("no-such-batch").body()),
    ]

    # When the launcher receives the batch
    response = stack.invoke("LauncherFunction", batch)

    # Then exactly the two unreadable messages are reported for redelivery (then the DLQ)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": "control-unknown"}, {"itemIdentifier": "control-malformed"}]
    }
    # ... and the arrival beside them started its job
    (job,) = ledger.list_jobs()
    assert job.state is JobState.SUBMITTED
    assert len(clusters()) == 1
    # ... and in the DLQ each is named for what it is
    assert describe_message(json.dumps(UNKNOWN))["what"] == "control message start-everything"
    assert describe_message(json.dumps(MALFORMED))["what"] == "control message start-job"
