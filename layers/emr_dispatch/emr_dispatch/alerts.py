"""Failure alerts: one readable message per final failure, with what ops need to act on it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.engines.base import RunningResource
from emr_dispatch.errors import AlertPublishError
from emr_dispatch.jobs import Job

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SUBJECT_LIMIT = 99  # SNS: ASCII, no line breaks, "less than 100 characters"
_FAILURE_LABELS = [
    ("step_name", "Step name:"),
    ("step_id", "Step:"),
    ("reason", "Failure:"),
    ("message", "Detail:"),
    ("log_file", "Log file:"),
]


@dataclass(frozen=True)
class Alert:
    job_id: str
    route: str
    engine: str
    state: str
    attempt: int
    engine_id: str | None
    inputs: list[str]
    reason_code: str | None
    reason_message: str | None
    failure: dict[str, Any]
    log_locations: list[str]
    console_link: str
    actions: list[str]
    severity: str = "ERROR"
    next_commands: list[str] = field(default_factory=list)
    max_attempts: int = 1
    earlier_attempts: list[str] = field(default_factory=list)  # one line per attempt before this one

    @classmethod
    def for_job(cls, job: Job, *, log_locations: list[str], console_link: str) -> Alert:
        return cls(
            job_id=job.job_id,
            route=job.route,
            engine=job.engine,
            state=job.state.value,
            attempt=job.attempt,
            engine_id=job.engine_id,
            inputs=job.input_uris,
            reason_code=job.reason_code,
            reason_message=job.reason_message,
            failure=job.failure or {},
            log_locations=log_locations,
            console_link=console_link,
            actions=list(job.actions),
            next_commands=[f"emr-dispatch jobs show {job.job_id}"],
            max_attempts=job.max_attempts,
            earlier_attempts=[_attempt_line(attempt) for attempt in job.attempts],
        )

    @classmethod
    def for_retry(cls, job: Job) -> Alert:
        """The one notice of a retry: the attempt that failed, why, and when the next one starts."""
        failed = job.attempts[-1]
        return cls(
            job_id=job.job_id,
            route=job.route,
            engine=job.engine,
            state="RETRYING",
            attempt=int(failed.get("attempt", job.attempt - 1)),
            engine_id=failed.get("engine_id"),
            inputs=job.input_uris,
            reason_code=failed.get("reason_code"),
            reason_message=failed.get("reason_message"),
            failure=dict(failed.get("failure") or {}),
            log_locations=list(failed.get("log_locations") or []),
            console_link=str(failed.get("console_link", "")),
            actions=[str(failed.get("retry", f"retrying as attempt {job.attempt}"))],
            severity="WARNING",
            next_commands=[f"emr-dispatch jobs show {job.job_id}"],
            max_attempts=job.max_attempts,
            earlier_attempts=[_attempt_line(attempt) for attempt in job.attempts[:-1]],
        )

    @classmethod
    def for_orphan(cls, resource: RunningResource, job: Job | None, why: str, actions: list[str]) -> Alert:
        """A resource emr-dispatch started that no live job owns (lost record, ended job, older attempt)."""
        return cls(
            job_id=job.job_id if job else (resource.job_id_and_attempt or ("?", 0))[0],
            route=job.route if job else "?",
            engine=resource.engine,
            state="ORPHAN",
            attempt=(resource.job_id_and_attempt or ("?", 0))[1],
            engine_id=resource.engine_id,
            inputs=job.input_uris if job else [],
            reason_code="ORPHAN",
            reason_message=why,
            failure={},
            log_locations=[],
            console_link=resource.console_link,
            actions=actions,
            severity="WARNING",
            next_commands=[f"emr-dispatch jobs show {job.job_id}"] if job else [],
        )

    @property
    def subject(self) -> str:
        # Most telling first: state, route, reason; the job id (in the body too) is what gets cut.
        reason = f" ({self.reason_code})" if self.reason_code else ""
        # "attempt 1/3" on a final failure would promise retries that will not come: shown once there were some.
        retried = self.state == "RETRYING" or self.attempt > 1
        attempts = f" attempt {self.attempt}/{self.max_attempts}" if retried and self.max_attempts > 1 else ""
        subject = f"[emr-dispatch] {self.state}: {self.route}{reason}{attempts} job {self.job_id}"
        subject = subject.encode("ascii", "replace").decode("ascii").replace("\n", " ")
        return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 3] + "..."

    @property
    def attempt_text(self) -> str:
        return f"attempt {self.attempt} of {self.max_attempts}"

    def body(self) -> str:
        if self.state == "RETRYING":
            headline = f"Job {self.job_id} on route {self.route}: {self.attempt_text} failed; it is being retried."
        else:
            headline = f"Job {self.job_id} on route {self.route} ended {self.state}."
        lines = [
            headline,
            "",
            f"Engine:     {self.engine} {self.engine_id or '(not started)'} ({self.attempt_text})",
            f"Reason:     {self.reason_code or '-'}: {self.reason_message or '-'}",
        ]
        for key, label in _FAILURE_LABELS:
            if key in self.failure:
                lines.append(f"{label:<12}{self.failure[key]}")
        lines.append("Inputs:")
        lines += [f"  - {uri}" for uri in self.inputs] or ["  (none)"]
        lines.append("Logs:")
        lines += [f"  - {uri}" for uri in self.log_locations] or ["  (none reported)"]
        lines.append(f"Console:    {self.console_link}")
        if self.earlier_attempts:
            lines.append("Earlier attempts:")
            lines += [f"  - {line}" for line in self.earlier_attempts]
        lines.append("Done by emr-dispatch:")
        lines += [f"  - {action}" for action in self.actions] or ["  - nothing (no cleanup was needed)"]
        lines.append("Next:")
        lines += [f"  $ {command}" for command in self.next_commands]
        lines += ["", "--- machine-readable ---", json.dumps(self.as_dict(), sort_keys=True)]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "route": self.route,
            "engine": self.engine,
            "engine_id": self.engine_id,
            "state": self.state,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "earlier_attempts": self.earlier_attempts,
            "inputs": self.inputs,
            "reason_code": self.reason_code,
            "reason_message": self.reason_message,
            "failure": self.failure,
            "log_locations": self.log_locations,
            "console_link": self.console_link,
            "actions": self.actions,
            "severity": self.severity,
        }


def _attempt_line(attempt: dict[str, Any]) -> str:
    reason = attempt.get("reason_code") or "-"
    cause = f", {attempt['cause']}" if attempt.get("cause") else ""
    where = attempt.get("engine_id") or "-"
    return f"attempt {attempt.get('attempt', '?')}: {attempt.get('state', '?')} ({reason}{cause}) on {where}"


class Alerter:
    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self._topic_arn = topic_arn
        self._given_client = client

    @property
    def _client(self) -> SNSClient:
        """Created on the first alert: most invocations never send one (cold start stays lean)."""
        from emr_dispatch import aws

        return self._given_client or aws.sns()

    def publish(self, alert: Alert) -> str:
        attributes = {
            "job_id": alert.job_id,  # the correlation id of the job's log lines, for subscription filters too
            "route": alert.route,
            "engine": alert.engine,
            "severity": alert.severity,
            "state": alert.state,
        }
        try:
            response = self._client.publish(
                TopicArn=self._topic_arn,
                Subject=alert.subject,
                Message=alert.body(),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except ClientError as exc:
            raise AlertPublishError(f"publishing the alert of job {alert.job_id} failed: {exc}") from exc
        return str(response.get("MessageId", ""))
