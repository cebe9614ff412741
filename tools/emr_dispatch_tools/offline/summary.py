"""The checks outside pytest (the demo, the bench): install them, count what a run made, say it in one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from emr_dispatch_tools.offline import contracts, iam


@dataclass
class Checked:
    """What the checks saw during one run."""

    calls: int = 0
    operations: set[str] = field(default_factory=set)
    by_principal: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    denials: list[str] = field(default_factory=list)

    def iam_line(self) -> str:
        counts = ", ".join(
            f"{name.removesuffix('Function').lower()} {count}" for name, count in sorted(self.by_principal.items())
        )
        verdict = "all allowed" if not self.denials else f"{len(self.denials)} DENIED"
        return f"IAM checked the calls of {counts or 'no function'}: {verdict}"

    def contracts_line(self) -> str:
        verdict = "all within their API contracts" if not self.violations else f"{len(self.violations)} REFUSED"
        return f"contracts: {self.calls} calls / {len(self.operations)} operations checked - {verdict}"

    @property
    def problems(self) -> list[str]:
        return [f"contract violation: {line}" for line in self.violations] + [
            f"access denied: {line}" for line in self.denials
        ]


@contextlib.contextmanager
def checking() -> Iterator[Checked]:
    """Every AWS call inside is contract-checked and, inside a function invocation, authorized."""
    iam.install()
    contracts.install()
    checked = Checked()
    calls, operations = contracts.LEDGER.calls, dict(contracts.LEDGER.operations)
    violations, denials = len(contracts.LEDGER.violations), len(iam.LEDGER.denials)
    principals = dict(iam.LEDGER.by_principal)
    try:
        yield checked
    finally:
        checked.calls = contracts.LEDGER.calls - calls
        checked.operations = {
            name for name, count in contracts.LEDGER.operations.items() if count > operations.get(name, 0)
        }
        checked.by_principal = {
            name: count - principals.get(name, 0)
            for name, count in iam.LEDGER.by_principal.items()
            if count - principals.get(name, 0)
        }
        checked.violations = [str(v) for v in contracts.LEDGER.violations[violations:]]
        checked.denials = [str(d) for d in iam.LEDGER.denials[denials:]]
