"""A token bucket on emr-dispatch's clock (timeutil: virtual in the offline harness), for calls emr-dispatch paces
itself below an AWS quota: the sweeper's describes (sweep_pace.py) and the engines' list calls (``ListPacer``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from botocore.exceptions import ClientError

from emr_dispatch.aws import THROTTLING_CODES, error_code
from emr_dispatch.observability import logger
from emr_dispatch.timeutil import epoch_now, sleep


class TokenBucket:
    def __init__(self, burst: float, per_second: float, at: float) -> None:
        self.burst, self.per_second, self.tokens, self.at = burst, per_second, burst, at

    def wait(self, now: float, need: float = 1) -> float:
        """Refill to ``now``; the seconds until ``need`` tokens are there (0: they are). A need above the burst
        waits for a full bucket and leaves it below zero: the next calls wait for what it spent."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        need = min(need, self.burst)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.per_second


class ListPacer:
    """The pages of one engine's list call (ListJobRuns, ListClusters), one token each, waited for on
    emr-dispatch's clock: the orphan search never meets the list quota it shares with operators (issue 14). One
    pacer per engine object, so a warm sweeper's runs share it, and so do the applications it searches in turn."""

    def __init__(self, burst: float, per_second: float) -> None:
        self.burst, self.per_second = burst, per_second
        self._bucket: TokenBucket | None = None

    def take(self, until: float | None = None) -> bool:
        """Wait for a token and take it; False (at once, nothing taken) if it would be due after ``until``."""
        now = epoch_now()
        if self._bucket is None:
            self._bucket = TokenBucket(self.burst, self.per_second, now)
        wait = self._bucket.wait(now)
        if until is not None and now + wait > until:
            return False
        if wait > 0:
            sleep(wait)
            self._bucket.wait(epoch_now())
        self._bucket.tokens -= 1
        return True

    def pages(
        self,
        fetch: Callable[[str | None], Mapping[str, Any]],
        next_key: str,
        until: float | None = None,
        marks: MutableMapping[str, str] | None = None,
        listing: str = "",
    ) -> Iterator[Mapping[str, Any]]:
        """``fetch(token)`` page after page, a token taken before each call; ends on a page without ``next_key``,
        or before a call that could not be made by ``until`` (epoch seconds; None: no limit; the caller gets the
        pages read so far, and a warning says the listing was cut). A call is made only when a page is wanted, so no
        token is spent for nothing.

        ``marks[listing]``, when given, is where an earlier listing was cut: this one begins there (a token the
        service no longer takes: from the first page), and where this one is cut is left in ``marks`` for the
        next, so a listing longer than its time is read whole over a few runs."""
        token = marks.pop(listing, None) if marks is not None else None
        resumed = token is not None
        read = 0
        while True:
            if not self.take(until):
                logger.warning("listing cut short: its time is spent", listing=listing, pages_read=read)
                if marks is not None and token is not None:
                    marks[listing] = token
                return
            try:
                page = fetch(token)
            except ClientError as exc:
                if not resumed or error_code(exc) in THROTTLING_CODES:
                    if marks is not None and token is not None:
                        marks[listing] = token  # refused (throttled): the next listing asks for this page again
                    raise
                logger.warning("listing mark refused: from the first page", listing=listing, error=error_code(exc))
                token, resumed = None, False
                continue
            resumed = False
            read += 1
            yield page
            token = page.get(next_key) or None
            if token is None:
                return


class CallPacer:
    """An engine's calls paced per API below their quotas, and all of them together below the account-wide one
    (EMR: every API of the account shares a bucket of 25, 5/s; FACTS.md): a token of the API's bucket and one of
    the shared bucket before each call, waited for on emr-dispatch's clock. One per engine object: the sweeper's
    describes, inspections and stops (breaker findings F7, F8) and the tracker's inspections never meet a quota
    back to back. Calls of an API it has no rate for pass at once."""

    def __init__(self, rates: Mapping[str, tuple[float, float]], shared: tuple[float, float] | None = None) -> None:
        self._apis = {api: ListPacer(*rate) for api, rate in rates.items()}
        self._shared = ListPacer(*shared) if shared else None

    def take(self, api: str) -> None:
        found = self._apis.get(api)
        if found is None:
            return
        found.take()
        if self._shared is not None:
            self._shared.take()

    def pages(
        self, api: str, fetch: Callable[[str | None], Mapping[str, Any]], next_key: str
    ) -> Iterator[Mapping[str, Any]]:
        """Every page of a listing, each call paced as ``take(api)``."""
        token: str | None = None
        while True:
            self.take(api)
            page = fetch(token)
            yield page
            token = page.get(next_key) or None
            if token is None:
                return
