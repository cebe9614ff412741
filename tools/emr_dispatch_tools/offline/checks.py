"""The offline checks' own AWS calls (reading a target's tags, a stack's resources) are neither checked nor
counted: they are the harness looking at the account, not the product calling it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_SUSPENDED: ContextVar[bool] = ContextVar("emr_dispatch_offline_checks_suspended", default=False)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    token = _SUSPENDED.set(True)
    try:
        yield
    finally:
        _SUSPENDED.reset(token)


def is_suspended() -> bool:
    return _SUSPENDED.get()
