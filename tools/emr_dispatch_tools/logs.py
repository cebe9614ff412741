"""Diverting emr-dispatch's logger (JSON lines meant for CloudWatch) to a handler of the caller's, then back."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TypeVar

HandlerT = TypeVar("HandlerT", bound=logging.Handler)


@contextlib.contextmanager
def diverted_logs(handler: HandlerT) -> Iterator[HandlerT]:
    """The package logger (at INFO, the template's default) writes only to ``handler`` meanwhile."""
    from emr_dispatch.observability import logger  # imported now, so its own handler is there to take away

    std_logger = logging.getLogger(logger.name)
    saved_handlers, saved_level = list(std_logger.handlers), std_logger.level
    for saved in saved_handlers:
        std_logger.removeHandler(saved)
    std_logger.addHandler(handler)
    std_logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        std_logger.removeHandler(handler)
        for saved in saved_handlers:
            std_logger.addHandler(saved)
        std_logger.setLevel(saved_level)
