"""Malformed events: whatever arrives, the answer is a result with a reason or a MalformedEventError (the
record goes to its DLQ), never another exception, and every good record of a batch is still processed.

Fuzzed with hypothesis from the events/ samples of every shape: both S3 shapes (direct and SQS-wrapped) and
every engine state change (EMR cluster and step, EMR Serverless, EMR on EKS), through the parse paths the
launcher and tracker use. No AWS: the tracker reads a ledger that knows no resource."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import builders
from emr_dispatch.arrivals import Arrival, parse_message_body, parse_s3_event
from emr_dispatch.arrivals import TestEvent as S3TestEvent
from emr_dispatch.engines import build_engines
from emr_dispatch.errors import MalformedEventError
from emr_dispatch.ledger import Ledger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import load_routes_file
from emr_dispatch.track import Tracker
from emr_dispatch_tools.moto_stack import LambdaContext
from sample_events import EVENTS_DIR, load_event

ROUTES = load_routes_file(Path(__file__).resolve().parents[2] / "config" / "routes.yaml")
S3_SAMPLES = ("s3-put-classic.json", "s3-object-created-eventbridge.json")
STATE_CHANGE_SAMPLES = tuple(
    sorted(path.name for path in EVENTS_DIR.glob("*.json") if path.name.startswith(("emr-", "emr-eks")))
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON document, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _slots(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield node, index
            yield from _slots(value)


@st.composite
def mutated(draw: st.DrawFn, samples: tuple[str, ...]) -> dict[str, Any]:
    """A sample event with one to three fields dropped or replaced by any JSON value."""
    event = load_event(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        slots = list(_slots(event))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(json_values)
    return event


# ------------------------------------------------------------------ S3 arrivals (launcher's parse path)
def _parsed_or_malformed(parse: Any, value: Any) -> list[Arrival | S3TestEvent] | None:
    try:
        parsed: list[Arrival | S3TestEvent] = parse(value)
    except MalformedEventError as exc:
        reason = str(exc)
    else:
        for item in parsed:
            assert isinstance(item, Arrival | S3TestEvent)
            if isinstance(item, Arrival):
                # Whatever got through is usable: routes decide on it without raising
                decision = ROUTES.decide(item.bucket, item.key, "work-bucket")
                assert decision.route is not None or decision.reason
        return parsed
    assert reason  # a clear reason, for the log line and the DLQ
    return None


@FUZZ
@given(event=mutated(S3_SAMPLES))
def test_any_mutation_of_an_s3_event_parses_or_is_malformed(event: dict[str, Any]) -> None:
    # Given a classic or EventBridge S3 event with fields dropped or wrongly typed
    # When it is parsed directly and as an SQS message body
    # Then each way it yields arrivals (that routes can decide on) or a MalformedEventError
    _parsed_or_malformed(parse_s3_event, event)
    _parsed_or_malformed(parse_message_body, json.dumps(event))


@FUZZ
@given(sample=st.sampled_from(S3_SAMPLES), cut=st.integers(min_value=0, max_value=2000))
def test_truncated_sqs_bodies_are_malformed(sample: str, cut: int) -> None:
    # Given an SQS body holding an S3 event, cut short anywhere
    body = json.dumps(load_event(sample))
    truncated = body[: min(cut, len(body) - 1)]
    # When / Then it is a MalformedEventError (truncated JSON never parses into arrivals)
    with pytest.raises(MalformedEventError):
        parse_message_body(truncated)


@FUZZ
@given(event=json_values)
def test_any_json_value_as_an_s3_event_parses_or_is_malformed(event: Any) -> None:
    # Given any JSON value at all as a message body
    # When / Then it parses or raises MalformedEventError, nothing else
    _parsed_or_malformed(parse_message_body, json.dumps(event))


# ------------------------------------------------------------------ state changes (tracker's parse path)
class _LedgerThatKnowsNothing:
    def find_by_engine_id(self, engine_id: str) -> None:
        assert isinstance(engine_id, str)
        assert engine_id
        return None

    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def _tracker() -> Tracker:
    ledger = _LedgerThatKnowsNothing()
    engines = build_engines(builders.settings(), ledger)
    return Tracker(cast(Ledger, ledger), engines, cast(OutcomeRecorder, None))


@pytest.mark.parametrize("name", STATE_CHANGE_SAMPLES)
def test_state_change_of_a_resource_emr_dispatch_does_not_know_is_skipped(name: str) -> None:
    # Given a well-formed state change of every shape, for a cluster or job run no job owns
    # When the tracker handles it
    result = _tracker().handle(load_event(name))
    # Then it is skipped with the reason, and nothing else happens
    assert (result.status, result.reason) == ("skipped", "unknown engine resource")


@pytest.mark.parametrize("source", ["aws.emr", "aws.emr-serverless", "aws.emr-containers"])
def test_unknown_detail_type_of_a_known_source_is_skipped(source: str) -> None:
    # Given an event type emr-dispatch does not track (e.g. an EMR Serverless application change)
    event = {"source": source, "detail-type": "Something New", "detail": {"state": "RUNNING"}}
    # When / Then it is skipped with the reason
    result = _tracker().handle(event)
    assert (result.status, result.reason) == ("skipped", "untracked detail-type")


@pytest.mark.parametrize(
    "event", [[], "text", None, {"source": "aws.ec2"}, {"detail-type": "EMR Cluster State Change"}]
)
def test_events_of_no_engine_are_malformed(event: Any) -> None:
    # Given something that is not an engine's event
    # When / Then it is a MalformedEventError: Lambda retries it, then its on-failure destination keeps it
    with pytest.raises(MalformedEventError):
        _tracker().handle(event)


@FUZZ
@given(event=mutated(STATE_CHANGE_SAMPLES))
def test_any_mutation_of_a_state_change_is_skipped_or_malformed(event: dict[str, Any]) -> None:
    # Given an EMR cluster/step, EMR Serverless or EMR on EKS event with fields dropped or wrongly typed
    # When the tracker handles it (its ledger knows no resource)
    try:
        result = _tracker().handle(event)
    except MalformedEventError as exc:
        reason = str(exc)
    else:
        # Then it is skipped with a reason ...
        assert result.status == "skipped"
        assert result.reason in ("unknown engine resource", "untracked detail-type")
        return
    # ... or malformed, with one
    assert reason


# ------------------------------------------------------------------ a whole batch through the launcher handler
@dataclass
class _ParsingLauncher:
    """Stands in for the launcher behind the handler: parses each message as the real one does."""

    handled: list[str]

    def handle_message(self, body: str) -> list[Any]:
        parse_message_body(body)
        self.handled.append(body)
        return []

    def handle_event(self, event: Any) -> list[Any]:
        parse_s3_event(event)
        return []


def test_oversized_batch_reports_exactly_its_bad_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch far larger than the event source sends (300 records), every seventh one broken
    import launch_handler
    from emr_dispatch import wiring

    launcher = _ParsingLauncher([])
    monkeypatch.setattr(wiring, "launcher", lambda: launcher)
    template = load_event("sqs-s3-batch.json")["Records"][0]
    records, bad = [], []
    for index in range(300):
        record = {**copy.deepcopy(template), "messageId": f"m-{index}"}
        if index % 7 == 3:
            record["body"] = record["body"][: index % 40]
            bad.append(record["messageId"])
        records.append(record)

    # When the launcher's handler receives it
    response = launch_handler.handler({"Records": records}, cast(Any, LambdaContext("launcher")))

    # Then exactly the broken records are reported, and every good one was handled
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == bad
    assert len(launcher.handled) == 300 - len(bad)


def test_direct_invocation_with_records_that_are_not_objects_is_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a direct invocation whose Records are not objects (it used to crash on .get of a string)
    import launch_handler
    from emr_dispatch import wiring

    monkeypatch.setattr(wiring, "launcher", lambda: _ParsingLauncher([]))
    # When / Then it is a MalformedEventError naming the record
    with pytest.raises(MalformedEventError, match=r"Records\[0\] is not an object"):
        launch_handler.handler({"Records": ["not an object"]}, cast(Any, LambdaContext("launcher")))
