"""docs/WAITING.md is the one table of waiting records: every job state, batch state and ledger item kind the
code defines has its row, with the code's own constants named."""

from __future__ import annotations

import re
from pathlib import Path

from emr_dispatch import batches
from emr_dispatch.jobs import JobState

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "WAITING.md"


def _record_column() -> str:
    rows = [line for line in TABLE.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    return "\n".join(row.split("|")[1] for row in rows)


def test_every_item_kind_the_code_writes_has_a_row() -> None:
    # Given the key prefixes the product and its CLI write (read from their sources, not listed by hand)
    sources = [*(ROOT / "layers").rglob("*.py"), *(ROOT / "tools" / "emr_dispatch_tools" / "cli").rglob("*.py")]
    prefixes = {match for path in sources for match in re.findall(r'"([A-Z]+)#', path.read_text(encoding="utf-8"))}
    assert {"JOB", "BATCH", "ARRIVAL", "BATCHSEQ", "CAPACITY"} <= prefixes

    # When the table is read / Then each kind has a row
    column = _record_column()
    assert [prefix for prefix in sorted(prefixes) if f"`{prefix}#" not in column] == []


def test_every_waiting_state_has_a_row_with_a_deadline_and_an_owner() -> None:
    # Given the states that wait: every job state that is not terminal, every batch state that is not CLOSED
    waiting = [("JOB#", state.value) for state in JobState if not state.is_terminal]
    waiting += [("BATCH#", state) for state in batches.WAITING_STATES]
    rows = [line for line in TABLE.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]

    # When / Then each has a row whose deadline and owner cells are filled
    for prefix, state in waiting:
        found = [row.split("|") for row in rows if f"`{prefix}`" in row.split("|")[1] and state in row.split("|")[1]]
        assert found, (prefix, state)
        for cells in found:
            assert cells[3].strip(), (prefix, state, "deadline")
            assert cells[4].strip(), (prefix, state, "owner")


def test_the_constants_the_table_names_exist() -> None:
    # Given the table's figures, named after the code's constants / Then each constant exists where it says
    text = TABLE.read_text(encoding="utf-8")
    named = set(re.findall(r"`(\w+)\.([A-Z_]+)`", text))
    assert ("batches", "CLOSE_MARGIN_SECONDS") in named
    import importlib

    for module, constant in named:
        assert hasattr(importlib.import_module(f"emr_dispatch.{module}"), constant), (module, constant)


def test_input_tags_waiting_on_an_ended_job_have_their_row() -> None:
    # Given the fields tagging.py's waiting record is kept in / When the table is read
    rows = [line.split("|") for line in TABLE.read_text(encoding="utf-8").splitlines() if "`tags_due`" in line]
    # Then one row names them with a deadline (the claim's lease) and an owner (the sweeper)
    ((_, record, _waits, deadline, owner, _expiry, _),) = rows
    assert "`JOB#` ended" in record
    assert "tagging.TAGS_LEASE_SECONDS" in deadline
    assert "Sweeper._resume_tags" in owner
