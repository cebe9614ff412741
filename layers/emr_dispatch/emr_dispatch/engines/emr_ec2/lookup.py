"""Finding the cluster an EMR on EC2 attempt's start call may have created (RunJobFlow has no client token): by its
name, unique to the attempt, among the clusters created around the call (docs/decisions.md, 2026-12-01)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.aws import error_code
from emr_dispatch.engines.base import StartedJob
from emr_dispatch.engines.emr_ec2.request import cluster_name, snapshot_step_names
from emr_dispatch.errors import EngineError, EngineStartUnknownError
from emr_dispatch.invocation import lookup_until
from emr_dispatch.jobs import ABANDONED_START_SECONDS, Job
from emr_dispatch.timeutil import parse_iso
from emr_dispatch.token_bucket import ListPacer

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient

LOOKUP_MARGIN = timedelta(minutes=5)
"""Around the attempt's send time, for the clocks of the launcher and of EMR (CreationDateTime) to differ, and for
ListClusters' bounds, whose inclusiveness the API reference does not state."""


def lookup_window(job: Job) -> dict[str, datetime]:
    """ListClusters' CreatedAfter and CreatedBefore for the cluster an attempt's start call may have created: the
    call went out after ``start_sent_at`` and within one launcher invocation (less than ABANDONED_START_SECONDS), and
    EMR stamps the cluster's creation while it answers; a margin either side. A job written before
    ``start_sent_at`` existed: every cluster since its creation, as before."""
    if job.start_sent_at is None:
        return {"CreatedAfter": parse_iso(job.created_at) - LOOKUP_MARGIN}
    sent = parse_iso(job.start_sent_at)
    return {
        "CreatedAfter": sent - LOOKUP_MARGIN,
        "CreatedBefore": sent + timedelta(seconds=ABANDONED_START_SECONDS) + LOOKUP_MARGIN,
    }


def find_cluster(
    client: EMRClient, pace: ListPacer, job: Job, logs: str, until: float | None = None
) -> StartedJob | None:
    """The attempt's cluster among those of ``lookup_window``, or None when every page was read without it.
    ListClusters answers in no order, so every page of the window is read, one paced token each, until ``until``
    (default: ``invocation.lookup_until()``); a listing cut short there is no answer: EngineStartUnknownError (the
    attempt stays in hand and is looked up again later, never started blindly)."""
    name = cluster_name(job)
    window = lookup_window(job)

    def fetch(marker: str | None) -> Mapping[str, Any]:
        request: dict[str, Any] = {**window, "Marker": marker} if marker else {**window}
        return client.list_clusters(**request)

    complete = False
    try:
        for page in pace.pages(fetch, "Marker", until if until is not None else lookup_until()):
            complete = not page.get("Marker")
            for cluster in page.get("Clusters", []):
                if cluster.get("Name") == name:
                    details = {"cluster_id": cluster["Id"], "cluster_name": name, "log_uri": logs, "recovered": True}
                    return StartedJob(cluster["Id"], details, snapshot_step_names(job))
    except ClientError as exc:
        raise EngineError(f"ListClusters failed while recovering job {job.job_id}: {exc}", error_code(exc)) from exc
    if not complete:
        raise EngineStartUnknownError(
            f"the lookup of job {job.job_id}'s cluster {name} ran out of time before the last ListClusters page"
        )
    return None
