"""The deployed functions invoked as warm Lambda containers would run them, and the AWS calls they make.

``moto_stack.DeployedStack.invoke`` starts every invocation from scratch (environment read, wiring reset,
clients created): right for tests, wrong for timing a hot path. Here a function keeps its environment and its
object graph across invocations; switching to another function is a new container (wiring reset), since all
three share this process.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from emr_dispatch_tools import moto_stack


class WarmFunctions:
    def __init__(self, stack: moto_stack.DeployedStack, overrides: dict[str, str] | None = None) -> None:
        self._stack = stack
        self._overrides = overrides or {}
        self._current: str | None = None
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None
        self._saved: dict[str, str | None] = {}
        # Read now: moto_stack reads a function's environment with a (moto) GetFunctionConfiguration call,
        # which is the bench's, not the function's, and must not be counted or timed.
        self._environments = {logical_id: stack.function_environment(logical_id) for logical_id in stack.functions}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        if logical_id != self._current:
            self._start_container(logical_id)
        assert self._handler is not None  # noqa: S101 - set by _start_container
        return self._handler(event, moto_stack.LambdaContext(self._stack.resources[logical_id]))

    def close(self) -> None:
        from emr_dispatch import wiring

        self._restore()
        wiring.reset()
        self._current = self._handler = None

    def _start_container(self, logical_id: str) -> None:
        from emr_dispatch import wiring

        self._restore()
        environment = {
            **self._environments[logical_id],
            **self._overrides,
            "AWS_LAMBDA_FUNCTION_NAME": self._stack.resources[logical_id],
            "AWS_REGION": self._stack.region,
            "POWERTOOLS_METRICS_NAMESPACE": "emr-dispatch",
        }
        self._saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        wiring.reset()
        self._handler = moto_stack.load_handler(self._stack.functions[logical_id])
        self._current = logical_id

    def _restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = {}


class CallMeter:
    """AWS API calls made by clients of boto3's default session (where ``emr_dispatch.aws`` makes its
    clients) while armed: counted by '<service>.<Operation>', and timed from the first event botocore emits
    for a call (``provide-client-params``, before validation and serialisation) to ``after-call``: that is
    the whole cost of the call in botocore and moto, the part a bare client making the same call would pay."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.clients: Counter[str] = Counter()  # boto3 clients created while armed, by service
        self.armed = False
        self._key = f"emr_dispatch_bench_meter_{id(self)}"

    @classmethod
    def on_default_session(cls) -> CallMeter:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None  # noqa: S101 - set just above
        meter = cls()
        # Clients copy their session's handlers when they are created: attach before the clients to meter exist.
        events = boto3.DEFAULT_SESSION.events
        events.register("provide-client-params", meter._started, unique_id=f"{meter._key}-start")
        events.register("after-call", meter._ended, unique_id=f"{meter._key}-end")
        events.register("after-call-error", meter._ended, unique_id=f"{meter._key}-error")
        events.register("creating-client-class", meter._client_created, unique_id=f"{meter._key}-clients")
        return meter

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def _started(self, context: dict[str, Any], **_: Any) -> None:
        if self.armed:
            context[self._key] = time.perf_counter()

    def _ended(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop(self._key, None)
        if started is not None:
            name = f"{model.service_model.service_name}.{model.name}"
            self.calls[name] += 1
            self.seconds[name] += time.perf_counter() - started

    def _client_created(self, event_name: str, **_: Any) -> None:
        if self.armed:
            self.clients[event_name.removeprefix("creating-client-class.")] += 1


class Measured:
    """One metered invocation: its wall time, the time inside AWS calls, and the calls by operation."""

    def __init__(self, meter: CallMeter, functions: WarmFunctions) -> None:
        self._meter = meter
        self._functions = functions

    def invoke(self, logical_id: str, event: dict[str, Any]) -> tuple[Any, float, float, Counter[str]]:
        calls_before, seconds_before = Counter(self._meter.calls), self._meter.total_seconds
        self._meter.armed = True
        started = time.perf_counter()
        try:
            result = self._functions.invoke(logical_id, event)
        finally:
            wall = time.perf_counter() - started
            self._meter.armed = False
        return result, wall, self._meter.total_seconds - seconds_before, self._meter.calls - calls_before
