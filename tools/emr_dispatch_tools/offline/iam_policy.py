"""How IAM decides one authorization request against a principal's identity-based statements (iam.py): explicit
Deny wins, else an Allow whose Action, Resource and Condition all match, else implicit deny. Condition operators and
keys it cannot evaluate raise CannotEvaluateError (fail closed)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from emr_dispatch_tools.offline.iam_model import AuthorizationRequest, CannotEvaluateError, Principal

_REQUEST_MEMBER_KEYS = {
    # Service condition keys whose value is a request member (each service's page of the reference).
    "emr-containers:executionrolearn": "executionRoleArn",
    "elasticmapreduce:executionrolearn": "ExecutionRoleArn",
}

_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
}


@dataclass
class Decision:
    allowed: bool
    reason: str
    closest: str = ""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (the resource part keeps its colons)."""
    if pattern == "*":
        return True
    wanted, got = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(got) == 6 and all(_glob_match(w, g) for w, g in zip(wanted, got, strict=True))


def _context_value(key: str, request: AuthorizationRequest, region: str) -> list[str] | None:
    lowered = key.lower()
    if lowered in request.extra:
        return request.extra[lowered]
    if not request.action.supports_condition_key(key):
        return None  # not in this action's request context (Service Authorization Reference)
    service = request.action.service.lower()
    if lowered.startswith(("aws:requesttag/", f"{service}:requesttag/")):
        tag = key.split("/", 1)[1]
        tags = request.request_tags or {}
        return [tags[tag]] if tag in tags else None
    if lowered == "aws:tagkeys":
        return list(request.request_tags) if request.request_tags else None
    if lowered.startswith(("aws:resourcetag/", f"{service}:resourcetag/")):
        if request.resource_tags is None:
            return None
        tags = request.resource_tags() or {}
        tag = key.split("/", 1)[1]
        return [tags[tag]] if tag in tags else None
    if lowered in _REQUEST_MEMBER_KEYS:
        member = _REQUEST_MEMBER_KEYS[lowered]
        return [str(request.members[member])] if request.members.get(member) else None
    if lowered == "aws:securetransport":
        return ["true"]
    if lowered == "aws:requestedregion":
        return [region]
    raise CannotEvaluateError(f"condition key {key} is not one this checker can evaluate")


def _condition_holds(operator: str, key: str, expected: Any, request: AuthorizationRequest, region: str) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise CannotEvaluateError(f"condition operator {operator} is not one this checker can evaluate")
    values = _context_value(key, request, region)
    wanted = [str(item).lower() if isinstance(item, bool) else str(item) for item in _listed(expected)]
    if base == "Null":
        return (values is None) == (wanted[0].lower() == "true")
    negated = "Not" in base
    if values is None:
        return if_exists or negated or qualifier == "ForAllValues"

    def matches(value: str) -> bool:
        if base.startswith("String"):
            ignore_case = base.endswith("IgnoreCase")
            if "Like" in base:
                return any(_glob_match(w, value) for w in wanted)
            return any((w.lower() == value.lower()) if ignore_case else (w == value) for w in wanted)
        if base.startswith("Arn"):
            return any(_arn_like(w, value) if "Like" in base else w == value for w in wanted)
        return any(w.lower() == value.lower() for w in wanted)  # Bool

    if qualifier == "ForAllValues":
        hit = all(matches(value) for value in values)
    else:
        hit = any(matches(value) for value in values)
    return not hit if negated else hit


def _statement_verdict(statement: Mapping[str, Any], request: AuthorizationRequest, region: str) -> tuple[int, str]:
    """How far a statement gets for this request: 3 = applies; else how many of action / resource it matched,
    and what stopped it."""
    full = request.action.full_name
    if "Action" in statement:
        action_ok = any(_glob_match(str(a), full, ignore_case=True) for a in _listed(statement["Action"]))
    else:
        action_ok = not any(_glob_match(str(a), full, ignore_case=True) for a in _listed(statement["NotAction"]))
    if not action_ok:
        return 0, "action not listed"
    if "Resource" in statement:
        resource_ok = any(_glob_match(str(r), request.resource) for r in _listed(statement["Resource"]))
    else:
        resource_ok = not any(_glob_match(str(r), request.resource) for r in _listed(statement["NotResource"]))
    if not resource_ok:
        return 1, f"resource {request.resource} is not in {statement.get('Resource', statement.get('NotResource'))}"
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, request, region):
                value = _context_value(key, request, region)
                shown = "absent from the request context" if value is None else f"= {value}"
                return 2, f"condition {operator} {key} {expected} does not hold ({key} {shown})"
    return 3, ""


def decide(principal: Principal, request: AuthorizationRequest, region: str) -> Decision:
    best = (-1, "no statement")
    allowed = False
    for statement in principal.statements:
        score, why = _statement_verdict(statement, request, region)
        sid = statement.get("Sid", "(no Sid)")
        if score == 3 and statement.get("Effect") == "Deny":
            return Decision(False, f"explicitly denied by statement {sid}", sid)
        if score == 3 and statement.get("Effect") == "Allow":
            allowed = True
        elif statement.get("Effect") == "Allow" and score > best[0]:
            best = (score, f"{sid}: {why}")
    if allowed:
        return Decision(True, "")
    closest = best[1] if best[0] > 0 else "no statement lists this action"
    return Decision(False, "no statement allows it", closest)
