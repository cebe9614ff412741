"""Job states only move forward; terminal states are sticky; job ids are deterministic per route."""

from __future__ import annotations

import re

import pytest

from emr_dispatch.jobs import ALERTING_STATES, JobState, job_id_for

TERMINAL = [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT]
LIFECYCLE = [JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING]


def test_states_rank_in_lifecycle_order() -> None:
    # Given / When / Then: QUEUED → SUBMITTING → SUBMITTED → RUNNING → terminal
    ranks = [state.rank for state in LIFECYCLE]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
    assert all(state.rank > JobState.RUNNING.rank for state in TERMINAL)
    assert len({state.rank for state in TERMINAL}) == 1


def test_only_outcomes_are_terminal() -> None:
    # Given / When / Then
    assert {state for state in JobState if state.is_terminal} == set(TERMINAL)


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("target", list(JobState))
def test_terminal_states_are_sticky(terminal: JobState, target: JobState) -> None:
    # Given a job that ended / When any event proposes any state / Then the move is refused
    assert not target.can_follow(terminal)


@pytest.mark.parametrize(("current", "target"), [(a, b) for a in LIFECYCLE for b in JobState if b.rank > a.rank])
def test_forward_moves_are_allowed(current: JobState, target: JobState) -> None:
    # Given / When / Then: skipping states is fine (events get lost), going forward always is
    assert target.can_follow(current)


@pytest.mark.parametrize(("current", "target"), [(a, b) for a in LIFECYCLE for b in LIFECYCLE if b.rank <= a.rank])
def test_backward_and_same_state_moves_are_refused(current: JobState, target: JobState) -> None:
    # Given a late or duplicate event / When it proposes an earlier or the same state / Then refused
    assert not target.can_follow(current)


def test_predecessors_are_exactly_the_states_a_move_may_come_from() -> None:
    # Given / When / Then: the ledger's conditional write lists these states
    assert JobState.QUEUED.predecessors() == []
    assert JobState.RUNNING.predecessors() == [JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED]
    for terminal in TERMINAL:
        assert terminal.predecessors() == LIFECYCLE
    for state in JobState:
        assert set(state.predecessors()) == {other for other in JobState if state.can_follow(other)}


def test_failures_and_timeouts_alert_successes_and_cancellations_do_not() -> None:
    # Given / When / Then
    assert {JobState.FAILED, JobState.TIMED_OUT} == ALERTING_STATES


def test_job_id_is_deterministic() -> None:
    # Given the same arrival identity on the same route / When ids are computed twice / Then they are equal
    identity = "landing\x00raw/orders/a.csv\x00v1\x00seq"
    assert job_id_for("orders-daily", identity) == job_id_for("orders-daily", identity)


def test_job_id_depends_on_route_and_on_arrival() -> None:
    # Given one arrival on two routes, and two arrivals on one route
    identity = "landing\x00raw/orders/a.csv\x00v1\x00seq"
    other = "landing\x00raw/orders/a.csv\x00v2\x00seq"

    # When / Then all ids differ
    ids = {
        job_id_for("orders-daily", identity),
        job_id_for("orders-hourly", identity),
        job_id_for("orders-daily", other),
    }
    assert len(ids) == 3


def test_job_id_is_safe_as_a_name_and_a_client_token() -> None:
    # Given the longest route name routes allow (40 characters)
    route = "r" * 40

    # When / Then the id is the route plus a short digest: [a-z0-9-], named after its route, 57 characters at most
    job_id = job_id_for(route, "anything \x00 at all: ü/%+")
    assert re.fullmatch(r"[a-z0-9-]+", job_id)
    assert job_id.startswith(route + "-")
    assert len(job_id) <= 57
