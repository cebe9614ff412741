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


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds_between(earlier: str, later: str) -> float:
    """Seconds from one ledger timestamp to another (negative if they are out of order)."""
    return (parse_iso(later) - parse_iso(earlier)).total_seconds()
