"""The events/ files are real AWS shapes that the template's own rules would deliver to the handlers."""

from __future__ import annotations

import copy
import hashlib
import json
import socket
from typing import Any

import pytest

from emr_dispatch_tools.moto_stack import load_sam_template, matching_rules, rule_patterns
from sample_events import EMR_EVENT_FILES, EVENTS_DIR, EXAMPLE_BUCKET, STEP_EVENT_FILES, load_event

TRACKER_EMR_RULES = {"TrackerFunction.ClusterStateChange", "TrackerFunction.StepStatusChange"}


def test_every_file_is_a_json_object() -> None:
    # Given every file under events/ / When loaded / Then each is an object (what `sam local invoke -e` reads)
    names = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
    assert names
    for name in names:
        assert isinstance(load_event(name), dict), name


def test_sqs_batch_is_a_valid_sqs_event() -> None:
    # Given the SQS sample
    records = load_event("sqs-s3-batch.json")["Records"]

    # When / Then every record has the fields Lambda's SQS source sends, and a body checksum that holds
    assert len(records) == 3
    assert len({record["messageId"] for record in records}) == 3
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].startswith("arn:aws:sqs:")
        assert {"receiptHandle", "attributes", "messageAttributes", "awsRegion"} <= set(record)
        assert isinstance(record["body"], str)
        assert hashlib.md5(record["body"].encode("utf-8")).hexdigest() == record["md5OfBody"]  # noqa: S324
    bodies = [json.loads(record["body"]) for record in records]
    assert bodies[0]["Records"][0]["eventSource"] == "aws:s3"
    assert bodies[1]["detail-type"] == "Object Created"
    assert bodies[2]["Event"] == "s3:TestEvent"


@pytest.mark.parametrize("name", EMR_EVENT_FILES + STEP_EVENT_FILES)
def test_emr_events_reach_the_tracker_through_the_template_rules(name: str) -> None:
    # Given an EMR event file and the EventBridge patterns of template.yaml (one source of truth)
    event = load_event(name)

    # When matched with EventBridge's own matching (moto's implementation)
    matched = set(matching_rules(event, rule_patterns()))

    # Then exactly one of the tracker's EMR rules takes it
    assert len(matched & TRACKER_EMR_RULES) == 1, matched


@pytest.mark.parametrize("name", EMR_EVENT_FILES + STEP_EVENT_FILES)
def test_events_of_clusters_not_named_by_emr_dispatch_are_filtered_out(name: str) -> None:
    # Given the same event from someone else's cluster or step
    event = load_event(name)
    event["detail"]["name"] = "nightly-adhoc-cluster"

    # When / Then no tracker rule takes it
    assert not set(matching_rules(event, rule_patterns())) & TRACKER_EMR_RULES


def test_s3_eventbridge_sample_matches_the_arrivals_rule() -> None:
    # Given the ArrivalsRule pattern of the template, with its landing bucket resolved to the sample's bucket
    pattern: dict[str, Any] = copy.deepcopy(
        load_sam_template()["Resources"]["ArrivalsRule"]["Properties"]["EventPattern"]
    )
    pattern["detail"]["bucket"]["name"] = [EXAMPLE_BUCKET]

    # When / Then the sample is delivered, and another bucket's is not
    event = load_event("s3-object-created-eventbridge.json")
    assert matching_rules(event, {"arrivals": pattern}) == ["arrivals"]
    event["detail"]["bucket"]["name"] = "someone-elses-bucket"
    assert matching_rules(event, {"arrivals": pattern}) == []


def test_unit_tests_cannot_open_sockets() -> None:
    # Given the autouse network guard / When a connection is attempted / Then it is refused before any I/O
    with pytest.raises(RuntimeError, match="must not use the network"):
        socket.create_connection(("example.com", 443), timeout=1)
    with socket.socket() as raw, pytest.raises(RuntimeError, match="must not use the network"):
        raw.connect(("127.0.0.1", 9))
