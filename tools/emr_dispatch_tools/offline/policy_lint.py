"""Static checks of IAM policy statements against the Service Authorization Reference (sar.py):
- every action exists (a pattern names at least one action);
- every action is granted on resources of its resource types, or on "*" where it has none (IAM matches an
  action without a resource type only against "*"), and every listed resource applies to some action;
- every condition operator is one IAM knows, every condition key exists and is supported by each action the
  statement grants (an unsupported key is absent from the request context: the statement never applies).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from emr_dispatch_tools.offline import sar

_BASE_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
}
_SLASHED_VARIABLES = ("Path", "ObjectName", "Key", "Prefix")
"""ARN-format variables whose values may hold "/" (object keys, role paths)."""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def valid_operator(operator: str) -> bool:
    qualifier, _, base = operator.rpartition(":")
    return qualifier in ("", "ForAnyValue", "ForAllValues") and base.removesuffix("IfExists") in _BASE_OPERATORS


def statement_problems(statement: Mapping[str, Any]) -> list[str]:
    """Every way this (resolved) statement disagrees with the Service Authorization Reference, in words."""
    sid = statement.get("Sid", "(no Sid)")
    problems: list[str] = []
    actions: list[sar.Action] = []
    for pattern in _listed(statement.get("Action", [])):
        try:
            matched = sar.actions_matching(str(pattern))
        except sar.UnknownToReferenceError as exc:
            problems.append(f"{sid}: {exc}")
            continue
        if not matched:
            problems.append(f"{sid}: {pattern} names no action of the Service Authorization Reference")
        actions += matched
    resources = [str(resource) for resource in _listed(statement.get("Resource", []))]
    used: set[str] = set()
    for action in actions:
        if not action.resource_types:
            if "*" not in resources:
                problems.append(
                    f'{sid}: {action.full_name} has no resource type: IAM matches it only against "*", not {resources}'
                )
            used.add("*")
            continue
        applicable = [r for r in resources if r == "*" or any(could_match(r, t) for t in action.resource_types)]
        used.update(applicable)
        if not applicable:
            formats = [resource_type.arn_format for resource_type in action.resource_types]
            problems.append(f"{sid}: none of {resources} is an ARN {action.full_name} is authorized on ({formats})")
    for resource in resources:
        if actions and resource not in used:
            problems.append(f"{sid}: resource {resource} is an ARN of none of the statement's actions")
    for operator, keys in statement.get("Condition", {}).items():
        if not valid_operator(operator):
            problems.append(f"{sid}: {operator} is not an IAM condition operator")
        for key in keys:
            if not sar.condition_key_exists(key):
                problems.append(f"{sid}: condition key {key} does not exist")
                continue
            for action in actions:
                if not action.supports_condition_key(key):
                    problems.append(f"{sid}: {action.full_name} does not support condition key {key}")
    return problems


def could_match(resource: str, resource_type: sar.ResourceType) -> bool:
    """Whether some ARN of `resource_type` matches the policy resource `resource` (with * and ? wildcards)."""
    return _intersects(resource, _format_tokens(resource_type.arn_format))


@cache
def _format_tokens(arn_format: str) -> tuple[str, ...]:
    """An ARN format as tokens: one character each, or a variable ("${Name}")."""
    tokens: list[str] = []
    i = 0
    while i < len(arn_format):
        if arn_format.startswith("${", i):
            end = arn_format.index("}", i)
            tokens.append(arn_format[i : end + 1])
            i = end + 1
        else:
            tokens.append(arn_format[i])
            i += 1
    return tuple(tokens)


def _variable_accepts(token: str, char: str) -> bool:
    if token in ("${Partition}", "${Region}", "${Account}"):
        return char != ":"
    return char != "/" or any(part in token for part in _SLASHED_VARIABLES)


def _intersects(resource: str, tokens: tuple[str, ...]) -> bool:
    """Is there a string matched both by the policy resource (glob) and the ARN format (variables = 1+ chars)?"""

    @cache
    def match(i: int, j: int, in_variable: bool) -> bool:
        if i == len(resource):
            return j == len(tokens) or (in_variable and j + 1 == len(tokens))
        char = resource[i]
        if in_variable:
            # the variable at j has at least one character already: it may end here or go on
            if match(i, j + 1, False):
                return True
            return (char in "*?" or _variable_accepts(tokens[j], char)) and match(i + 1, j, True)
        if char == "*":
            if match(i + 1, j, False):  # the star matches nothing (more)
                return True
            return j < len(tokens) and match(i, j + 1, False)  # the star covers the next token
        if j == len(tokens):
            return False
        token = tokens[j]
        if token.startswith("${"):
            return (char == "?" or _variable_accepts(token, char)) and match(i + 1, j, True)
        return (char == "?" or char == token) and match(i + 1, j + 1, False)

    return match(0, 0, False)
