"""The CLI acts as the operator: every command's AWS calls are authorized against docs/operator-policy.json
(resolved against the stack the command names), as the functions' calls are against their roles.

The CLI itself knows nothing of this: `Deployment.connect` (where every command reaches its deployment) is
wrapped here, and the principal is set for the rest of the command (reset when its click context closes)."""

from __future__ import annotations

from typing import Any

from emr_dispatch_tools.offline import iam
from emr_dispatch_tools.offline.principals import operator_for_stack

_installed: dict[str, Any] = {}


def _command_context() -> Any:
    """The running command's context: typer carries its own copy of click (typer._click), older ones use click."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # typer before it vendored click
        from click import get_current_context  # type: ignore[no-redef]
    return get_current_context(silent=True)


def install() -> None:
    if "connect" in _installed:
        return
    from emr_dispatch_tools.cli.common import Deployment

    original = Deployment.connect.__func__  # type: ignore[attr-defined]
    _installed["connect"] = original

    def connect(cls: type[Deployment], *args: Any, **kwargs: Any) -> Deployment:
        deployment: Deployment = original(cls, *args, **kwargs)
        context = _command_context()
        principal = operator_for_stack(deployment.stack, deployment.region)
        if context is not None and principal is not None:
            token = iam.set_principal(principal)
            context.call_on_close(lambda: iam.reset_principal(token))
        return deployment

    Deployment.connect = classmethod(connect)  # type: ignore[method-assign, assignment]
