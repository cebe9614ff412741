"""Measuring a run: botocore call counting (calls, time inside them, clients created), the launcher's log
lines, peak RSS, and cProfile own time by package."""

from __future__ import annotations

import contextlib
import logging
import pstats
import resource
import time
from collections import Counter, defaultdict
from typing import Any

from emr_dispatch_tools.logs import diverted_logs


class ApiCalls:
    """AWS API calls, by '<service>.<Operation>', made by clients of one boto3 session while armed, and the
    time spent inside them (botocore + moto). Clients copy their session's event handlers when created, so
    attach before the clients to count exist; the launcher creates its clients afresh on every invocation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.clients: Counter[str] = Counter()  # boto3 clients created, by service
        self.armed = False

    def attach(self, events: Any) -> None:
        events.register("before-call", self._before, unique_id="emr-dispatch-bench-before-call")
        events.register("after-call", self._after, unique_id="emr-dispatch-bench-after-call")
        events.register("after-call-error", self._after, unique_id="emr-dispatch-bench-after-call-error")
        events.register("creating-client-class", self._client_created, unique_id="emr-dispatch-bench-clients")

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def _before(self, context: dict[str, Any], **_: Any) -> None:
        if self.armed:
            context["emr_dispatch_bench_started"] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("emr_dispatch_bench_started", None)
        if started is not None:
            name = f"{model.service_model.service_name}.{model.name}"
            self.calls[name] += 1
            self.seconds[name] += time.perf_counter() - started

    def _client_created(self, event_name: str, **_: Any) -> None:
        if self.armed:
            self.clients[event_name.removeprefix("creating-client-class.")] += 1


def count_default_session() -> ApiCalls:
    """Count the calls of clients made from boto3's default session, as emr_dispatch.aws makes them."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None  # noqa: S101 - set just above
    counter = ApiCalls()
    counter.attach(boto3.DEFAULT_SESSION.events)
    return counter


class LogTally(logging.Handler):
    """Counts the launcher's log lines by level and message instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[f"{record.levelname} {record.getMessage()}"] += 1


def tallied_logs() -> contextlib.AbstractContextManager[LogTally]:
    """The emr-dispatch logger (INFO, the template's default) goes to a LogTally, then back as it was."""
    return diverted_logs(LogTally())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (cProfile tottime) by package, largest first. Time in the standard library and in builtins
    is charged to the package that called them (through any depth of standard library), by caller share."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # {func: (cc, nc, tt, ct, callers)}
    owners: dict[Any, dict[str, float]] = {}

    def owner_of(func: Any, visiting: frozenset[Any]) -> dict[str, float]:
        package = _package_of(func[0])
        if package != _STDLIB or func in visiting:
            return {package: 1.0}
        if func not in owners:
            callers = table.get(func, (0, 0, 0, 0, {}))[4]
            total = sum(timing[2] for timing in callers.values())
            if not total:
                return {package: 1.0}
            shares: defaultdict[str, float] = defaultdict(float)
            for caller, timing in callers.items():
                for owner, share in owner_of(caller, visiting | {func}).items():
                    shares[owner] += share * timing[2] / total
            owners[func] = dict(shares)
        return owners[func]

    totals: defaultdict[str, float] = defaultdict(float)
    for func, (_, _, own_seconds, _, _) in table.items():
        for owner, share in owner_of(func, frozenset()).items():
            totals[owner] += own_seconds * share
    return sorted(totals.items(), key=lambda item: -item[1])


def hot_spots(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative time of a few functions that explain the wall time (they overlap: not a sum)."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    spots = {
        "creating boto3 clients (botocore Session.create_client)": ("botocore/session.py", "create_client"),
        "AWS API calls (botocore BaseClient._make_api_call)": ("botocore/client.py", "_make_api_call"),
        "  of which in moto (BotocoreStubber, before-send)": ("moto/core/botocore_stubber.py", "__call__"),
    }
    return {
        label: max(
            (timing[3] for (f, _, name), timing in table.items() if f.endswith(suffix) and name == fn), default=0
        )
        for label, (suffix, fn) in spots.items()
    }


_STDLIB = "Python standard library and builtins"


def _package_of(filename: str) -> str:
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for marker, name in (("/layers/emr_dispatch/", "emr_dispatch (layer)"), ("/functions/", "functions (handlers)")):
        if marker in path:
            return name
    if "/tools/emr_dispatch_tools/" in path:
        return "emr_dispatch_tools (bench, moto_stack)"
    return _STDLIB
