"""Unit tests are pure logic: any attempt to reach the network fails the test that made it."""

from __future__ import annotations

import socket
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
