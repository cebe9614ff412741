"""How long the running Lambda invocation has left, on emr-dispatch's clock (timeutil: virtual offline).

A handler that makes calls of open-ended length (the launcher's lookup of an abandoned start pages through
ListClusters at a paced rate) declares its invocation with ``lasting``; the domain asks ``lookup_until`` when such
a call must stop, so that one message's lookup never outlasts the function's timeout and fails the whole batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from emr_dispatch.timeutil import epoch_now

LOOKUP_SECONDS = 40.0
"""The longest one lookup of an abandoned start may take (the launcher has 120 s for a batch of up to 10 messages)."""
RESERVE_SECONDS = 20.0
"""Left of the invocation after a lookup: the ledger writes and the start call that follow it."""

_ends_at: float | None = None


@contextlib.contextmanager
def lasting(remaining_millis: int) -> Iterator[None]:
    """The invocation inside the block ends ``remaining_millis`` from now (``context.get_remaining_time_in_millis``)."""
    global _ends_at  # one invocation at a time per Lambda container
    previous, _ends_at = _ends_at, epoch_now() + remaining_millis / 1000
    try:
        yield
    finally:
        _ends_at = previous


def lookup_until() -> float:
    """When a lookup begun now must stop (epoch seconds): ``LOOKUP_SECONDS`` from now, and ``RESERVE_SECONDS`` before
    the invocation ends when a handler declared it."""
    until = epoch_now() + LOOKUP_SECONDS
    return min(until, _ends_at - RESERVE_SECONDS) if _ends_at is not None else until
