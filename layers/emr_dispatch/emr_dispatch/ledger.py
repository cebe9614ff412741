"""The ledger: one DynamoDB item per job, moved only by the conditional writes the state machine declares.

Each write here is built from its transition (transitions.py: from-states, attempt guard, fields set and
removed); keys and item encoding live in table.py, reads in ledger_reads.py, the alert outbox in outbox.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emr_dispatch.errors import LedgerError
from emr_dispatch.job_steps import initial_steps, record_steps
from emr_dispatch.jobs import Job, JobState, StateUpdate
from emr_dispatch.ledger_reads import LedgerReads
from emr_dispatch.outbox import claim_with
from emr_dispatch.slots import release_items
from emr_dispatch.table import (
    OBJECT_URI,
    OBJECT_VERSION,
    Cancelled,
    Condition,
    Update,
    decode_job,
    encode,
    encode_job,
    job_key,
    object_index,
    skip_key,
)
from emr_dispatch.tagging import open_tags_with, wants_tags
from emr_dispatch.timeutil import epoch_seconds, now_iso
from emr_dispatch.transitions import (
    ABANDON_CLAIM,
    ADVANCE,
    ASK_START_AGAIN,
    BEGIN_ATTEMPT,
    RELEASE_START,
    RETRY,
    SEND_START,
    SUBMIT,
    TAKE_OVER,
)

if TYPE_CHECKING:
    from emr_dispatch.engines.base import StepStatus
    from emr_dispatch.retries import Retry

RETENTION_SECONDS = 90 * 24 * 3600
"""Terminal jobs expire (TTL) this long after they end."""
SKIP_RETENTION_SECONDS = 14 * 24 * 3600
"""A skipped arrival's record (why no job started, for ``jobs find``) expires (TTL) this long after it landed."""


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a job: truthy when this caller now owns it."""

    claimed: bool
    held_by: Job | None  # the job already holding the id, when the claim failed

    def __bool__(self) -> bool:
        return self.claimed


def _recorded(write: Update, now: str, *entries: dict[str, Any]) -> Update:
    """Every state write stamps the job and appends to its history."""
    return write.set("updated_at", now, "now").set_expression(
        "history", "list_append(#history, :entries)", entries=list(entries)
    )


def _ended_attempt(job: Job, **fields: Any) -> dict[str, Any]:
    """An attempt as it ended, kept in ``attempts`` when the next one begins."""
    ended = {
        "attempt": job.attempt,
        "engine_id": job.engine_id,
        "state": job.state.value,
        "reason_code": job.reason_code,
        "reason_message": job.reason_message,
        "failure": job.failure or {},
        "submitted_at": job.submitted_at,
        "ended_at": job.ended_at,
        "log_locations": job.log_locations,
        **fields,
    }
    return {key: value for key, value in ended.items() if value is not None}


class Ledger(LedgerReads):
    # ------------------------------------------------------------------ writes
    def claim(self, job: Job) -> Claim:
        """Create the job item if no job of this id exists; otherwise say who holds it (same single call)."""
        new = Condition().when("attribute_not_exists(#pk)")
        written, held = self.table.put(encode_job(job), f"claiming job {job.job_id}", new)
        return Claim(True, None) if written else Claim(False, decode_job(held) if held else None)

    def take_over(self, job: Job, why: str = "recovering an abandoned claim", *, sends: bool = False) -> Job | None:
        """Take an attempt's start in hand (SUBMITTING, no engine id, unchanged since seen); None if lost.

        Used for a claim abandoned by a dead invocation and for the start of a retry's attempt: the
        ``updated_at`` it was seen with makes two deliveries of the same request race for one write. ``sends``: the
        start call goes out with no lookup first (no call of this attempt ever went out), so this is its send time;
        otherwise ``start_sent_at`` is left as it is, for the lookup (``send_start`` after it found nothing)."""
        now = now_iso()
        entry = {"at": now, "state": JobState.SUBMITTING.value, "source": f"launcher ({why})", "attempt": job.attempt}
        write = _recorded(TAKE_OVER.write(job, seen=job.updated_at), now, entry).set("starting_at", now, "now")
        if sends:
            write.set("start_sent_at", now, "now")
        return self._apply(job.job_id, write)

    def send_start(self, job: Job) -> Job | None:
        """The lookup of a taken-over start found nothing: its start call goes out now, so a later lookup reads the
        clusters created around now (the earlier send is ruled out). None if the attempt moved meanwhile."""
        now = now_iso()
        entry = {"at": now, "state": JobState.SUBMITTING.value, "source": "launcher (nothing found: starting)"}
        write = _recorded(SEND_START.write(job, seen=job.updated_at), now, {**entry, "attempt": job.attempt})
        return self._apply(job.job_id, write.set("start_sent_at", now, "now"))

    def ask_start_again(self, job: Job) -> bool:
        """Count one more request of the sweeper for this attempt's abandoned start (its deadline, MAX_START_REQUESTS);
        ``updated_at`` stays, so the start is still abandoned for the launcher the request reaches. False if the
        attempt moved since it was read (a launcher has it in hand, or it started)."""
        write = ASK_START_AGAIN.write(job, seen=job.updated_at)
        write.set_expression("start_requests", "if_not_exists(#start_requests, :zero) + :one", zero=0, one=1)
        return (
            self.table.update(job_key(job.job_id), write, f"counting a start request of job {job.job_id}") is not None
        )

    def begin_attempt(self, job: Job, source: str) -> Job | None:
        """An ended job's next attempt, same inputs, on an operator's request: QUEUED again at attempt + 1,
        the ended attempt kept in ``attempts`` (as a retry keeps it) and nothing of its engine resource or
        outcome left on the job. The attempt is the last one (no automatic retry follows it). None if the
        job moved meanwhile."""
        now = now_iso()
        attempt = job.attempt + 1
        ended = _ended_attempt(job, cause="operator", retry=f"attempt {attempt} {source}")
        entry = {"at": now, "state": JobState.QUEUED.value, "source": source, "attempt": attempt}
        write = _recorded(BEGIN_ATTEMPT.write(job), now, entry)
        write.set("max_attempts", attempt, "max")  # one attempt per request: the route's retries do not follow it
        write.set("queue", job.route, "route").set("queued_at", now, "now").set("wait_reason", source, "why")
        write.append("attempts", [ended], "ended").append("actions", [f"attempt {attempt} {source}"], "action")
        return self._apply(job.job_id, write)

    def release(self, job: Job) -> None:
        """Drop a claim whose engine start did not happen, so a later delivery can claim it again."""
        self.table.delete(job_key(job.job_id), ABANDON_CLAIM.write(job), f"releasing job {job.job_id}")

    def release_start(self, job: Job) -> None:
        """Give back an attempt's start (its engine start was throttled) so the retried request can take it."""
        self._apply(job.job_id, RELEASE_START.write(job))

    def record_submitted(
        self, job: Job, engine_id: str, engine_details: dict[str, Any], step_names: tuple[str, ...] = ()
    ) -> Job:
        """SUBMITTING → SUBMITTED once the engine accepted the job (with its steps, each PENDING, when the engine
        runs named steps)."""
        now = now_iso()
        entry = {
            "at": now,
            "state": JobState.SUBMITTED.value,
            "source": "launcher",
            "engine_id": engine_id,
            "attempt": job.attempt,
        }
        write = _recorded(SUBMIT.write(job), now, entry)
        write.set("engine_id", engine_id).set("engine_details", engine_details, "details")
        if step_names:
            write.set("steps", initial_steps(step_names))
        updated = self._apply(job.job_id, write.set("submitted_at", now, "now"))
        if updated is None:
            raise LedgerError(f"job {job.job_id} left SUBMITTING before its engine id was recorded")
        return updated

    def transition(
        self,
        job: Job,
        update: StateUpdate,
        *,
        failure: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        log_locations: list[str] | None = None,
        actions: list[str] | None = None,
        alert: bool = False,
    ) -> Job | None:
        """Move a job forward to ``update.state``. None when the move is not allowed (any more)."""
        now = now_iso()
        target = update.state
        entry: dict[str, Any] = {"at": now, "state": target.value, "source": update.source, "attempt": job.attempt}
        if update.reason_code:
            entry["reason"] = update.reason_code
        releasing = target.is_terminal and bool(job.slots)
        # A terminal write gives the job's slots back in the same transaction: exactly the slots it holds now.
        write = ADVANCE[target].write(job, **({"held_slots": job.slots} if releasing else {}))
        _recorded(write, now, entry)
        if update.reason_code is not None:
            write.set("reason_code", update.reason_code)
        if update.reason_message is not None:
            write.set("reason_message", update.reason_message)
        if failure:
            write.set("failure", failure)
        if metrics:
            write.set("engine_metrics", metrics, "metrics")
        if log_locations:
            write.set("log_locations", log_locations, "logs")
        if actions:
            write.append("actions", actions)
        if target.is_terminal:
            write.set("ended_at", now, "now").set("expires_at", epoch_seconds() + RETENTION_SECONDS, "expires")
        if alert:
            claim_with(write, now)
        if target.is_terminal and wants_tags(job):
            open_tags_with(write, now)
        if not releasing:
            return self._apply(job.job_id, write)
        # No crash can leave a slot held by an ended job (issue 13, item 4).
        items = [self.table.tx_update(job_key(job.job_id), write), *release_items(self._table, job.job_id, job.slots)]
        try:
            self.table.transact(items, f"ending job {job.job_id}", conflicts=False)
        except Cancelled as cancelled:
            if cancelled.codes[0] == "ConditionalCheckFailed":
                return None
            raise LedgerError(f"ending job {job.job_id} failed: {cancelled.codes}") from cancelled
        return self.get(job.job_id)

    def schedule_retry(
        self,
        job: Job,
        update: StateUpdate,
        retry: Retry,
        *,
        failure: dict[str, Any] | None,
        log_locations: list[str],
        console_link: str,
        actions: list[str],
    ) -> Job | None:
        """Close the failed attempt and open the next one, in one conditional write (transitions.RETRY).

        The job goes back to SUBMITTING at the next attempt with no engine id: events and describe calls of
        the old attempt can no longer find it (by_engine_id) or move it (attempt condition). The failed
        attempt is kept in ``attempts``; the retry's notice is claimed through the alert outbox."""
        now = now_iso()
        ended = _ended_attempt(
            job,
            state=update.state.value,
            reason_code=update.reason_code,
            reason_message=update.reason_message,
            cause=retry.cause,
            failure=failure or {},
            ended_at=now,
            log_locations=log_locations,
            console_link=console_link,
            retry=retry.describe(job),
        )
        failed = {
            "at": now,
            "state": update.state.value,
            "source": update.source,
            "attempt": job.attempt,
            "reason": update.reason_code or "",
        }
        entry = {
            "at": now,
            "state": JobState.SUBMITTING.value,
            "source": f"retry ({retry.cause})",
            "attempt": retry.attempt,
            "not_before": retry.retry_at,
        }
        write = _recorded(RETRY.write(job), now, failed, entry)
        write.set("retry_at", retry.retry_at).set("launch_options", retry.launch_options, "options")
        write.append("attempts", [ended], "ended").append("actions", actions)
        write.set("reason_code", update.reason_code or "").set("reason_message", update.reason_message or "")
        return self._apply(job.job_id, claim_with(write, now))

    def record_steps(self, job: Job, statuses: tuple[StepStatus, ...]) -> int:
        """What the engine says about the job's steps, each moved forward only (job_steps.py)."""
        return record_steps(self.table, job, statuses) if job.steps and statuses else 0

    def add_actions(self, job_id: str, actions: list[str]) -> None:
        """What the controller did for a job (not a state change: any state, the job must exist)."""
        write = Update().append("actions", actions).set("updated_at", now_iso(), "now")
        self._apply(job_id, write.when("attribute_exists(#pk)"))

    def record_refusal(self, job_id: str, request_id: str, reason: str) -> None:
        """An operator's request about a job that the launcher refused, and why (``jobs retry`` of a job whose
        route was removed): the CLI that sent ``request_id`` reads it back (``refusal``) and says that nothing
        will start. Written on the job's own item only (an unknown job is the asker's "not found"), so it
        lives and expires with the job; a later refusal replaces it. Not a state change."""
        answer = {"request_id": request_id, "reason": reason, "at": now_iso()}
        write = Update().set("refused_request", answer, "answer").when("attribute_exists(#pk)")
        # A failed condition: no such job, nothing to answer on.
        self.table.update(job_key(job_id), write, f"recording the refusal of a request about job {job_id}")

    def _apply(self, job_id: str, write: Update) -> Job | None:
        item = self.table.update(job_key(job_id), write, f"updating job {job_id}", new=True)
        return decode_job(item) if item is not None else None

    def record_skip(self, record: dict[str, Any], route: str | None, reason: str, marker_uri: str = "") -> None:
        """Remember why an object version started no job (``jobs find`` answers with it); kept 14 days."""
        index = object_index(record)
        if not index:
            return
        item: dict[str, Any] = {
            **index,
            "skip_reason": reason,
            "created_at": now_iso(),
            "expires_at": epoch_seconds() + SKIP_RETENTION_SECONDS,
            "route": route or None,
            "marker_uri": marker_uri or None,  # the object whose job will read this one
        }
        key = skip_key(index[OBJECT_URI], index[OBJECT_VERSION])
        self.table.put({**key, **encode(item)}, f"recording the skip of {index[OBJECT_URI]}")
