"""pytest plugin (registered in pyproject's addopts, so every test runs under it): the strict request
contracts and the IAM authorizer are installed for the whole session, and a test fails when any AWS call it
made (in its fixtures too) broke a contract or was denied — even when the product code handled the error.

Tests that prove the product handles AWS's refusals say so with ``contracts.refusals_expected()`` /
``iam.denials_expected()``. The terminal summary prints one line with the calls and operations covered.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from emr_dispatch_tools.offline import contracts, iam, operator

_WORKER_KEY = "emr_dispatch_offline_checks"


def _no_wait(seconds: float) -> None:
    """Tests never wait on the wall clock: emr-dispatch's pacing waits (token buckets, conflict backoff) pass at once
    outside a virtual clock. Pacing itself is tested on virtual clocks (offline/clock.virtual_time), which wait."""


def pytest_configure(config: pytest.Config) -> None:
    from emr_dispatch import timeutil

    timeutil.use_sleep(_no_wait)
    iam.install()
    contracts.install()  # outermost: a malformed request is named before it is authorized
    operator.install()
    config.stash[_totals] = _Totals()


def _unexpected_lines() -> list[str]:
    lines = [f"contract violation: {violation}" for violation in contracts.LEDGER.take_unexpected()]
    lines += [f"access denied: {denial}" for denial in iam.LEDGER.take_unexpected()]
    return lines


def _checked_phase() -> Generator[None, None, None]:
    """Run one phase (setup, call, teardown); fail it if AWS would have refused a call made in it. When the
    phase failed anyway, the refusals are added to its error as notes."""
    try:
        yield
    except BaseException as exc:
        for line in _unexpected_lines():
            exc.add_note(f"AWS would also refuse: {line}")
        raise
    lines = _unexpected_lines()
    if lines:
        raise contracts.ContractViolationError(
            "AWS would refuse calls this test made (the product code may have handled the refusal):\n  "
            + "\n  ".join(lines)
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    contracts.LEDGER.reset_unexpected()
    iam.LEDGER.reset_unexpected()
    return (yield from _checked_phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _checked_phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    return (yield from _checked_phase())


class _Totals:
    def __init__(self) -> None:
        self.calls = 0
        self.operations: set[str] = set()
        self.violations = 0
        self.authorized = 0
        self.principals: dict[str, int] = {}
        self.actions: set[str] = set()
        self.denied = 0

    def add(self, report: dict[str, Any]) -> None:
        self.calls += report["calls"]
        self.operations |= set(report["operations"])
        self.violations += report["violations"]
        self.authorized += report["authorized"]
        for name, count in report["principals"].items():
            self.principals[name] = self.principals.get(name, 0) + count
        self.actions |= set(report["actions"])
        self.denied += report["denied"]


_totals = pytest.StashKey[_Totals]()


def _local_report() -> dict[str, Any]:
    return {
        "calls": contracts.LEDGER.calls,
        "operations": sorted(contracts.LEDGER.operations),
        "violations": len(contracts.LEDGER.violations),
        "authorized": iam.LEDGER.checked,
        "principals": dict(iam.LEDGER.by_principal),
        "actions": sorted(iam.LEDGER.actions),
        "denied": len(iam.LEDGER.denials),
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput[_WORKER_KEY] = json.dumps(_local_report())
    else:
        session.config.stash[_totals].add(_local_report())


def pytest_testnodedown(node: Any, error: Any) -> None:
    report = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if report:
        node.config.stash[_totals].add(json.loads(report))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    totals = config.stash[_totals]
    by_principal = ", ".join(f"{name} {count}" for name, count in sorted(totals.principals.items()))
    terminalreporter.write_line(
        f"offline AWS checks: {totals.calls} calls / {len(totals.operations)} distinct operations checked against "
        f"botocore's models ({totals.violations} refused); {totals.authorized} calls / {len(totals.actions)} "
        f"distinct actions authorized by IAM ({by_principal or 'no principal'}; {totals.denied} denied)"
    )
