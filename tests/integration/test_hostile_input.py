"""Hostile and malformed input through the deployed launcher (template.yaml in moto): one SQS batch mixing
an option-like key, a key with a line break, an object the stack itself wrote, and broken messages."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote_plus

import pytest

from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import clusters, step_args
from sample_events import load_event, with_bucket

OPTION_KEY = "raw/orders/--conf spark.jars=s3:__evil__x.jar $(id).csv"
LINE_BREAK_KEY = "raw/orders/a\n--conf x=y.csv"


def _classic_body(stack: DeployedStack, bucket: str, key: str, sequencer: str) -> str:
    event = with_bucket(load_event("s3-put-classic.json"), stack.outputs["LandingBucketName"])
    obj = event["Records"][0]["s3"]["object"]
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    obj.update(key=quote_plus(key), sequencer=sequencer, versionId=f"v{sequencer}")
    return json.dumps(event)


def _batch(bodies: list[str]) -> dict[str, Any]:
    template = load_event("sqs-s3-batch.json")["Records"][0]
    return {
        "Records": [
            {**template, "messageId": f"00000000-0000-4000-8000-{i:012d}", "body": body}
            for i, body in enumerate(bodies)
        ]
    }


def test_one_batch_of_hostile_and_broken_messages(
    stack: DeployedStack, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    # Given one SQS batch: an option-like key, a key with a line break, an object under the stack's own
    # output prefix, truncated JSON, JSON of the wrong type, and an event that is not an S3 arrival
    landing, work = stack.outputs["LandingBucketName"], stack.outputs["WorkBucketName"]
    not_s3 = {"source": "aws.emr", "detail-type": "EMR Cluster State Change", "detail": {}}
    event = _batch(
        [
            _classic_body(stack, landing, OPTION_KEY, "01"),
            _classic_body(stack, landing, LINE_BREAK_KEY, "02"),
            _classic_body(stack, work, "output/orders-daily/orders-daily-0123/part-0.csv", "03"),
            _classic_body(stack, landing, "raw/orders/x.csv", "04")[:40],
            "[1, 2, 3]",
            json.dumps(not_s3),
        ]
    )
    caplog.set_level(logging.INFO)

    # When the deployed launcher receives it
    response = stack.invoke("LauncherFunction", event)

    # Then only the three broken messages go back to the queue (and after five receives to its DLQ)
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert failed == [record["messageId"] for record in event["Records"][3:]]
    # ... the option-like key started one job, passed as one argument after the entry point
    (cluster,) = clusters()
    (args,) = step_args(cluster["Id"])
    entry = next(i for i, arg in enumerate(args) if arg.endswith("/jobs/clean_csv.py"))
    assert f"--input=s3://{landing}/{OPTION_KEY}" in args[entry + 1 :]
    assert not any(OPTION_KEY in arg for arg in args[: entry + 1])
    (job,) = ledger.list_jobs()
    assert job.state is JobState.SUBMITTED
    assert job.inputs[0].key == OPTION_KEY
    # ... and the two refused arrivals were each recorded with their reason in one log line
    reasons = sorted(str(getattr(r, "reason", "")) for r in caplog.records if r.getMessage() == "arrival skipped")
    assert len(reasons) == 2
    assert reasons[0].startswith("object key has a control character (U+000A")
    assert reasons[1].startswith("under the output of route 'orders-daily'")
