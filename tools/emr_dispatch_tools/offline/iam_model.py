"""What the offline IAM checker (iam.py) reasons about: who calls (Principal), the authorization requests one
call becomes (AuthorizationRequest), and the error that makes it fail closed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emr_dispatch_tools.offline import sar


class CannotEvaluateError(Exception):
    """Something about this call the checker cannot evaluate: it is denied (fail closed)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a function's execution role (or the operator), with its resolved statements."""

    name: str
    role: str
    statements: tuple[Mapping[str, Any], ...]
    region: str = "us-east-1"
    account: str = "123456789012"
    partition: str = "aws"

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.role}/{self.name}"


@dataclass
class AuthorizationRequest:
    action: sar.Action
    resource: str
    resource_type: sar.ResourceType | None
    request_tags: dict[str, str] | None
    extra: dict[str, list[str]] = field(default_factory=dict)
    resource_tags: Callable[[], dict[str, str] | None] | None = None
    members: Mapping[str, Any] = field(default_factory=dict)
