"""Strict request contracts: every AWS call is checked against its botocore service model, in full, before it
leaves the process (to moto, offline).

botocore's own client checks types, required members and minimums only; moto checks almost nothing. AWS
checks the rest (maximum lengths and sizes, patterns, enums, numeric ranges) and answers ValidationException.
This module checks every constraint of the model on every request:
- required members (except idempotency tokens, which botocore fills in), unknown members, exactly one member
  of a union;
- strings: min/max length, enum, pattern (a Java regex, translated by java_regex; fail closed when it cannot
  be); blobs: min/max length; numbers: min/max; lists and maps: min/max size; every nested shape.

A violation answers as AWS would — ``ParamValidationError`` for what botocore refuses on the client (a
required member, a minimum), ``ClientError(ValidationException)`` for what the service refuses — and is
recorded: unless the caller said it expects refusals (``refusals_expected()``), the pytest plugin fails the
test that made it even if the product code handled the error, and the demo and the bench fail at the end.
Type mismatches are left to botocore (it refuses them with their exact path, and boto3's DynamoDB resource
layer converts Python values after this point).

Patterns are matched against the whole value (java.util.regex ``matches()``, as the services' validators do:
`[A-Za-z0-9 /_.:=+@-]*` refuses "R&D"), see docs/decisions.md.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from emr_dispatch_tools.offline.checks import is_suspended
from emr_dispatch_tools.offline.java_regex import UntranslatablePatternError, compile_java

_CLIENT_SIDE_RULES = frozenset({"required", "min", "unknown member", "union"})
"""Rules botocore's client enforces itself (ParamValidationError); everything else is refused by the service."""


@dataclass(frozen=True)
class Violation:
    service: str
    operation: str
    path: str
    rule: str
    detail: str

    @property
    def client_side(self) -> bool:
        return self.rule.split(" ", 1)[0] in _CLIENT_SIDE_RULES or self.rule in _CLIENT_SIDE_RULES

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}: {self.path} breaks {self.rule} ({self.detail})"


class ContractViolationError(AssertionError):
    """Raised by the pytest plugin (and the demo) for violations the product code did not let surface."""


@dataclass
class ContractLedger:
    """What the checker saw in this process: calls, operations, and violations (expected or not)."""

    calls: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    unexpected: list[Violation] = field(default_factory=list)
    expecting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset_unexpected(self) -> None:
        with self.lock:
            self.unexpected.clear()

    def take_unexpected(self) -> list[Violation]:
        with self.lock:
            taken = list(self.unexpected)
            self.unexpected.clear()
        return taken


LEDGER = ContractLedger()


@contextlib.contextmanager
def refusals_expected() -> Iterator[list[Violation]]:
    """Inside: a violation is still refused as AWS would refuse it, but does not fail the test (for tests that
    prove the product handles AWS's refusals). Yields the violations seen inside."""
    start = len(LEDGER.violations)
    seen: list[Violation] = []
    LEDGER.expecting += 1
    try:
        yield seen
    finally:
        LEDGER.expecting -= 1
        seen.extend(LEDGER.violations[start:])


# ---------------------------------------------------------------------------- the checks
@cache
def _operation(service_model: ServiceModel, operation_name: str) -> OperationModel:
    return service_model.operation_model(operation_name)


def check_request(service_model: ServiceModel, operation_name: str, params: Mapping[str, Any]) -> list[Violation]:
    """Every constraint of the operation's input shape that `params` breaks."""
    operation = _operation(service_model, operation_name)
    found: list[Violation] = []
    shape = operation.input_shape
    if shape is None:
        if params:
            found.append(_violation(operation, "", "unknown member", f"{operation_name} takes no input"))
        return found
    _check(shape, params, "", operation, found, top=True)
    return found


def _violation(operation: OperationModel, path: str, rule: str, detail: str) -> Violation:
    service = operation.service_model.service_name
    return Violation(service, operation.name, path or "(input)", rule, detail)


def _check(shape: Shape, value: Any, path: str, op: OperationModel, found: list[Violation], top: bool = False) -> None:
    if value is None:
        return
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return
        assert isinstance(shape, StructureShape)  # noqa: S101 - botocore's model type for "structure"
        _check_structure(shape, value, path, op, found)
    elif kind == "list" and isinstance(value, list | tuple):
        assert isinstance(shape, ListShape)  # noqa: S101
        _check_size(shape, len(value), path, op, found, "items")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", op, found)
    elif kind == "map" and isinstance(value, Mapping):
        assert isinstance(shape, MapShape)  # noqa: S101
        _check_size(shape, len(value), path, op, found, "entries")
        for key, item in value.items():
            _check(shape.key, key, f"{path}<key {key!r}>", op, found)
            _check(shape.value, item, f"{path}[{key!r}]", op, found)
    elif kind == "string" and isinstance(value, str):
        _check_string(shape, value, path, op, found)
    elif kind == "blob" and isinstance(value, bytes | bytearray | str):
        size = len(value.encode() if isinstance(value, str) else value)
        _check_size(shape, size, path, op, found, "bytes")
    elif (
        kind in {"integer", "long", "float", "double"}
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        metadata = shape.metadata
        if "min" in metadata and value < metadata["min"]:
            found.append(_violation(op, path, f"min {metadata['min']}", f"value {value}"))
        if "max" in metadata and value > metadata["max"]:
            found.append(_violation(op, path, f"max {metadata['max']}", f"value {value}"))


def _check_structure(shape: StructureShape, value: Any, path: str, op: OperationModel, found: list[Violation]) -> None:
    if not isinstance(value, Mapping):
        return
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None and not members[name].metadata.get("idempotencyToken"):
            found.append(_violation(op, _join(path, name), "required", "missing"))
    for name in value:
        if name not in members:
            found.append(_violation(op, _join(path, name), "unknown member", f"{shape.name} has no member {name}"))
    if shape.is_tagged_union:
        present = [name for name in value if value[name] is not None]
        if len(present) != 1:
            found.append(_violation(op, path, "union", f"exactly one member must be set, got {present}"))
    for name, item in value.items():
        if name in members:
            _check(members[name], item, _join(path, name), op, found)


def _check_string(shape: Shape, value: str, path: str, op: OperationModel, found: list[Violation]) -> None:
    metadata = shape.metadata
    shown = value if len(value) <= 80 else value[:77] + "..."
    _check_size(shape, len(value), path, op, found, "characters", shown)
    enum = metadata.get("enum")
    if enum and value not in enum:
        found.append(_violation(op, path, f"enum {sorted(enum)}", f"value {shown!r}"))
    pattern = metadata.get("pattern")
    if pattern:
        try:
            matched = compile_java(pattern).fullmatch(value) is not None
        except UntranslatablePatternError as exc:
            found.append(_violation(op, path, f"pattern {pattern}", f"cannot be checked here, failing closed: {exc}"))
            return
        if not matched:
            found.append(_violation(op, path, f"pattern {pattern}", f"value {shown!r}"))


def _check_size(
    shape: Shape, size: int, path: str, op: OperationModel, found: list[Violation], unit: str, shown: str = ""
) -> None:
    metadata = shape.metadata
    value = f"value {shown!r} has {size} {unit}" if shown else f"{size} {unit}"
    if "min" in metadata and size < metadata["min"]:
        found.append(_violation(op, path, f"min {metadata['min']} {unit}", value))
    if "max" in metadata and size > metadata["max"]:
        found.append(_violation(op, path, f"max {metadata['max']} {unit}", value))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---------------------------------------------------------------------------- the hook
def refusal(violations: list[Violation], operation_name: str) -> Exception:
    """The error AWS (or botocore's client) would answer for these violations."""
    report = "; ".join(str(violation) for violation in violations)
    if any(violation.client_side for violation in violations):
        return ParamValidationError(report=f"contract violation: {report}")
    error = {"Error": {"Code": "ValidationException", "Message": f"contract violation: {report}"}}
    return ClientError(error, operation_name)  # type: ignore[arg-type]


_installed: dict[str, Callable[..., Any]] = {}


def install() -> None:
    """Wrap botocore.client.BaseClient._make_api_call (once per process; chains whatever was there)."""
    if "previous" in _installed:
        return
    previous: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in stubs
    _installed["previous"] = previous

    def _make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if is_suspended():
            return previous(self, operation_name, api_params)
        service_model = self.meta.service_model
        found = check_request(service_model, operation_name, api_params)
        with LEDGER.lock:
            LEDGER.calls += 1
            LEDGER.operations[f"{service_model.service_name}.{operation_name}"] += 1
            LEDGER.violations.extend(found)
            if found and not LEDGER.expecting:
                LEDGER.unexpected.extend(found)
        if found:
            raise refusal(found, operation_name)
        return previous(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", _make_api_call)  # noqa: B010 - private, untyped in stubs
