"""jobs show's timeline: one compact line per state, with the time since the previous one."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from builders import job
from emr_dispatch.jobs import Job, JobState
from emr_dispatch_tools.render import current_reason, job_detail, jobs_table, print_table, timeline_lines


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


def _retrying() -> Job:
    """A job whose first attempt lost its Spot capacity: attempt 2 waits for its backoff."""
    pending = job(attempt=2)
    pending.max_attempts = 3
    pending.reason_code, pending.reason_message = "SPOT_LOST", "Spot capacity reclaimed"
    pending.retry_at = "2026-11-23T09:44:02.000Z"
    pending.attempts = [
        {
            "attempt": 1,
            "engine_id": "j-FIRSTATTEMPT",
            "state": "FAILED",
            "reason_code": "SPOT_LOST",
            "reason_message": "Spot capacity reclaimed",
            "log_locations": ["s3://work/emr-logs/j-FIRSTATTEMPT/"],
            "console_link": "https://console.example/j-FIRSTATTEMPT",
            "retry": "retrying as attempt 2 in 120 s",
        }
    ]
    return pending


def _text(renderable: Any, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def test_jobs_show_lists_every_attempt_and_the_next_retry() -> None:
    # Given a job during its retry's backoff / When jobs show renders it
    shown = _text(job_detail(_retrying()))
    # Then the earlier attempt's cluster, reason, logs and console link are there, and when the next one starts
    for expected in ("j-FIRSTATTEMPT", "SPOT_LOST", "s3://work/emr-logs/j-FIRSTATTEMPT/", "console.example", "2 of 3"):
        assert expected in shown
    assert "next retry" in shown
    assert "2026-11-23T09:44:02.000Z" in shown


def test_jobs_list_shows_the_attempt_and_a_reason_of_the_current_attempt() -> None:
    # Given a job on its second attempt (the reason it carries is the first attempt's) and one that ended
    retrying = _retrying()
    ended = job()
    ended.state, ended.reason_code = JobState.FAILED, "STEP_FAILED"
    # When the list is printed on a narrow terminal, as the CLI prints it
    console = Console(file=io.StringIO(), width=60, color_system=None)
    print_table(console, jobs_table([retrying, ended]))
    listed = console.file.getvalue()  # type: ignore[attr-defined]
    # Then the attempt is shown, the stale reason is labelled as the earlier attempt's, and ids are whole
    assert "2/3" in listed
    assert current_reason(retrying) == "(attempt 1: SPOT_LOST)"
    assert current_reason(ended) == "STEP_FAILED"
    assert retrying.job_id in listed  # not wrapped nor cut, whatever the width


def test_print_table_never_squeezes_a_column_to_nothing() -> None:
    # Given a terminal narrower than the table's columns need
    console = Console(file=io.StringIO(), width=60, color_system=None)
    # When the jobs table is printed through print_table
    print_table(console, jobs_table([_retrying()]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    # Then every column kept its minimum: the input and the reason are there, folded, not dropped
    assert "s3://landing" in text
    assert "attempt 1" in text
