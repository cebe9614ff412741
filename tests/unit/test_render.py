"""jobs show's timeline: one compact line per state, with the time since the previous one."""

from __future__ import annotations

from builders import job
from emr_dispatch_tools.render import timeline_lines


def test_the_timeline_shows_each_state_with_the_time_since_the_previous_one() -> None:
    # Given a job that was submitted, failed, and was retried
    retried = job()
    retried.history = [
        {"at": "2026-11-23T09:00:00.000Z", "state": "SUBMITTING", "source": "launcher"},
        {"at": "2026-11-23T09:00:02.000Z", "state": "SUBMITTED", "source": "launcher"},
        {"at": "2026-11-23T09:42:02.000Z", "state": "FAILED", "source": "step FAILED", "reason": "STEP_FAILED"},
        {"at": "2026-11-23T12:00:00.000Z", "state": "QUEUED", "source": "retry requested by ops", "attempt": 2},
    ]
    # When its timeline is rendered
    lines = timeline_lines(retried)
    # Then each state has its line, with the time since the one before, the reason and the attempt
    assert len(lines) == 4
    assert "SUBMITTING" in lines[0]
    assert "+2s" in lines[1]
    assert "+42m" in lines[2]
    assert "STEP_FAILED" in lines[2]
    assert "+2.3h" in lines[3]
    assert "(attempt 2)" in lines[3]
    assert lines[3].endswith("retry requested by ops")
