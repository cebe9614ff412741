"""UTC timestamps as sortable ISO-8601 strings (the ledger's sort keys rely on their order)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return to_iso(datetime.now(UTC))


def iso_seconds_ago(seconds: int) -> str:
    return to_iso(datetime.now(UTC) - timedelta(seconds=seconds))


def epoch_seconds() -> int:
    return int(datetime.now(UTC).timestamp())
