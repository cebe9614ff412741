"""The job state machine as declared in transitions.py, walked: every state is reachable from a claim, events only
move forward, terminal states are final but for the declared moves back, and each declared write is the
conditional write DynamoDB receives (its from-states, attempt guard, requirements, removals; no undeclared field)."""

from __future__ import annotations

from collections import deque

import pytest

from emr_dispatch import transitions
from emr_dispatch.jobs import ACTIVE_STATES, Job, JobState
from emr_dispatch.transitions import ADVANCE, BEGIN_ATTEMPT, PARK, RETRY, TRANSITIONS, Attempt

TERMINAL = {state for state in JobState if state.is_terminal}


def _edges() -> set[tuple[JobState, JobState, str]]:
    return {(source, move.target, move.name) for move in TRANSITIONS for source in move.sources}


def _job(state: JobState, attempt: int = 2) -> Job:
    return Job("orders-1", "orders", "emr-ec2", state, attempt, [], "t0", "t1")


def test_every_state_is_reachable_from_what_a_claim_creates() -> None:
    # Given the declared moves / When they are walked from the states a claim creates a job in
    seen = set(transitions.CREATED_STATES)
    todo = deque(seen)
    while todo:
        state = todo.popleft()
        for source, target, _ in _edges():
            if source is state and target not in seen:
                seen.add(target)
                todo.append(target)

    # Then every job state is reached
    assert seen == set(JobState)


def test_terminal_states_are_final_except_for_the_declared_new_attempt() -> None:
    # Given every move out of a terminal state / Then it is the operator's new attempt alone, declared as a move back
    leaving = {(source, name) for source, target, name in _edges() if source in TERMINAL and target is not source}
    assert leaving == {(state, BEGIN_ATTEMPT.name) for state in TERMINAL}
    assert BEGIN_ATTEMPT.backward
    assert BEGIN_ATTEMPT.attempt is Attempt.NEXT


@pytest.mark.parametrize("move", TRANSITIONS, ids=lambda move: move.name)
def test_a_move_goes_back_only_when_it_is_declared_to(move: transitions.Transition) -> None:
    # Given a declared move / When its from-states are compared with its target by the forward ranks
    back = [source for source in move.sources if move.target.rank < source.rank]

    # Then it goes back only if it says so, and a move declared back does go back
    assert bool(back) == move.backward, (move.name, back)


def test_the_retry_is_an_explicit_move_back_to_the_next_attempt() -> None:
    # Given the automatic retry / Then it leaves an active state for SUBMITTING at the next attempt, engine ids gone
    assert RETRY.sources == ACTIVE_STATES
    assert RETRY.target is JobState.SUBMITTING
    assert RETRY.backward
    assert RETRY.attempt is Attempt.NEXT
    assert {"engine_id", "engine_details", "submitted_at"} <= set(RETRY.removes)
    assert RETRY.sets >= transitions.OUTBOX_FIELDS  # its notice goes out through the alert outbox


def test_events_move_forward_from_every_earlier_state_only() -> None:
    # Given the forward moves / Then each target's from-states are exactly the states it may follow
    for target, move in ADVANCE.items():
        assert set(move.sources) == {state for state in JobState if target.can_follow(state)}
        assert not move.backward
    assert set(ADVANCE) == set(JobState) - {JobState.QUEUED}


def test_the_queue_index_holds_queued_jobs_only() -> None:
    # Given the sparse by_queue index (``queue`` set only while QUEUED)
    for move in TRANSITIONS:
        leaves = any(source is JobState.QUEUED for source in move.sources) and move.target is not JobState.QUEUED
        enters = move.target is JobState.QUEUED and JobState.QUEUED not in move.sources

        # Then a move leaving QUEUED removes the job from it, and a move into QUEUED puts it there
        if leaves:
            assert "queue" in move.removes, move.name
        if enters:
            assert "queue" in move.sets, move.name


def test_terminal_moves_set_an_expiry_and_may_claim_the_alert() -> None:
    # Given the moves into a terminal state / Then each sets the TTL attribute and may claim the outbox
    for target in TERMINAL:
        assert {"ended_at", "expires_at"} | transitions.OUTBOX_FIELDS <= ADVANCE[target].sets


def test_a_write_is_conditioned_on_the_from_states_and_the_attempt_seen() -> None:
    # Given a job at attempt 2 / When the automatic retry's write is built for it
    request = RETRY.write(_job(JobState.RUNNING)).request()

    # Then it moves state and attempt, only from an active state at attempt 2
    assert request["ConditionExpression"] == "#attempt = :attempt AND #state IN (:from0, :from1, :from2)"
    values = request["ExpressionAttributeValues"]
    assert values[":attempt"] == {"N": "2"}
    assert values[":next"] == {"N": "3"}
    assert [values[f":from{i}"]["S"] for i in range(3)] == [state.value for state in ACTIVE_STATES]
    assert request["UpdateExpression"].startswith("SET #state = :target, #attempt = :next REMOVE #engine_id")


def test_a_write_requires_what_its_move_declares() -> None:
    # Given the move back to QUEUED of a start that must wait / When its write is built
    condition = PARK.write(_job(JobState.SUBMITTING)).request()["ConditionExpression"]

    # Then it holds only for a job with no engine id (nothing was started for it)
    assert "attribute_not_exists(#engine_id)" in condition


def test_a_terminal_write_holds_the_slots_seen_only_when_the_job_holds_some() -> None:
    # Given a job that holds a slot and one that holds none / When their FAILED writes are built
    holding = ADVANCE[JobState.FAILED].write(_job(JobState.RUNNING), held_slots=["orders"]).request()
    free = ADVANCE[JobState.FAILED].write(_job(JobState.RUNNING)).request()

    # Then only the first is conditioned on its slots (released in the same transaction)
    assert "#slots = :held_slots" in holding["ConditionExpression"]
    assert "slots" not in free["ConditionExpression"]


def test_a_write_refuses_a_field_its_move_does_not_declare() -> None:
    # Given the engine's acceptance of a job / When its write tries to set the job's slots / Then it is refused
    write = transitions.SUBMIT.write(_job(JobState.SUBMITTING))
    with pytest.raises(ValueError, match="slots"):
        write.set("slots", ["orders"])


def test_a_missing_requirement_value_is_refused() -> None:
    # Given the take-over of a start, which must be conditioned on the item as it was seen / Then it needs it
    with pytest.raises(ValueError, match="seen"):
        transitions.TAKE_OVER.write(_job(JobState.SUBMITTING))
