"""Issue 14's paced orphan search, attacked by the breaker (/work/wt/_prompts/s4/findings.md, F2: fixed in 6adcc22,
kept as a regression test). On a virtual clock, without AWS."""

from __future__ import annotations

from typing import Any

from builders import settings
from emr_dispatch import sweep_pace
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch_tools.moto_stack import load_sam_template

LIVE_RUNS = 2000  # per application: up to 1,000 running (SchedulerConfiguration.maxConcurrentRuns) plus queued
PAGE = 50  # ListJobRuns' maxResults maximum (botocore emr-serverless model)


class _BusyApplications:
    """ListJobRuns of applications that other teams share: LIVE_RUNS live runs each, none of them emr-dispatch's."""

    def list_job_runs(self, applicationId: str, states: list[str], nextToken: str | None = None) -> dict[str, Any]:
        page = int(nextToken or 0)
        runs = [{"id": f"{applicationId}-{page}-{n}", "name": f"nightly-{n}"} for n in range(PAGE)]
        answer: dict[str, Any] = {"jobRuns": runs}
        if (page + 1) * PAGE < LIVE_RUNS:
            answer["nextToken"] = str(page + 1)
        return answer


class _NoActiveJobs:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def test_the_orphan_search_over_busy_applications_fits_in_what_the_sweep_leaves_after_its_describes(
    paced_clock: list[float],
) -> None:
    # Given the stack's Spark and Hive applications, each with 2,000 live job runs of other workloads
    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client=_BusyApplications())  # type: ignore[arg-type]
    timeout = load_sam_template()["Resources"]["SweeperFunction"]["Properties"]["Timeout"]
    left = timeout - sweep_pace.RECONCILE_SECONDS  # describes may take this long; the rest of the sweep has `left`

    # When the sweeper searches for orphans, within the time it gives the search (breaker F2, fixed in 6adcc22)
    began = paced_clock[0]
    engine.list_running(began + sweep_pace.ORPHAN_SEARCH_SECONDS)

    # Then the search took less than what is left, so the alerts, overdue batches, lost starts, counters and
    # queued-job nudges that follow it in the sweep still run before the Lambda is killed
    assert paced_clock[0] - began < left
