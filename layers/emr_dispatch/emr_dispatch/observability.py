"""Logger shared by every module of the package (Powertools, JSON, one service name), the correlation id
that ties an arrival to its job, state changes and alert, and the Tracer, loaded only when tracing is on."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import TypeVar, cast

from aws_lambda_powertools import Logger

SERVICE = "emr-dispatch"

logger = Logger(service=SERVICE, child=False)

HandlerT = TypeVar("HandlerT", bound=Callable[..., object])

_ARRIVAL_KEYS = ("arrival_uri", "object_version")


def correlate(job_id: str | None) -> None:
    """Every log line from now on carries ``correlation_id=<job id>`` (None: no job yet)."""
    logger.set_correlation_id(job_id)


def arrival_context(uri: str, object_version: str) -> None:
    """Log lines about one arrival carry the object and its version, and no earlier arrival's job id."""
    correlate(None)
    logger.append_keys(arrival_uri=uri, object_version=object_version)


def clear_arrival_context() -> None:
    correlate(None)
    logger.remove_keys(list(_ARRIVAL_KEYS))


def tracing_enabled() -> bool:
    """Only when the template says so (POWERTOOLS_TRACE_DISABLED=false, TracingMode=Active): unset means off,
    so tools and tests that import a handler never load the X-Ray SDK either."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("false", "0")


def traced(handler: HandlerT) -> HandlerT:
    """The handler, traced by Powertools Tracer (X-Ray) when tracing is on; off, the Tracer is never built and
    the X-Ray SDK never imported, so a function without tracing pays nothing at cold start."""
    if not tracing_enabled():
        return handler
    if importlib.util.find_spec("aws_xray_sdk") is None:  # Powertools Tracer needs it; the layer does not ship it
        logger.warning("tracing is on but the X-Ray SDK is not installed: Lambda's own segments only")
        return handler
    from aws_lambda_powertools import Tracer

    return cast(HandlerT, Tracer(service=SERVICE).capture_lambda_handler(handler, capture_response=False))
