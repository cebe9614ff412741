"""Control messages on the arrivals queue (control.py): each kind parsed into its type from the body its sender
writes (and the bodies earlier releases wrote, still in flight across a deploy); an unknown or malformed one is a
ControlMessageError naming the kind and the problem, never a guess."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emr_dispatch.control import (
    CloseBatch,
    ControlMessageError,
    Replay,
    RetryJob,
    StartJob,
    StartQueued,
    parse_control,
    replay_body,
    retry_body,
)
from emr_dispatch.errors import MalformedEventError
from sample_events import load_event

S3_EVENT = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}


@pytest.mark.parametrize(
    "message",
    [
        StartQueued("orders-daily"),
        StartQueued(),
        CloseBatch("clicks-batch-w1"),
        StartJob("orders-daily-0a1b", 2),
        RetryJob("orders-daily-0a1b", "alice", "r-1"),
        Replay(S3_EVENT, "alice (replay --force)"),
    ],
)
def test_every_kind_reads_back_as_it_was_written(message: Any) -> None:
    # When a control message's body is read by the launcher, then it is the same message
    assert parse_control(json.loads(message.body())) == message


def test_bodies_as_earlier_releases_wrote_them_still_parse() -> None:
    # Given bodies in the shapes already on the queue (attempt as a string, no request id, replay's force flag)
    bodies: list[tuple[dict[str, Any], Any]] = [
        ({"emr-dispatch": "start-queued", "route": "*"}, StartQueued("*")),
        ({"emr-dispatch": "start-queued", "route": ""}, StartQueued(None)),
        ({"emr-dispatch": "start-job", "job_id": "j-1", "attempt": "2"}, StartJob("j-1", 2)),
        ({"emr-dispatch": "retry-job", "job_id": "j-1", "requested_by": "bob"}, RetryJob("j-1", "bob")),
        ({"emr-dispatch": "retry-job", "job_id": "j-1"}, RetryJob("j-1", "operator")),
        ({"emr-dispatch": "replay", "force": True, "requested_by": "bob", "event": S3_EVENT}, Replay(S3_EVENT, "bob")),
    ]
    # Then each is its type, with the defaults the launcher always used
    assert [parse_control(body) for body, _ in bodies] == [expected for _, expected in bodies]
    assert json.loads(retry_body("j-1", "bob")) == {
        "emr-dispatch": "retry-job",
        "job_id": "j-1",
        "requested_by": "bob",
        "request_id": "",
    }
    assert json.loads(replay_body(S3_EVENT, "bob"))["force"] is True


def test_s3_events_are_not_control_messages() -> None:
    for name in ("s3-put-classic.json", "s3-object-created-eventbridge.json"):
        assert parse_control(load_event(name)) is None
    assert parse_control([1, 2]) is None
    assert parse_control("emr-dispatch") is None
    assert parse_control({"Event": "s3:TestEvent", "Bucket": "landing"}) is None


@pytest.mark.parametrize(
    ("body", "kind", "problem"),
    [
        ({"emr-dispatch": "start-everything"}, "start-everything", "unknown kind"),
        ({"emr-dispatch": "close-batch"}, "close-batch", "batch_id is missing"),
        ({"emr-dispatch": "close-batch", "batch_id": ""}, "close-batch", "batch_id is missing"),
        ({"emr-dispatch": "start-job", "job_id": "j-1"}, "start-job", "attempt is missing"),
        ({"emr-dispatch": "start-job", "job_id": "j-1", "attempt": "two"}, "start-job", "attempt is missing"),
        ({"emr-dispatch": "start-job", "job_id": "j-1", "attempt": 0}, "start-job", "attempt is missing"),
        ({"emr-dispatch": "start-job", "job_id": "j-1", "attempt": True}, "start-job", "attempt is missing"),
        ({"emr-dispatch": "start-job", "job_id": 7, "attempt": 1}, "start-job", "job_id is missing"),
        ({"emr-dispatch": "retry-job", "requested_by": "bob"}, "retry-job", "job_id is missing"),
        ({"emr-dispatch": "retry-job", "job_id": "j-1", "requested_by": ["bob"]}, "retry-job", "requested_by"),
        ({"emr-dispatch": "start-queued", "route": 3}, "start-queued", "route is missing"),
        ({"emr-dispatch": "replay", "event": "[]"}, "replay", "event is missing or not an object"),
    ],
)
def test_an_unknown_or_malformed_control_message_is_refused_by_name(
    body: dict[str, Any], kind: str, problem: str
) -> None:
    # When the launcher parses it, then it is refused with the kind and what is wrong, as a malformed event (the
    # record fails alone and reaches the arrivals DLQ)
    with pytest.raises(ControlMessageError) as refused:
        parse_control(body)
    assert (refused.value.kind, problem in refused.value.problem) == (kind, True)
    assert isinstance(refused.value, MalformedEventError)
    assert str(refused.value).startswith(f"control message {kind!r}: ")
