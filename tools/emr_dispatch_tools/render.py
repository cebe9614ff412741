"""Human renderings of jobs, shared by the CLI and the demo."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table

from emr_dispatch.jobs import Job, JobState

_STATE_STYLE = {"SUCCEEDED": "green", "FAILED": "bold red", "TIMED_OUT": "red", "CANCELLED": "yellow"}


def job_as_dict(job: Job) -> dict[str, Any]:
    data = asdict(job)
    data["state"] = job.state.value
    return data


def current_reason(job: Job) -> str:
    """The reason of the job's current attempt: a retry's pending attempt has none yet (the reason the job
    carries then is the failed attempt's, shown as such)."""
    earlier = job.attempts[-1] if job.attempts else {}
    if job.reason_code and not job.state.is_terminal and earlier.get("reason_code") == job.reason_code:
        return f"(attempt {earlier.get('attempt', job.attempt - 1)}: {job.reason_code})"
    if job.state is JobState.QUEUED and job.wait_reason and not job.reason_code:
        return f"waiting: {job.wait_reason}"
    return job.reason_code or ""


def jobs_table(jobs: list[Job], title: str = "emr-dispatch jobs") -> Table:
    table = Table(title=title, title_justify="left")
    # Ids are copied into the next command: never wrapped nor cut (their column is as wide as the longest);
    # the input and reason fold instead. The route is the job id's prefix.
    widest = {
        "job id": max((len(job.job_id) for job in jobs), default=6),
        "engine id": max((len(job.engine_id or "-") for job in jobs), default=9),
        "state": 10,
        "updated": 19,
    }
    folding = {"attempt": 7, "input": 24, "reason": 12}  # never squeezed to nothing on a narrow terminal
    for column in ("job id", "state", "attempt", "engine id", "input", "reason", "updated"):
        width = widest.get(column) or folding[column]
        table.add_column(column, no_wrap=column in widest, min_width=width, overflow="fold")
    for job in jobs:
        style = _STATE_STYLE.get(job.state.value, "")
        inputs = job.input_uris
        shown = inputs[0] if inputs else "-"
        if len(inputs) > 1:
            shown += f" (+{len(inputs) - 1})"
        table.add_row(
            job.job_id,
            f"[{style}]{job.state.value}[/]" if style else job.state.value,
            f"{job.attempt}/{job.max_attempts}" if job.max_attempts > 1 else str(job.attempt),
            job.engine_id or "-",
            shown,
            current_reason(job),
            job.updated_at[:19].replace("T", " "),
        )
    return table


def job_detail(job: Job) -> Table:
    table = Table(title=f"job {job.job_id}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows: list[tuple[str, str]] = [
        ("route", job.route),
        ("engine", f"{job.engine} {job.engine_id or ''}".strip()),
        ("state", f"{job.state.value} (attempt {job.attempt} of {max(job.max_attempts, job.attempt)})"),
        ("reason", f"{job.reason_code or '-'}: {job.reason_message or '-'}"),
        *(
            [("waiting", f"{job.wait_reason}; next try {job.wait_until or 'when a slot frees'}")]
            if job.state is JobState.QUEUED and job.wait_reason
            else []
        ),
        ("inputs", "\n".join(job.input_uris) or "-"),
        ("created", job.created_at),
        ("submitted", job.submitted_at or "-"),
        ("ended", job.ended_at or "-"),
    ]
    if job.retry_at and not job.state.is_terminal and job.engine_id is None:
        rows.append(("next retry", f"attempt {job.attempt} starts at {job.retry_at} (not before)"))
    if job.steps:
        rows.append(("steps", "\n".join(step_lines(job))))
    if job.log_locations:
        rows.append(("logs", "\n".join(job.log_locations)))
    for earlier in job.attempts:
        rows.append((f"attempt {earlier.get('attempt', '?')}", attempt_lines(earlier)))
    if job.failure:
        rows.append(("failure", "\n".join(f"{key}: {value}" for key, value in sorted(job.failure.items()))))
    if job.metrics:
        rows.append(("usage", "\n".join(f"{key}: {value}" for key, value in sorted(job.metrics.items()))))
    if job.actions:
        rows.append(("actions", "\n".join(job.actions)))
    timeline = "\n".join(timeline_lines(job))
    rows.append(("timeline", timeline or "-"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def attempt_lines(attempt: dict[str, Any]) -> str:
    """An earlier attempt as it ended: engine id, state and reason, failure, logs, console link, what followed."""
    lines = [
        f"{attempt.get('state', '?')} on {attempt.get('engine_id') or '(never started)'}",
        f"reason: {attempt.get('reason_code') or '-'}: {attempt.get('reason_message') or '-'}",
    ]
    failure = attempt.get("failure") or {}
    lines += [f"{key}: {value}" for key, value in sorted(failure.items())]
    lines += [f"logs: {location}" for location in attempt.get("log_locations") or []]
    if attempt.get("console_link"):
        lines.append(f"console: {attempt['console_link']}")
    if attempt.get("retry"):
        lines.append(f"then: {attempt['retry']}")
    return "\n".join(lines)


def step_lines(job: Job) -> list[str]:
    """One line per step of the job, in order: its name, state, start and end (and how long), its id."""
    from emr_dispatch import NAME_PREFIX
    from emr_dispatch.job_steps import ordered_steps
    from emr_dispatch.timeutil import seconds_between

    lines = []
    for number, step in enumerate(ordered_steps(job), start=1):
        started, ended = str(step.get("started_at") or ""), str(step.get("ended_at") or "")
        took = f" ({_duration(seconds_between(started, ended))})" if started and ended else ""
        times = f"{started or '-'} → {ended or '-'}{took}" if started or ended else ""
        name = str(step.get("name", "")).removeprefix(NAME_PREFIX)
        lines.append(f"{number}. {name}  {step.get('state', '?')}  {times}  {step.get('step_id', '')}".rstrip())
    return lines


def timeline_lines(job: Job) -> list[str]:
    """One line per state the job went through: when, how long after the previous one, what, who said so."""
    from emr_dispatch.timeutil import seconds_between

    lines = []
    previous = ""
    for entry in job.history:
        at = str(entry.get("at", ""))
        delta = f"+{_duration(seconds_between(previous, at))}" if previous and at else ""
        attempt = f" (attempt {entry['attempt']})" if "attempt" in entry else ""
        reason = f" {entry['reason']}" if entry.get("reason") else ""
        lines.append(f"{at}  {delta:>7}  {entry.get('state', ''):<10}{reason}{attempt}  {entry.get('source', '')}")
        previous = at or previous
    return lines


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def print_table(console: Any, table: Table) -> None:
    """A table no narrower than its columns' minimums: on a narrow terminal the lines run on (the terminal wraps
    them) rather than rich squeezing a column to nothing or cutting an id."""
    needed = sum((column.min_width or 1) + 3 for column in table.columns) + 1  # cell padding and borders
    width = console.width
    if needed <= width:
        console.print(table)
        return
    console.width = needed  # print(width=...) is capped at the console's width
    try:
        console.print(table)
    finally:
        console.width = width
