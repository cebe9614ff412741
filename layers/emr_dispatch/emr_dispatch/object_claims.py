"""One job per object version, whatever route names it (invariant 1).

A job's id is derived from its route's name and the arrival's identity, so the job item's own "does not exist"
condition only stops a second job on the same route. A route renamed (or an object moved to another route by a
routes edit) between two deliveries of one arrival would otherwise start a second job. The claim transaction
therefore also writes an ``OBJECT#uri#version`` item naming the job, on the condition that no other job holds
it; a re-delivery finds the holder there, in the same call.
"""

from __future__ import annotations

from typing import Any

from emr_dispatch.jobs import Job
from emr_dispatch.ledger import RETENTION_SECONDS
from emr_dispatch.table import OBJECT_URI, OBJECT_VERSION, Condition, object_claim_key, object_index
from emr_dispatch.timeutil import epoch_seconds


def object_claim(table: str, job: Job) -> list[dict[str, Any]]:
    """The transaction item that claims a single-object job's input for it (none for a batch or a manifest).

    It expires with the retention a job keeps after its end, counted from the claim: a job never outlives it."""
    if len(job.inputs) != 1:
        return []
    index = object_index(job.inputs[0].to_item())
    if not index:
        return []
    item = {
        **object_claim_key(index[OBJECT_URI], index[OBJECT_VERSION]),
        "job_id": {"S": job.job_id},
        "expires_at": {"N": str(epoch_seconds() + RETENTION_SECONDS)},
    }
    # The same job writing it again (its QUEUED fallback, a recovered claim) keeps it.
    mine = Condition().when("attribute_not_exists(#pk) OR #job_id = :job", job=job.job_id)
    return [{"Put": {"TableName": table, "Item": item, **mine.condition_request(), **_OLD_IMAGE}}]


_OLD_IMAGE = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def holder(item: dict[str, Any] | None) -> str | None:
    """The job id an object claim names (the old item a cancelled claim returned), if any."""
    if not item:
        return None
    value = item.get("job_id", {}).get("S")
    return str(value) if value else None
