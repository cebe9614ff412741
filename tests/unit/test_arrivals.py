"""S3 arrival events: both shapes, the one key decoding, test events and malformed input."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest

from emr_dispatch import arrivals
from emr_dispatch.arrivals import Arrival, decode_s3_key, parse_message_body, parse_s3_event
from emr_dispatch.errors import MalformedEventError
from sample_events import (
    CLASSIC_DECODED_KEY,
    EVENTBRIDGE_KEY_SHAPES,
    EVENTBRIDGE_SPECIAL_KEY,
    EXAMPLE_BUCKET,
    load_event,
)


def _classic_with_key(raw_key: str) -> dict[str, Any]:
    event = load_event("s3-put-classic.json")
    event["Records"][0]["s3"]["object"]["key"] = raw_key
    return event


def _only_arrival(event: Any) -> Arrival:
    items = parse_s3_event(event)
    assert len(items) == 1
    arrival = items[0]
    assert isinstance(arrival, Arrival)
    return arrival


def test_classic_notification_parses_with_key_decoded_exactly_once() -> None:
    # Given the classic S3 notification from events/ (key form-URL-encoded, as S3 sends it)
    event = load_event("s3-put-classic.json")

    # When it is parsed
    arrival = _only_arrival(event)

    # Then the key is the real key: "+" became a space, "%2B" a plus, "%C3%A9" an é - nothing decoded twice
    assert arrival.key == CLASSIC_DECODED_KEY
    assert arrival.bucket == EXAMPLE_BUCKET
    assert arrival.uri == f"s3://{EXAMPLE_BUCKET}/{CLASSIC_DECODED_KEY}"
    assert arrival.size == 1843
    assert arrival.etag == "0f343b0931126a20f133d67c2b018a3b"
    assert arrival.version_id == "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd.m"
    assert arrival.sequencer == "0065A7D1C3B9E4F2A1"
    assert arrival.event_time == "2026-11-23T08:15:42.318Z"
    assert arrival.shape == "s3-notification"


def test_eventbridge_object_created_parses() -> None:
    # Given the EventBridge "Object Created" event from events/ (hyphenated field names)
    event = load_event("s3-object-created-eventbridge.json")

    # When it is parsed
    arrival = _only_arrival(event)

    # Then every field comes from detail.object / detail.bucket
    assert arrival.bucket == EXAMPLE_BUCKET
    assert arrival.key == "raw/orders/2026-11-23/orders-0002.csv"
    assert arrival.size == 2210
    assert arrival.etag == "b1946ac92492d2347c6235b4d2611184"
    assert arrival.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    assert arrival.sequencer == "0065A7D1D07C1B3E55"
    assert arrival.event_time == "2026-11-23T08:16:03Z"
    assert arrival.shape == "eventbridge"


@pytest.mark.parametrize(
    "real_key",
    [
        "raw/orders/100%.csv",
        "raw/orders/pct%41.csv",  # decoding twice would turn %41 into "A"
        "raw/orders/a%2Bb+c.csv",  # looks encoded, but these are the key's own characters
        "raw/orders/--conf spark.driver.extraJavaOptions=x.csv",
    ],
)
def test_key_with_literal_percent_survives(real_key: str) -> None:
    # Given a key encoded the way S3 encodes it (a literal "%" arrives as %25)
    encoded = quote_plus(real_key, safe="/")
    assert "%25" in encoded or "%" not in real_key

    # When the notification is parsed
    arrival = _only_arrival(_classic_with_key(encoded))

    # Then the key is exactly the original, character for character
    assert arrival.key == real_key


def test_decode_s3_key_is_form_url_decoding() -> None:
    # Given / When / Then: the single decoding function turns S3's encoding back into the key
    assert decode_s3_key("red+flower.jpg") == "red flower.jpg"
    assert decode_s3_key("a%2Bb") == "a+b"
    assert decode_s3_key("in%2Fx.csv") == "in/x.csv"  # moto encodes "/" too; real S3 does not


@pytest.mark.parametrize("name", EVENTBRIDGE_KEY_SHAPES)
def test_eventbridge_samples_of_both_shapes_give_the_object_key(name: str) -> None:
    # Given the same object's EventBridge event, its key sent fully raw or percent-encoded (%20, "+" kept)
    # When parsed
    arrival = _only_arrival(load_event(name))

    # Then the key is the object's own: the "+" is no space, the "%" and the spaces survive
    assert arrival.key == EVENTBRIDGE_SPECIAL_KEY
    assert arrival.shape == "eventbridge"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        # fully raw: kept as is (a space, a bare "%" or a non-ASCII character cannot be an encoder's output)
        ("raw/a+b c.csv", "raw/a+b c.csv"),
        ("raw/50% off.csv", "raw/50% off.csv"),
        ("raw/100%.csv", "raw/100%.csv"),
        ("raw/dt=2026-11-23/10:47:07+01.csv", "raw/dt=2026-11-23/10:47:07+01.csv"),
        ("raw/café 1+1.csv", "raw/café 1+1.csv"),
        ("raw/%FF.csv", "raw/%FF.csv"),  # escapes that spell no UTF-8: the key's own text
        # percent-encoded with %20 and a literal "+": decoded, "+" still a plus
        ("raw/a+b%20c.csv", "raw/a+b c.csv"),
        ("raw/50%25%20off.csv", "raw/50% off.csv"),
        ("raw/caf%C3%A9%201+1.csv", "raw/café 1+1.csv"),
        ("raw/a%2Bb.csv", "raw/a+b.csv"),
    ],
)
def test_eventbridge_keys_are_never_form_decoded(raw: str, key: str) -> None:
    # Given an EventBridge key in either shape / When decoded / Then it is the object's key
    assert decode_s3_key(raw, "eventbridge") == key


def test_the_one_ambiguous_eventbridge_key_is_read_as_percent_encoded() -> None:
    # Given a raw key whose every "%" starts a UTF-8 escape and that has no space, bare "%" or non-ASCII
    # character: the same text is another key's percent-encoding (docs/decisions.md, the case left open)
    # When / Then it is read as percent-encoded
    assert decode_s3_key("raw/100%25.csv", "eventbridge") == "raw/100%.csv"


def test_s3_test_event_becomes_a_test_event() -> None:
    # Given the s3:TestEvent S3 sends when a destination is configured (third message of the SQS sample)
    body = load_event("sqs-s3-batch.json")["Records"][2]["body"]

    # When the message body is parsed
    items = parse_message_body(body)

    # Then it is a TestEvent for the bucket, not an arrival
    assert items == [arrivals.TestEvent(bucket=EXAMPLE_BUCKET)]


def test_sqs_bodies_of_both_shapes_parse() -> None:
    # Given the SQS batch sample: a classic body and an EventBridge body
    records = load_event("sqs-s3-batch.json")["Records"]

    # When their bodies are parsed
    classic = parse_message_body(records[0]["body"])
    eventbridge = parse_message_body(records[1]["body"])

    # Then each gives one arrival, with the classic key decoded
    assert [a.key for a in classic if isinstance(a, Arrival)] == ["raw/orders/2026-11-23/orders 0003.csv"]
    assert [a.key for a in eventbridge if isinstance(a, Arrival)] == ["raw/orders/2026-11-23/orders-0004.csv"]


def _classic_without_key() -> dict[str, Any]:
    event = load_event("s3-put-classic.json")
    del event["Records"][0]["s3"]["object"]["key"]
    return event


def _classic_with_size(size: Any) -> dict[str, Any]:
    event = load_event("s3-put-classic.json")
    event["Records"][0]["s3"]["object"]["size"] = size
    return event


def _eventbridge_with_size(size: Any) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["object"]["size"] = size
    return event


def _eventbridge_without_key() -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    del event["detail"]["object"]["key"]
    return event


@pytest.mark.parametrize(
    "event",
    [
        pytest.param("not an event", id="string"),
        pytest.param(["Records"], id="list"),
        pytest.param(None, id="none"),
        pytest.param({"Records": {"s3": {}}}, id="records-not-a-list"),
        pytest.param({"Records": ["x"]}, id="record-not-an-object"),
        pytest.param(_classic_without_key(), id="classic-missing-key"),
        pytest.param(_classic_with_key(""), id="classic-empty-key"),
        pytest.param(_classic_with_size("big"), id="classic-size-not-a-number"),
        pytest.param(_classic_with_size(1.5), id="classic-size-float"),
        pytest.param(_classic_with_size(True), id="classic-size-bool"),
        pytest.param(_classic_with_size({"bytes": 1}), id="classic-size-object"),
        pytest.param(_eventbridge_with_size([1]), id="eventbridge-size-list"),
        pytest.param(_eventbridge_without_key(), id="eventbridge-missing-key"),
        pytest.param(_classic_with_key("raw/%FF%FE.csv"), id="key-not-utf8"),
        pytest.param({"source": "aws.emr", "detail-type": "EMR Cluster State Change"}, id="not-s3"),
        pytest.param({"source": "aws.s3", "detail-type": "Object Created"}, id="eventbridge-without-detail"),
    ],
)
def test_malformed_events_raise_malformed_event_error(event: Any) -> None:
    # Given an event that is not the shape S3 promises
    # When it is parsed / Then a MalformedEventError (routed to the DLQ), nothing else
    with pytest.raises(MalformedEventError):
        parse_s3_event(event)


def test_classic_record_that_is_not_object_created_is_malformed() -> None:
    # Given a classic record of another event type
    event = load_event("s3-put-classic.json")
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    # When / Then
    with pytest.raises(MalformedEventError, match="ObjectCreated"):
        parse_s3_event(event)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json.dumps(load_event("s3-put-classic.json"))[:-7], id="truncated-json"),
        pytest.param("", id="empty"),
        pytest.param("<xml/>", id="not-json"),
        pytest.param("[1, 2]", id="json-array"),
    ],
)
def test_malformed_message_bodies_raise_malformed_event_error(body: str) -> None:
    # Given an SQS body that is not a JSON S3 event
    # When / Then
    with pytest.raises(MalformedEventError):
        parse_message_body(body)


@pytest.mark.parametrize(
    ("key", "size", "expected"),
    [
        ("raw/orders/2026-11-23/", 0, True),
        ("raw/orders/2026-11-23/", 12, False),  # a real object whose name ends in "/"
        ("raw/orders/2026-11-23/orders.csv", 0, False),  # an empty file is still a file
    ],
)
def test_folder_markers_are_detected(key: str, size: int, expected: bool) -> None:
    # Given an arrival with this key and size
    event = _classic_with_key(key)
    event["Records"][0]["s3"]["object"]["size"] = size

    # When it is parsed
    arrival = _only_arrival(event)

    # Then only a zero-byte key ending in "/" is a folder marker
    assert arrival.is_folder_marker is expected


def test_identity_differs_by_version_not_by_sequencer() -> None:
    # Given the same key seen as a second version, and the first version seen again without its sequencer
    # (a replay: S3 gives no sequencer after the fact) or with another one
    base = load_event("s3-put-classic.json")
    other_version = load_event("s3-put-classic.json")
    other_version["Records"][0]["s3"]["object"]["versionId"] = "otherVersion"
    replayed = load_event("s3-put-classic.json")
    replayed["Records"][0]["s3"]["object"]["sequencer"] = ""
    other_sequencer = load_event("s3-put-classic.json")
    other_sequencer["Records"][0]["s3"]["object"]["sequencer"] = "0065A7D1C3B9E4F2FF"

    # When their identities are computed
    identities = [_only_arrival(e).identity() for e in (base, other_version, replayed, other_sequencer)]

    # Then the new version is a new arrival; the replayed and re-sequenced copies are the same object version
    assert identities[0] != identities[1]
    assert identities[0] == identities[2] == identities[3]


def test_identity_without_version_is_etag_and_size() -> None:
    # Given an unversioned bucket: the same bytes notified twice, new bytes under the same key, and a
    # suspended-versioning write ("null" version id)
    first = load_event("s3-put-classic.json")
    first["Records"][0]["s3"]["object"]["versionId"] = None
    again = load_event("s3-put-classic.json")
    again["Records"][0]["s3"]["object"]["versionId"] = "null"
    again["Records"][0]["s3"]["object"]["sequencer"] = ""
    longer = load_event("s3-put-classic.json")
    longer["Records"][0]["s3"]["object"]["versionId"] = None
    longer["Records"][0]["s3"]["object"]["size"] = 1 + int(longer["Records"][0]["s3"]["object"]["size"])

    # When / Then etag + size (+ bucket and key) name the version
    assert _only_arrival(first).identity() == _only_arrival(again).identity()
    assert _only_arrival(first).identity() != _only_arrival(longer).identity()


def test_identity_is_stable_for_the_same_event_delivered_twice() -> None:
    # Given / When the same notification parsed twice
    first = _only_arrival(load_event("s3-put-classic.json"))
    second = _only_arrival(load_event("s3-put-classic.json"))

    # Then the identity is the same
    assert first.identity() == second.identity()


def test_identity_is_equal_for_the_same_version_seen_via_both_shapes() -> None:
    # Given the classic notification and an EventBridge event carrying the same object version (its key as
    # EventBridge carries it: not form-encoded)
    classic = load_event("s3-put-classic.json")
    obj = classic["Records"][0]["s3"]["object"]
    eventbridge = load_event("s3-object-created-eventbridge.json")
    eventbridge["detail"]["object"] = {
        "key": CLASSIC_DECODED_KEY,
        "size": obj["size"],
        "etag": obj["eTag"],
        "version-id": obj["versionId"],
        "sequencer": obj["sequencer"],
    }

    # When both are parsed
    via_classic = _only_arrival(classic)
    via_eventbridge = _only_arrival(eventbridge)

    # Then they name the same object version (one job, whichever shape arrives first)
    assert via_classic.shape != via_eventbridge.shape
    assert via_classic.identity() == via_eventbridge.identity()


def test_identity_without_version_falls_back_to_etag() -> None:
    # Given an unversioned bucket (versionId null) and two writes with different content
    first = load_event("s3-put-classic.json")
    first["Records"][0]["s3"]["object"]["versionId"] = None
    second = load_event("s3-put-classic.json")
    second["Records"][0]["s3"]["object"]["versionId"] = None
    second["Records"][0]["s3"]["object"]["eTag"] = "ffffffffffffffffffffffffffffffff"

    # When / Then the identities differ by etag
    assert _only_arrival(first).version_id == ""
    assert _only_arrival(first).identity() != _only_arrival(second).identity()


def test_to_record_keeps_the_decoded_key() -> None:
    # Given / When the classic arrival is stored as a job input
    record = _only_arrival(load_event("s3-put-classic.json")).to_record()

    # Then the ledger holds the decoded key, never the encoded one
    assert record["key"] == CLASSIC_DECODED_KEY
    assert record["bucket"] == EXAMPLE_BUCKET
