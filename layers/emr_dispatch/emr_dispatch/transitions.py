"""The job state machine, declared once: every write that changes a job's state (or works inside one) is a
``Transition`` here — the states it may start from, the state it leads to, its attempt guard, what else must
hold, which fields it may set and which it removes. The ledger and capacity build each conditional write from
these declarations (``Transition.write``), and a write that sets an undeclared field is refused.

Events and describe calls only move a job forward (``ADVANCE``, from ``JobState.predecessors``); terminal states
are sticky. Three moves go back, each declared here and nowhere else:
- ``RETRY``: a failed attempt's job goes back to SUBMITTING at the next attempt (an automatic retry);
- ``PARK``: a start that must wait (a quota, a throttle) goes back to QUEUED, same attempt, no engine id;
- ``BEGIN_ATTEMPT``: an ended job queued again at the next attempt (``jobs retry``, ``replay --force``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

from emr_dispatch.jobs import ACTIVE_STATES, Job, JobState
from emr_dispatch.table import Update


class Attempt(StrEnum):
    """The attempt guard: every write is conditioned on the attempt the writer saw."""

    SAME = "same"  # the write stays within the attempt
    NEXT = "next"  # the write opens the next attempt (attempt + 1)


TERMINAL_STATES = tuple(state for state in JobState if state.is_terminal)

# Further conditions a transition may require (the clauses are the ledger's, named here once).
NO_ENGINE_ID = "attribute_not_exists(#engine_id)"
UNCHANGED_SINCE_SEEN = "#updated_at = :seen"  # the item is as the writer read it (two deliveries race once)
ALERT_OUT = "(attribute_not_exists(#alert_pending) OR #alert_pending = :false)"  # no unpublished alert
SLOTS_AS_HELD = "#slots = :held_slots"  # a terminal write gives back exactly the slots the job holds

_VALUE = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")

# The alert outbox's fields: a transition that ends in an alert claims it in the same write (outbox.py).
OUTBOX_FIELDS = frozenset({"alert_pending", "alert_claimed_at", "alert_due"})
_RECORD = frozenset({"updated_at", "history"})
# Input outcome tags: a terminal write of a route with on_end.tag_inputs opens the work in the same write (tagging.py).
TAG_FIELDS = frozenset({"tags_due", "tags_claimed_at", "tags_cursor"})


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[JobState, ...]
    target: JobState
    attempt: Attempt = Attempt.SAME
    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # conditions that apply only when the writer passes their values
    sets: frozenset[str] = frozenset()
    removes: tuple[str, ...] = ()
    backward: bool = False  # a declared move back: allowed only because it is named here

    @property
    def moves(self) -> bool:
        return self.target not in self.sources or len(self.sources) > 1

    def write(self, job: Job, **requirement_values: Any) -> JobWrite:
        """The conditional write of this transition for ``job`` as its writer saw it: the state (when it
        changes), the attempt guard, the from-states, the requirements and the removals; the caller adds what it
        sets (only declared fields)."""
        write = JobWrite(self)
        if self.moves:
            write.set("state", self.target.value, "target")
        if self.attempt is Attempt.NEXT:
            write.set("attempt", job.attempt + 1, "next")
        write.when("#attempt = :attempt", attempt=job.attempt)
        if len(self.sources) == 1:
            write.when("#state = :from0", from0=self.sources[0].value)
        else:
            write.when_in("state", [state.value for state in self.sources], prefix="from")
        values = {"false": False, **requirement_values}
        for clause in self.requires + self.optional:
            needed = set(_VALUE.findall(clause))
            if needed - values.keys():
                if clause in self.optional:
                    continue
                raise ValueError(f"transition {self.name} needs {sorted(needed - values.keys())}")
            write.when(clause, **{name: values[name] for name in needed})
        write.remove(*self.removes)
        return write


class JobWrite(Update):
    """An Update that may only set the fields its transition declares."""

    def __init__(self, transition: Transition) -> None:
        super().__init__()
        self.transition = transition

    def _allowed(self, attribute: str) -> None:
        if attribute not in self.transition.sets | {"state", "attempt"}:
            raise ValueError(f"transition {self.transition.name} does not declare setting {attribute}")

    def set(self, attribute: str, value: Any, placeholder: str | None = None) -> Self:
        self._allowed(attribute)
        return super().set(attribute, value, placeholder)

    def set_expression(self, attribute: str, expression: str, **values: Any) -> Self:
        self._allowed(attribute)
        return super().set_expression(attribute, expression, **values)


def _advance(target: JobState) -> Transition:
    """What an event, a describe call or a controller decision moves a job forward with."""
    ends = {"ended_at", "expires_at", *OUTBOX_FIELDS, *TAG_FIELDS} if target.is_terminal else set()
    return Transition(
        name=f"advance to {target.value}",
        sources=tuple(target.predecessors()),
        target=target,
        optional=(SLOTS_AS_HELD,) if target.is_terminal else (),  # when it holds slots
        sets=frozenset(
            {*_RECORD, "reason_code", "reason_message", "failure", "engine_metrics", "log_locations", "actions", *ends}
        ),
        removes=("queue", "wait_until"),  # leaving QUEUED leaves the route's queue (by_queue)
    )


ADVANCE = {target: _advance(target) for target in JobState if target.predecessors()}
"""Forward moves, one per target state (its from-states: every earlier state)."""

TAKE_OVER = Transition(
    "take over a start",
    (JobState.SUBMITTING,),
    JobState.SUBMITTING,
    requires=(NO_ENGINE_ID, UNCHANGED_SINCE_SEEN),
    sets=frozenset({*_RECORD, "starting_at", "start_sent_at"}),  # start_sent_at: only when no lookup comes first
)
SEND_START = Transition(
    "a start call goes out after a lookup found nothing",
    (JobState.SUBMITTING,),
    JobState.SUBMITTING,
    requires=(NO_ENGINE_ID, UNCHANGED_SINCE_SEEN),
    sets=frozenset({*_RECORD, "start_sent_at"}),
)
ASK_START_AGAIN = Transition(
    "the sweeper asks again for an abandoned start",
    (JobState.SUBMITTING,),
    JobState.SUBMITTING,
    # Not recorded (updated_at unchanged): the start stays abandoned for the launcher that the request reaches.
    requires=(NO_ENGINE_ID, UNCHANGED_SINCE_SEEN),
    sets=frozenset({"start_requests"}),
)
RELEASE_START = Transition(
    "give back a start", (JobState.SUBMITTING,), JobState.SUBMITTING, requires=(NO_ENGINE_ID,), removes=("starting_at",)
)
ABANDON_CLAIM = Transition(
    "drop a claim whose start did not happen", (JobState.SUBMITTING,), JobState.SUBMITTING, requires=(NO_ENGINE_ID,)
)
"""Not an update: the claim's item is deleted (a later delivery claims it again)."""
SUBMIT = Transition(
    "record the engine's acceptance",
    (JobState.SUBMITTING,),
    JobState.SUBMITTED,
    sets=frozenset({*_RECORD, "engine_id", "engine_details", "submitted_at", "steps"}),
)
START_FROM_QUEUE = Transition(
    "start from the queue",
    (JobState.QUEUED,),
    JobState.SUBMITTING,
    # starting_at: the start is in hand (as TAKE_OVER's); a retried attempt's past retry_at no longer reads as
    # "a retry nobody took" (sweep_starts.PendingStarts, Launcher.start_job): only abandonment re-asks it.
    sets=frozenset({*_RECORD, "slots", "starting_at", "start_sent_at"}),
    removes=("queue", "wait_until"),
)
PARK = Transition(
    "wait for a quota",
    (JobState.SUBMITTING,),
    JobState.QUEUED,
    requires=(NO_ENGINE_ID,),
    sets=frozenset({*_RECORD, "queue", "queued_at", "wait_reason", "wait_until"}),
    removes=("slots", "starting_at"),
    backward=True,
)
RETRY = Transition(
    "retry the failed attempt",
    ACTIVE_STATES,
    JobState.SUBMITTING,
    attempt=Attempt.NEXT,
    sets=frozenset(
        {*_RECORD, "retry_at", "launch_options", "attempts", "actions", "reason_code", "reason_message"} | OUTBOX_FIELDS
    ),
    removes=(
        "engine_id",
        "engine_details",
        "submitted_at",
        "starting_at",
        "start_sent_at",
        "start_requests",
        "failure",
        "steps",
    ),
    backward=True,
)
BEGIN_ATTEMPT = Transition(
    "queue an ended job's next attempt",
    TERMINAL_STATES,
    JobState.QUEUED,
    attempt=Attempt.NEXT,
    requires=(ALERT_OUT,),  # its alert is out: a new attempt clears the outbox
    sets=frozenset({*_RECORD, "max_attempts", "queue", "queued_at", "wait_reason", "attempts", "actions"}),
    removes=(
        "engine_id",
        "engine_details",
        "reason_code",
        "reason_message",
        "failure",
        "engine_metrics",
        "ended_at",
        "expires_at",
        "submitted_at",
        *sorted(OUTBOX_FIELDS),
        "alerted_at",
        "slots",
        "retry_at",
        "starting_at",
        "start_sent_at",
        "start_requests",
        "log_locations",
        "steps",
    ),
    backward=True,
)

CREATED_STATES = (JobState.SUBMITTING, JobState.QUEUED)
"""The states a claim creates a job in: SUBMITTING (it starts now) or QUEUED (a cap reached, its route paused)."""

TRANSITIONS: tuple[Transition, ...] = (
    *ADVANCE.values(),
    TAKE_OVER,
    SEND_START,
    ASK_START_AGAIN,
    RELEASE_START,
    ABANDON_CLAIM,
    SUBMIT,
    START_FROM_QUEUE,
    PARK,
    RETRY,
    BEGIN_ATTEMPT,
)
