"""Measuring a run: the launcher's log lines, peak RSS, and cProfile own time by package (AWS calls are
metered by warm.CallMeter)."""

from __future__ import annotations

import contextlib
import logging
import os
import pstats
import resource
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any


class LogTally(logging.Handler):
    """Counts the launcher's log lines by level and message instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[f"{record.levelname} {record.getMessage()}"] += 1


@contextlib.contextmanager
def tallied_logs() -> Iterator[LogTally]:
    """The emr-dispatch logger (INFO, the template's default) is counted by a LogTally, and still formats
    every line as JSON as it does in Lambda (part of the handler's cost), written to /dev/null instead of
    stdout; then everything goes back as it was."""
    from emr_dispatch.observability import logger

    std_logger = logging.getLogger(logger.name)
    tally = LogTally()
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        streams = [(h, h.setStream(devnull)) for h in std_logger.handlers if isinstance(h, logging.StreamHandler)]
        saved_level = std_logger.level
        std_logger.addHandler(tally)
        std_logger.setLevel(logging.INFO)
        try:
            yield tally
        finally:
            std_logger.removeHandler(tally)
            std_logger.setLevel(saved_level)
            for handler, stream in streams:
                handler.setStream(stream)


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
