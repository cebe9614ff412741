"""Placeholders in route arguments: ``{name}`` replaced in a single pass.

A single regex pass means a value is never scanned again, so a key containing ``{bucket}`` stays
literal text (placeholders cannot be smuggled through object keys). ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")

STATIC_PLACEHOLDERS = frozenset({"work_bucket", "route", "job_id", "attempt", "output_uri", "inputs_manifest_uri"})
"""Not derived from object keys: allowed everywhere in a route ({inputs_manifest_uri} is emr-dispatch's own
manifest of a batch job's inputs; empty for other jobs)."""

INPUT_PLACEHOLDERS = frozenset({"bucket", "key", "input_uri"})
"""Derived from the object that landed: allowed only where the value stays data (application arguments)."""

ALL_PLACEHOLDERS = STATIC_PLACEHOLDERS | INPUT_PLACEHOLDERS


def placeholders_in(template: str) -> set[str]:
    return {match.group(1) for match in _TOKEN.finditer(template) if match.group(1)}


def unknown_braces(template: str) -> bool:
    """True when the template has a brace that is neither a placeholder nor an escaped brace."""
    stripped = _TOKEN.sub("", template)
    return "{" in stripped or "}" in stripped


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every placeholder at once. Unknown names raise KeyError (routes are validated first)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:  # an escaped brace: "{{" or "}}"
            return match.group(0)[0]
        return values[name]

    return _TOKEN.sub(substitute, template)


def render_prefix(template: str, values: Mapping[str, str]) -> str:
    """The template rendered up to its first placeholder without a value: the part of a location that is
    known before a job runs (e.g. ``s3://work/output/orders/`` of ``s3://{work_bucket}/output/{route}/{job_id}/``)."""
    parts = []
    position = 0
    for match in _TOKEN.finditer(template):
        parts.append(template[position : match.start()])
        name = match.group(1)
        if name is None:
            parts.append(match.group(0)[0])
        elif name in values:
            parts.append(values[name])
        else:
            return "".join(parts)
        position = match.end()
    parts.append(template[position:])
    return "".join(parts)
