"""The `emr-dispatch ...` commands README.md and docs/RUNBOOK.md tell people to run, as written there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/RUNBOOK.md")
_FENCED = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_COMMAND = re.compile(r"(?:^|[\s$(&|;])emr-dispatch\s+([a-z].*)$")


def documented_commands(text: str) -> list[str]:
    """`emr-dispatch <words>` in fenced blocks and inline code, in document order per kind, comments dropped."""
    code = _FENCED.findall(text)
    prose = _FENCED.sub("", text)
    lines = [line for block in code for line in block.splitlines()] + _INLINE.findall(prose)
    found = []
    for line in lines:
        match = _COMMAND.search(line.split(" #")[0].split("&&")[0].strip())
        if match:
            found.append(match.group(1).strip())
    return found


def in_document_order(text: str) -> list[str]:
    """The same commands, in the order a reader meets them (fenced and inline interleaved)."""
    found = []
    for block in re.split(r"(```[a-z]*\n.*?```)", text, flags=re.DOTALL):
        if block.startswith("```"):
            found += documented_commands(block)
        else:
            found += [cmd for line in _INLINE.findall(block) for cmd in documented_commands(f"`{line}`")]
    return found


def all_documented() -> list[tuple[str, str]]:
    return [(name, command) for name in DOCS for command in in_document_order((ROOT / name).read_text("utf-8"))]
