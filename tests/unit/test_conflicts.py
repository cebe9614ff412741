"""Transaction conflicts are retried in place, a few times, with jittered backoff; nothing else is
(TransactWriteItems' documented cancellation reasons: botocore's DynamoDB service model)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from emr_dispatch.conflicts import CONFLICT_ATTEMPTS, is_conflict, retry_conflicts


def _cancelled(*codes: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
    }
    return ClientError(response, "TransactWriteItems")


def _error(code: str) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}}
    return ClientError(response, "UpdateItem")


def test_only_a_conflict_and_nothing_decisive_counts_as_a_conflict() -> None:
    # Given the outcomes DynamoDB documents / When classified / Then only pure conflicts are retried
    assert is_conflict(_cancelled("None", "TransactionConflict", "None"))
    assert is_conflict(_error("TransactionConflictException"))  # a single write meeting a transaction
    assert not is_conflict(_cancelled("ConditionalCheckFailed", "TransactionConflict", "None"))
    assert not is_conflict(_cancelled("None", "ValidationError"))
    assert not is_conflict(_cancelled("None", "ThrottlingError"))
    assert not is_conflict(_error("ConditionalCheckFailedException"))


def test_a_conflict_is_retried_with_growing_jittered_waits_until_the_write_goes_through() -> None:
    # Given a write refused twice for a conflict, then accepted
    outcomes: list[Any] = [_cancelled("None", "TransactionConflict"), _error("TransactionConflictException"), "ok"]
    waits: list[float] = []

    def write() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    # When written through retry_conflicts (jitter at its maximum)
    result = retry_conflicts(write, "batch b", sleep=waits.append, jitter=lambda: 1.0)

    # Then it went through on the third try, after two waits, the second twice the first
    assert result == "ok"
    assert waits == [pytest.approx(0.025), pytest.approx(0.05)]


def test_retries_are_bounded_and_other_errors_are_never_retried() -> None:
    # Given a write that always conflicts, and one whose condition fails
    calls = {"conflict": 0, "condition": 0}

    def conflicting() -> None:
        calls["conflict"] += 1
        raise _cancelled("TransactionConflict")

    def refused() -> None:
        calls["condition"] += 1
        raise _cancelled("ConditionalCheckFailed", "None")

    # When / Then the conflict propagates after CONFLICT_ATTEMPTS tries, the refusal after one
    with pytest.raises(ClientError):
        retry_conflicts(conflicting, "capacity", sleep=lambda _: None)
    with pytest.raises(ClientError):
        retry_conflicts(refused, "capacity", sleep=lambda _: None)
    assert calls == {"conflict": CONFLICT_ATTEMPTS, "condition": 1}
