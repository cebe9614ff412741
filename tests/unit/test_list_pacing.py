"""The orphan search's list calls, paced below their quotas (issue 14). EMR Serverless meters ListJobRuns at 1 a
second with a burst of 1 per account and Region (FACTS.md), and the sweeper searches two applications (Spark and
Hive) page by page: unpaced, the second application's first page met the quota on every sweep (the quota bench's
throttled calls at d83b0e5). EMR's ListClusters: burst 20, 0.5/s. Tested on a virtual clock, without AWS."""

from __future__ import annotations

from typing import Any

import pytest

from builders import settings
from emr_dispatch.engines.emr_ec2 import EmrEc2Engine
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch.token_bucket import ListPacer

PAGES = 3


def _spaced(times: list[float], burst: float, per_second: float) -> bool:
    """Whether calls at ``times`` fit a token bucket of ``burst`` refilled at ``per_second`` (full at the start)."""
    tokens, at = burst, times[0] if times else 0.0
    for moment in times:
        tokens = min(burst, tokens + (moment - at) * per_second)
        at = moment
        if tokens < 1 - 1e-9:
            return False
        tokens -= 1
    return True


class _Runs:
    """ListJobRuns of EMR Serverless (by applicationId) or EMR on EKS (by virtualClusterId): PAGES pages each."""

    def __init__(self, clock: list[float], pages: int = PAGES) -> None:
        self.clock, self.pages = clock, pages
        self.calls: list[tuple[float, str, str | None]] = []

    def list_job_runs(self, states: list[str], nextToken: str | None = None, **container: str) -> dict[str, Any]:
        (container_id,) = container.values()
        self.calls.append((self.clock[0], container_id, nextToken))
        page = int(nextToken or 0)
        answer: dict[str, Any] = {"jobRuns": [{"id": f"r{page}", "name": f"emr-dispatch-r-{container_id}{page}-a1"}]}
        if page + 1 < self.pages:
            answer["nextToken"] = str(page + 1)
        return answer


class _NoActiveJobs:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def test_the_orphan_search_pages_listjobruns_of_both_applications_within_the_quota(paced_clock: list[float]) -> None:
    # Given the stack's Spark and Hive applications, each with three pages of job runs
    client = _Runs(paced_clock)
    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client=client)  # type: ignore[arg-type]

    # When the sweeper searches for orphans twice in a row (a warm container's next run shares the pacer)
    first = engine.list_running()
    second = engine.list_running()

    # Then every page of both applications was read, each page asked for with the token of the one before
    assert len(first) == len(second) == 2 * PAGES
    assert [token for _, _, token in client.calls[:PAGES]] == [None, "1", "2"]
    assert len({app for _, app, _ in client.calls}) == 2
    # ... and the calls never exceed ListJobRuns' quota (1/s, burst 1), nor the half of it emr-dispatch takes
    times = [moment for moment, _, _ in client.calls]
    assert _spaced(times, burst=1, per_second=1.0)
    assert _spaced(times, burst=1, per_second=0.5)


def test_the_eks_orphan_search_is_paced_the_same_way(paced_clock: list[float]) -> None:
    # Given the stack's EMR on EKS virtual cluster with three pages of job runs
    client = _Runs(paced_clock)
    engine = EmrEksEngine(settings(), client=client)  # type: ignore[arg-type]

    # When the sweeper searches for orphans
    found = engine.list_running()

    # Then every page was read, one ListJobRuns every two seconds at most
    assert len(found) == PAGES
    assert _spaced([moment for moment, _, _ in client.calls], burst=1, per_second=0.5)


def test_listclusters_pages_past_their_burst_wait_for_the_refill(paced_clock: list[float]) -> None:
    # Given EMR answering ListClusters in 14 pages (700 clusters, 50 a page)
    calls: list[tuple[float, str | None]] = []

    class _Emr:
        def list_clusters(self, ClusterStates: list[str], Marker: str | None = None) -> dict[str, Any]:
            calls.append((paced_clock[0], Marker))
            page = int(Marker or 0)
            answer: dict[str, Any] = {"Clusters": [{"Id": f"j-{page}", "Name": f"emr-dispatch-o-{page}-a1"}]}
            if page + 1 < 14:
                answer["Marker"] = str(page + 1)
            return answer

    engine = EmrEc2Engine(settings(), client=_Emr())  # type: ignore[arg-type]

    # When the sweeper searches for orphans
    found = engine.list_running()

    # Then all 14 pages were read: the first ten at once, the rest at emr-dispatch's share of ListClusters' refill
    assert len(found) == 14
    times = [moment for moment, _ in calls]
    assert times[9] == times[0]
    assert _spaced(times, burst=20, per_second=0.5)
    assert _spaced(times, burst=10, per_second=0.25)


def test_a_pacer_asks_for_no_page_past_the_last(paced_clock: list[float]) -> None:
    # Given a pacer of one call every two seconds and a listing of one page
    pacer = ListPacer(1, 0.5)
    asked: list[str | None] = []

    def fetch(token: str | None) -> dict[str, Any]:
        asked.append(token)
        return {"items": [1]}

    # When its pages are read twice
    began = paced_clock[0]
    pages = list(pacer.pages(fetch, "nextToken")) + list(pacer.pages(fetch, "nextToken"))

    # Then each listing made one call, and the second waited for the refill only once (no token spent for nothing)
    assert len(pages) == 2
    assert asked == [None, None]
    assert paced_clock[0] - began == 2.0


def test_a_listing_stops_before_a_page_it_could_only_read_after_its_time(paced_clock: list[float]) -> None:
    # Given EMR Serverless applications with 100 pages of job runs each (5,000 runs, other teams' included)
    client = _Runs(paced_clock, pages=100)
    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client=client)  # type: ignore[arg-type]
    began = paced_clock[0]

    # When the sweeper searches for orphans with 30 seconds to spend
    found = engine.list_running(until=began + 30)

    # Then it read what fits in those 30 seconds at one page every two seconds, and returned by then
    assert len(client.calls) == 16
    assert len(found) == 16
    assert paced_clock[0] <= began + 30


def test_a_cut_listing_goes_on_next_time_where_it_was_cut(paced_clock: list[float]) -> None:
    # Given an EMR on EKS virtual cluster with 40 pages of job runs, and 20 seconds per search (10 pages)
    client = _Runs(paced_clock, pages=40)
    engine = EmrEksEngine(settings(), client=client)  # type: ignore[arg-type]
    marks: dict[str, str] = {}

    # When the orphan search runs five times, the marks kept between runs
    for _ in range(5):
        engine.list_running(until=paced_clock[0] + 20, marks=marks)
        paced_clock[0] += 300

    # Then every page was read, each search beginning where the last one was cut, then from the first page again
    tokens = [token for _, _, token in client.calls]
    assert {int(token or 0) for token in tokens} == set(range(40))
    assert tokens[10:12] == ["10", "11"]
    assert None in tokens[40:]
    assert not marks or set(marks) == {"emr-eks/" + client.calls[0][1]}


def test_a_mark_the_service_no_longer_takes_starts_the_listing_over(paced_clock: list[float]) -> None:
    # Given a mark left by an earlier search whose token the service has since forgotten
    from botocore.exceptions import ClientError

    asked: list[str | None] = []

    def fetch(token: str | None) -> dict[str, Any]:
        asked.append(token)
        if token == "stale":
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "bad token"}}, "ListJobRuns")
        return {"jobRuns": []}

    marks = {"apps/a": "stale"}

    # When the listing runs
    pages = list(ListPacer(1, 0.5).pages(fetch, "nextToken", marks=marks, listing="apps/a"))

    # Then it read from the first page instead, and left no mark (it finished)
    assert asked == ["stale", None]
    assert len(pages) == 1
    assert marks == {}


def test_a_page_refused_for_a_throttle_is_asked_for_again_next_time(paced_clock: list[float]) -> None:
    # Given a listing whose third page is refused (throttled by someone else's calls)
    from botocore.exceptions import ClientError

    def fetch(token: str | None) -> dict[str, Any]:
        if token == "2":
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListClusters")
        return {"Clusters": [], "Marker": str(int(token or 0) + 1)}

    marks: dict[str, str] = {}

    # When the listing runs and the refusal ends it
    with pytest.raises(ClientError):
        list(ListPacer(10, 0.25).pages(fetch, "Marker", marks=marks, listing="emr-ec2"))

    # Then the next listing begins at the refused page, not at the first
    assert marks == {"emr-ec2": "2"}
