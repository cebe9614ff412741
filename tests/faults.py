"""Fault injection at the AWS call boundary: an invocation dies just before a call is sent, or just after
AWS has done it (a timeout, an out-of-memory kill, a lost container) — through botocore's event hooks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3


class InjectedCrashError(Exception):
    """The invocation dies here."""


def _events() -> Any:
    return boto3._get_default_session().events


@contextlib.contextmanager
def crash_at(service: str, operation: str, when: str, occurrence: int = 1) -> Iterator[None]:
    """Kill the invocation at the ``occurrence``-th call of ``service.operation``, ``when`` before|after."""
    seen = {"calls": 0, "fired": False}

    def crash(**_: Any) -> None:
        seen["calls"] += 1
        if seen["calls"] == occurrence and not seen["fired"]:
            seen["fired"] = True
            raise InjectedCrashError(f"crash {when} {service}.{operation} #{occurrence}")

    event_name = f"{when}-call.{service}.{operation}"
    handler: Any = crash
    _events().register(event_name, handler, unique_id="test-crash")
    try:
        yield
    finally:
        _events().unregister(event_name, unique_id="test-crash")


@contextlib.contextmanager
def recording_calls() -> Iterator[list[tuple[str, str]]]:
    """Every AWS call made inside the block, in order, as (service, operation)."""
    calls: list[tuple[str, str]] = []

    def record(event_name: str = "", **_: Any) -> None:
        parts = event_name.split(".", 2)
        calls.append((parts[1], parts[2]))

    handler: Any = record
    _events().register("before-call", handler, unique_id="test-record")
    try:
        yield calls
    finally:
        _events().unregister("before-call", unique_id="test-record")


def with_occurrences(calls: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """(service, operation, n): the n-th call of that operation, for crash_at."""
    counted: dict[tuple[str, str], int] = {}
    numbered = []
    for call in calls:
        counted[call] = counted.get(call, 0) + 1
        numbered.append((*call, counted[call]))
    return numbered


@contextlib.contextmanager
def refusing(service: str, operation: str, code: str, times: int | None = None) -> Iterator[list[int]]:
    """AWS answers ``service.operation`` with an error of this code (HTTP 400), for the first ``times`` calls
    (None: every call), as a throttle or a denied call comes back after the SDK's retries. Yields the count of
    refused calls."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    refused = [0]

    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if times is not None and refused[0] >= times:
            return None
        refused[0] += 1
        error = {"Error": {"Code": code, "Message": f"{operation} refused ({code})"}, "ResponseMetadata": {}}
        return AWSResponse("https://refused.invalid/", 400, HTTPHeaders(), None), error

    event_name = f"before-call.{service}.{operation}"
    handler: Any = refuse
    _events().register(event_name, handler, unique_id=f"test-refuse-{service}-{operation}")
    try:
        yield refused
    finally:
        _events().unregister(event_name, unique_id=f"test-refuse-{service}-{operation}")
