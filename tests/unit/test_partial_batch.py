"""SQS partial batch responses: a failing message alone goes back to the queue."""

from __future__ import annotations

from emr_dispatch.partial_batch import is_sqs_batch, process_messages
from emr_dispatch_tools.lambda_events import sqs_event_of


def test_only_the_failing_message_is_reported_and_the_others_are_handled() -> None:
    # Given a batch of three messages, the second of which cannot be handled
    handled: list[str] = []

    def handle(body: str) -> None:
        if body == "bad":
            raise ValueError("cannot parse")
        handled.append(body)

    # When the batch is processed
    response = process_messages(sqs_event_of(["one", "bad", "three"]), handle)

    # Then the other two were handled, and only the bad one is left for redelivery
    assert handled == ["one", "three"]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_a_batch_whose_every_message_fails_is_still_a_partial_answer() -> None:
    # Given a handler that fails every message (e.g. EMR throttling)
    def handle(body: str) -> None:
        raise RuntimeError("throttled")

    # When the batch is processed, then no exception escapes and every message is reported
    response = process_messages(sqs_event_of(["a", "b"]), handle)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}


def test_sqs_batches_are_told_apart_from_direct_events() -> None:
    # Given an SQS batch, a classic S3 notification and odd shapes, then only the first is an SQS batch
    assert is_sqs_batch(sqs_event_of(["x"]))
    assert not is_sqs_batch({"Records": [{"eventSource": "aws:s3"}]})
    assert not is_sqs_batch({"Records": []})
    assert not is_sqs_batch(["not", "a", "dict"])
