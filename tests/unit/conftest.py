"""Unit tests are pure logic: any attempt to reach the network fails the test that made it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import NoReturn

import pytest


class NetworkBlockedError(RuntimeError):
    """Raised when a unit test (or the code under test) tries to open a connection."""


def _refuse(*args: object, **kwargs: object) -> NoReturn:
    raise NetworkBlockedError(f"unit tests must not use the network (attempted with {args[1:]!r})")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # Connecting and resolving are both refused: a stray boto3 call fails loudly instead of hanging.
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)


@pytest.fixture
def paced_clock() -> Iterator[list[float]]:
    """emr-dispatch's clock and sleep on a list's one number (epoch seconds): a wait advances it at once, so paced
    calls are tested without waiting. Restored to the system clock afterwards."""
    from datetime import UTC, datetime

    from emr_dispatch import timeutil

    now = [1_790_000_000.0]
    previous_sleep = timeutil.sleeper()
    timeutil.use_clock(lambda: datetime.fromtimestamp(now[0], UTC))
    timeutil.use_sleep(lambda seconds: now.__setitem__(0, now[0] + seconds))
    try:
        yield now
    finally:
        timeutil.use_clock(None)
        timeutil.use_sleep(previous_sleep)
