"""Merging emr-dispatch's two outcome tags into an object's own tag set (S3 allows 10 tags per object: S3 User
Guide, "Categorizing your storage using tags"; PutObjectTagging replaces the whole set, so the set written back
must carry the object's own tags)."""

from __future__ import annotations

import json

from emr_dispatch.jobs import Job, JobState
from emr_dispatch.tagging import JOB_TAG, MAX_TAGS, STATE_TAG, merge, wants_tags

OURS = {STATE_TAG: "FAILED", JOB_TAG: "orders-0123456789abcdef"}


def _own(count: int) -> list[dict[str, str]]:
    return [{"Key": f"k{n}", "Value": f"v{n}"} for n in range(count)]


def test_ours_are_added_after_the_objects_own_tags_kept_in_order() -> None:
    # Given an object with 3 tags / When merged / Then its own tags come first, unchanged, and ours follow
    merged, outcome, changed = merge(_own(3), OURS)
    assert merged == [*_own(3), {"Key": STATE_TAG, "Value": "FAILED"}, {"Key": JOB_TAG, "Value": OURS[JOB_TAG]}]
    assert (outcome, changed) == ("tagged", True)


def test_nine_tags_leave_room_for_the_state_tag_only() -> None:
    # Given 9 tags of its own / When merged / Then the 10th is the state tag; the job tag does not fit
    merged, outcome, changed = merge(_own(9), OURS)
    assert len(merged) == MAX_TAGS
    assert merged[-1] == {"Key": STATE_TAG, "Value": "FAILED"}
    assert (outcome, changed) == ("partial", True)


def test_ten_tags_get_none_of_ours_and_nothing_is_written() -> None:
    # Given S3's limit already reached / When merged / Then the set is unchanged and no write is asked for
    merged, outcome, changed = merge(_own(10), OURS)
    assert merged == _own(10)
    assert (outcome, changed) == ("no_room", False)


def test_an_earlier_end_s_tags_are_updated_in_place_never_duplicated() -> None:
    # Given an object tagged by an earlier attempt that failed, with 8 tags of its own beside ours
    earlier = [*_own(8), {"Key": STATE_TAG, "Value": "FAILED"}, {"Key": JOB_TAG, "Value": OURS[JOB_TAG]}]
    # When the next attempt's success is merged / Then the state is updated where it was; nothing else moves
    merged, outcome, changed = merge(earlier, {**OURS, STATE_TAG: "SUCCEEDED"})
    assert merged == [*_own(8), {"Key": STATE_TAG, "Value": "SUCCEEDED"}, {"Key": JOB_TAG, "Value": OURS[JOB_TAG]}]
    assert (outcome, changed) == ("tagged", True)
    # And the same tags again change nothing (a re-run after a crash writes nothing)
    assert merge(merged, {**OURS, STATE_TAG: "SUCCEEDED"})[1:] == ("unchanged", False)


def test_only_a_route_that_asked_for_tags_wants_them() -> None:
    # Given jobs carrying their route's snapshot with and without on_end.tag_inputs, and one without a snapshot
    def job(snapshot: str | None) -> Job:
        return Job("j", "r", "emr-ec2", JobState.SUCCEEDED, 1, [], "t", "t", route_snapshot=snapshot)

    # When asked / Then only the first wants tags
    assert wants_tags(job(json.dumps({"on_end": {"tag_inputs": True}})))
    assert not wants_tags(job(json.dumps({"on_end": {"tag_inputs": False}})))
    assert not wants_tags(job(json.dumps({"name": "r"})))
    assert not wants_tags(job(None))
