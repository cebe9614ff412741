"""DynamoDB transaction conflicts, retried in place.

Two launchers that write the same BATCH or CAPACITY item at the same moment make DynamoDB cancel one of the
transactions with a ``TransactionConflict`` reason (a single-item write that meets a transaction gets
``TransactionConflictException``). Nothing was written and nothing is wrong: the other writer simply went
first. botocore retries neither (its DynamoDB retry policies cover TransactionInProgressException,
ReplicatedWriteConflictException and throttling only: botocore/data/_retry.json), so the SQS message used to
fail and come back 12 minutes later. Here the same call is tried again at once, a few times, with jittered
backoff. A condition that failed is an answer, not a conflict, and is never retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from emr_dispatch.observability import logger

T = TypeVar("T")

CONFLICT_ATTEMPTS = 5
"""Tries in all; the waits before tries 2-5 are at most 25, 50, 100 and 200 ms (full jitter): under half a
second, far inside the launcher's timeout."""
CONFLICT_BASE_SECONDS = 0.025
TRANSACTION_CONFLICT = "TransactionConflict"


def cancellation_codes(exc: ClientError) -> list[str]:
    """The CancellationReasons codes of a cancelled transaction, in the order of its items ("None": no error)."""
    reasons = exc.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


def is_conflict(exc: ClientError) -> bool:
    """Whether DynamoDB refused the write only because another transaction held one of its items."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "TransactionConflictException":
        return True
    if code != "TransactionCanceledException":
        return False
    codes = cancellation_codes(exc)
    # Any other reason (a failed condition, a validation error) decides the outcome: not retried.
    return TRANSACTION_CONFLICT in codes and all(c in ("None", TRANSACTION_CONFLICT) for c in codes)


def retry_conflicts(
    call: Callable[[], T],
    what: str,
    *,
    attempts: int = CONFLICT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """``call()``, tried again (at most ``attempts`` times in all) while it fails with a transaction conflict;
    the last conflict, and any other error, propagates unchanged."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if attempt >= attempts or not is_conflict(exc):
                raise
            delay = jitter() * CONFLICT_BASE_SECONDS * 2 ** (attempt - 1)
            logger.info("transaction conflict: retrying", write=what, attempt=attempt, delay_ms=int(delay * 1000))
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
