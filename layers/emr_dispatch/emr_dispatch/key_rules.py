"""Object keys that are refused before any job starts (invariant 6: a key is only ever data): whatever the route
(control characters), and where a route's steps would let a key be read as more than data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from emr_dispatch.placeholders import placeholders_in

if TYPE_CHECKING:
    from emr_dispatch.route_steps import Step

_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HIVE_STATEMENT_TEXT = re.compile(r"[$'\"`;\\]")
"""What a Hive statement reads in a substituted variable: quotes end a literal, ; a statement, $ and \\ start a
substitution or an escape."""
_KEY_DERIVED = frozenset({"key", "input_uri"})


def key_refusal(key: str) -> str | None:
    """Why an object key is refused whatever the route, or None. Control characters (line breaks, NUL, escapes)
    are never part of a data file's name: EMR's APIs reject most of them, YARN writes application arguments
    into a launch script, and they forge lines in logs and alerts. Everything else stays data."""
    found = _CONTROL_CHARACTER.search(key)
    if found:
        return f"object key has a control character (U+{ord(found.group()):04X} at {found.start()}): refused"
    return None


def steps_key_refusal(steps: Sequence[Step], key: str) -> str | None:
    """Why a route with these steps refuses an object key, or None.

    An argument that begins with ``{key}`` (Spark application or command arguments) would begin with the key's
    own text, so a key beginning with "-" would read as an option. A Hive variable's value is pasted into the
    statement as text, and Hive substitutes ``${...}`` in it again (nested, up to hive.variable.substitute.depth,
    40): a quote or ";" in the key would change the query, ``${env:...}`` would read the cluster's environment.
    Such keys are refused where a Hive variable holds the key (README "Step kinds")."""
    if key.startswith("-") and any(
        argument.startswith("{key}") for step in steps for argument in step.leading_arguments()
    ):
        return "object key begins with '-' and an application argument begins with {key}: it would be an option"
    hive_text = _HIVE_STATEMENT_TEXT.search(key)
    if hive_text and any(
        placeholders_in(value) & _KEY_DERIVED
        for step in steps
        if step.hive is not None
        for value in step.hive.variables.values()
    ):
        return (
            f"object key has {hive_text.group()!r}, which Hive would read as statement text: a hive step's variable"
            " holds the key"
        )
    return None
