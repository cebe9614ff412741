"""Jobs and their states: QUEUED → SUBMITTING → SUBMITTED → RUNNING → a terminal state.

Events only move a job forward (``can_follow``, ``predecessors``: the ranks below); terminal states are sticky,
so duplicate and out-of-order events are harmless. Every move the ledger writes, including the three declared
moves back (a retry, a start that waits, an operator's new attempt), is declared once in transitions.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from emr_dispatch.inputs import JobInput
from emr_dispatch.timeutil import iso_seconds_ago, now_iso, parse_iso


class JobState(StrEnum):
    QUEUED = "QUEUED"
    SUBMITTING = "SUBMITTING"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self.rank == _TERMINAL_RANK

    def predecessors(self) -> list[JobState]:
        """States a job may be in for a move to this state to be allowed."""
        return [state for state in JobState if state.rank < self.rank]

    def can_follow(self, current: JobState) -> bool:
        return current.rank < self.rank


_TERMINAL_RANK = 4
_RANK = {
    JobState.QUEUED: 0,
    JobState.SUBMITTING: 1,
    JobState.SUBMITTED: 2,
    JobState.RUNNING: 3,
    JobState.SUCCEEDED: _TERMINAL_RANK,
    JobState.FAILED: _TERMINAL_RANK,
    JobState.CANCELLED: _TERMINAL_RANK,
    JobState.TIMED_OUT: _TERMINAL_RANK,
}

ALERTING_STATES = frozenset({JobState.FAILED, JobState.TIMED_OUT})
ACTIVE_STATES = (JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING)
"""States in which a job holds its capacity slots (and may have an engine resource)."""
ABANDONED_START_SECONDS = 300
"""Longer than the launcher's timeout (120 s): a pending start this old with no engine id was left by a dead
invocation. SQS redelivers a failed message only after the queue's visibility timeout (720 s)."""
MAX_START_REQUESTS = 6
"""The sweeper asks again for an abandoned start (or a retry nobody took) at most this often per attempt; the next
sweep that finds it still pending ends the job FAILED ``START_ABANDONED`` with one alert (the sweeper is its owner,
this its deadline: DESIGN.md invariant 8). At one request per sweep (5 minutes), at least half an hour."""
START_ABANDONED = "START_ABANDONED"


def job_id_for(route: str, arrival_identity: str) -> str:
    """Deterministic job id: the same object version on the same route always names the same job."""
    digest = hashlib.sha256(f"{route}\x00{arrival_identity}".encode()).hexdigest()[:16]
    return f"{route}-{digest}"


@dataclass
class Job:
    """One unit of EMR work for a route, as the ledger holds it."""

    job_id: str
    route: str
    engine: str
    state: JobState
    attempt: int
    inputs: list[JobInput]  # inputs.py: an object, a marker's prefix or a batch's manifest
    created_at: str
    updated_at: str
    engine_id: str | None = None
    engine_details: dict[str, Any] = field(default_factory=dict)
    reason_code: str | None = None
    reason_message: str | None = None
    failure: dict[str, Any] | None = None
    actions: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    alert_pending: bool = False
    alerted_at: str | None = None
    ended_at: str | None = None
    submitted_at: str | None = None  # when the engine accepted it: a job's timeout counts from here
    metrics: dict[str, Any] = field(default_factory=dict)
    slots: list[str] = field(default_factory=list)  # capacity counters this job holds a slot in
    max_attempts: int = 1  # from the route's retry policy when the job was created
    attempts: list[dict[str, Any]] = field(default_factory=list)  # earlier attempts, each as it ended
    retry_at: str | None = None  # an attempt after the first starts no earlier than this
    starting_at: str | None = None  # a launcher took this attempt's start in hand at this time
    # This attempt's start call (RunJobFlow has no client token) may have gone out from this time on, within one
    # launcher invocation (ABANDONED_START_SECONDS): the lookup of an abandoned start reads only the clusters created
    # around it. Set by the writes after which a start call goes out without a lookup first (a claim, a take from the
    # queue, a take-over of an attempt never sent, a take-over whose lookup found nothing); a take-over whose lookup
    # could not finish never rewrites it. Absent: no start call of this attempt went out (a retry's attempt nobody
    # took yet), or a job written before it existed (looked up as before: since its creation).
    start_sent_at: str | None = None
    start_requests: int = 0  # how often the sweeper asked again for this attempt's abandoned start (its deadline)
    launch_options: dict[str, str] = field(default_factory=dict)  # e.g. {"market": "ON_DEMAND"} after Spot loss
    log_locations: list[str] = field(default_factory=list)  # where the engine put the logs of its end
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # each step's state and times (job_steps.py)
    wait_reason: str | None = None  # why a QUEUED job waits: a cap, the start rate, a throttle, a quota refusal
    wait_until: str | None = None  # when a waiting job is next tried; the sweeper nudges one left past it
    queued_at: str | None = None  # its place in its route's queue (by_queue index); kept when it is re-queued
    # What finishes the job without its route (the route may be edited or removed while it waits or runs): the
    # route as it was when the job was created (JSON, read by route_snapshots.route_from_snapshot), and its timeout.
    route_snapshot: str | None = None
    timeout_minutes: int | None = None
    # Input outcome tags (tagging.py), while some are still to be written: tags_due set (by_pending_tags index),
    # who holds the work since when, how far through the inputs it got, and what it found so far.
    tags_due: str | None = None
    tags_claimed_at: str | None = None
    tags_cursor: int = 0
    tags_counts: dict[str, int] = field(default_factory=dict)

    @property
    def start_abandoned(self) -> bool:
        """A pending start nobody can still be working on: no engine id, untouched for longer than an
        invocation lives (ABANDONED_START_SECONDS) and, for a retry's attempt, due."""
        return (
            self.state is JobState.SUBMITTING
            and self.engine_id is None
            and self.updated_at < iso_seconds_ago(ABANDONED_START_SECONDS)
            and (self.retry_at is None or self.retry_at <= now_iso())
        )

    @property
    def start_never_sent(self) -> bool:
        """No start call of this attempt ever went out: a retry's attempt (RETRY leaves neither ``start_sent_at`` nor
        ``starting_at``) that no launcher took in hand yet. Nothing of it can exist, so nothing is looked up."""
        return self.start_sent_at is None and self.starting_at is None and self.retry_at is not None

    def deadline(self, default_timeout_minutes: int) -> datetime:
        """When the job is past its timeout, counted from its submission to the engine (time spent QUEUED waiting
        for a slot does not count). Its own timeout, from its snapshot; a job created before snapshots existed
        uses ``default_timeout_minutes``."""
        started = parse_iso(self.submitted_at or self.created_at)
        return started + timedelta(minutes=self.timeout_minutes or default_timeout_minutes)

    @property
    def input_uris(self) -> list[str]:
        return [item.uri for item in self.inputs]


@dataclass(frozen=True)
class StateUpdate:
    """What an engine event (or a describe call) says about a job."""

    state: JobState
    source: str
    reason_code: str | None = None
    reason_message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
