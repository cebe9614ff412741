"""Each step of a job, as the ledger keeps it: a map on the job item (``steps``: ``s<index>`` → name, state,
step id, start and end), created when the engine accepts the job and moved by events and describe calls.

Step states only move forward (a later state never goes back): every write is conditioned on the step's rank
being below the new one, or equal with the same state (a duplicate that may add a time), and on the job's
attempt (an older attempt's step never touches a newer one). Terminal job states do not stop step writes: a late
event still says how a step ended. Size: at most 256 steps (EMR's limit, route checks), each a name of at most
256 characters plus about 100 bytes of state and times: under 100 KB of DynamoDB's 400 KB item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emr_dispatch.table import Update, job_key

if TYPE_CHECKING:
    from emr_dispatch.engines.base import StepStatus
    from emr_dispatch.jobs import Job
    from emr_dispatch.table import Table

STEP_RANK = {
    "PENDING": 0,
    "RUNNING": 1,
    "CANCEL_PENDING": 2,
    "COMPLETED": 3,
    "CANCELLED": 3,
    "FAILED": 3,
    "INTERRUPTED": 3,
}
"""EMR's step states (StepState, botocore's emr model) by how far a step got: a terminal one is never left."""
FAILED_STEP_STATES = frozenset({"FAILED", "INTERRUPTED"})


def initial_steps(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The job's ``steps`` map when the engine accepts it: every step PENDING, in order."""
    return {step_key(index): {"name": name, "state": "PENDING", "rank": 0} for index, name in enumerate(names)}


def step_key(index: int) -> str:
    return f"s{index}"


def ordered_steps(job: Job) -> list[dict[str, Any]]:
    """The job's steps in their order (the map's keys are s0, s1, ...)."""
    return [job.steps[key] for key in sorted(job.steps, key=lambda key: int(key[1:]))]


def step_index(job: Job, name: str) -> int | None:
    for index, step in enumerate(ordered_steps(job)):
        if step.get("name") == name:
            return index
    return None


def record_steps(table: Table, job: Job, statuses: tuple[StepStatus, ...]) -> int:
    """Write what the engine says about the job's steps; only what moves a step forward or adds a time is
    written (a describe call lists every step). Returns how many steps were written."""
    written = 0
    for status in statuses:
        index = step_index(job, status.name)
        rank = STEP_RANK.get(status.state)
        if index is None or rank is None:
            continue
        known = job.steps[step_key(index)]
        news = {"step_id": status.step_id, "started_at": status.started_at, "ended_at": status.ended_at}
        news = {name: value for name, value in news.items() if value and known.get(name) != value}
        if known.get("state") == status.state and not news:
            continue
        if int(known.get("rank", 0)) > rank:
            continue
        key = step_key(index)
        write = Update().set_expression(f"steps.#{key}.#state", ":state", state=status.state)
        write.set_expression(f"steps.#{key}.#rank", ":rank", rank=rank)
        for name, value in news.items():
            write.set_expression(f"steps.#{key}.#{name}", f":{name}", **{name: value})
        write.when("#attempt = :attempt", attempt=job.attempt).when(f"attribute_exists(#steps.#{key})")
        write.when(f"(#steps.#{key}.#rank < :rank OR #steps.#{key}.#state = :state)")
        applied = table.update(job_key(job.job_id), write, f"recording step {status.name} of job {job.job_id}")
        written += int(applied is not None)
    return written
