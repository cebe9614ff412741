"""What `make e2e` deploys, uploads and expects: pure, so it is unit-tested without an account."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emr_dispatch.jobs import Job, JobState

ROOT = Path(__file__).resolve().parents[3]
NAME_PREFIX = "emr-dispatch-e2e-"
ROUTE = "e2e-serverless"
INPUT_PREFIX = "incoming/"
SUCCESS_KEY = f"{INPUT_PREFIX}ok.csv"
FAILURE_KEY = f"{INPUT_PREFIX}fail.csv"
INPUTS = {SUCCESS_KEY: "id\n1\n2\n", FAILURE_KEY: "fail\n"}
EXPECTED = {SUCCESS_KEY: JobState.SUCCEEDED, FAILURE_KEY: JobState.FAILED}
SCRIPT_KEY = "jobs/e2e_check.py"
SCRIPT = ROOT / "jobs" / "e2e_check.py"
PROBE_KEY = "probe/key with space+plus=equals:colon é.txt"
"""An object no route takes: the capture rule receives its real EventBridge event, whose key is printed (how S3
writes a key into an EventBridge event is what docs/FACTS could not settle from public sources)."""
RELEASE_LABEL = "emr-7.5.0"


@dataclass(frozen=True)
class Names:
    """Everything `make e2e` creates is named after one unique stack name, so a leftover is recognisable."""

    stack: str

    @classmethod
    def unique(cls, now: datetime | None = None) -> Names:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
        return cls(f"{NAME_PREFIX}{stamp}-{secrets.token_hex(3)}")

    @property
    def job_role(self) -> str:
        return f"{self.stack}-job"[:64]  # IAM role names: at most 64 characters

    @property
    def application(self) -> str:
        return self.stack

    @property
    def artifacts_bucket(self) -> str:
        return f"{self.stack}-artifacts"[:63]

    @property
    def alerts_queue(self) -> str:
        return f"{self.stack}-alerts"[:80]

    @property
    def probe_queue(self) -> str:
        return f"{self.stack}-probe"[:80]

    @property
    def probe_rule(self) -> str:
        return f"{self.stack}-probe"[:64]


def routes_document() -> dict[str, Any]:
    """One EMR Serverless route over incoming/, on the stack's application, which emr-dispatch starts and stops."""
    return {
        "version": 1,
        "routes": [
            {
                "name": ROUTE,
                "description": "make e2e: count the lines of a file, or fail when it says so",
                "match": {"prefix": INPUT_PREFIX, "suffix": ".csv"},
                "engine": "emr-serverless",
                "emr_serverless": {"managed_application": True},
                "job": {
                    "entry_point": "s3://{work_bucket}/" + SCRIPT_KEY,
                    "arguments": ["--input={input_uri}", "--output={output_uri}"],
                },
                "output": "s3://{work_bucket}/output/{route}/{job_id}/",
                "timeout_minutes": 30,
                "retry": {"max_attempts": 1},
            }
        ],
    }


_POLICY_BLOCK = re.compile(r"```json job-role-emr-serverless\n(.*?)```", re.DOTALL)


def job_role_policy(security_md: str, work_bucket: str, landing_bucket: str) -> dict[str, Any]:
    """docs/SECURITY.md's documented EMR Serverless job-role policy, for this stack's buckets: the end-to-end
    test runs its job with exactly what the documentation says is enough. The stack's landing bucket is SSE-S3,
    so the brought-bucket KMS statement is left out."""
    found = _POLICY_BLOCK.search(security_md)
    if found is None:
        raise ValueError("docs/SECURITY.md has no ```json job-role-emr-serverless block")
    text = found.group(1).replace("WORK", work_bucket).replace("LANDING", landing_bucket)
    policy: dict[str, Any] = json.loads(text.replace(f"{landing_bucket}/raw/*", f"{landing_bucket}/{INPUT_PREFIX}*"))
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "BroughtBucketKey"]
    return policy


def job_role_trust(account: str) -> dict[str, Any]:
    """EMR Serverless may assume the job role for applications of this account only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "emr-serverless.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def queue_policy(queue_arn: str, service: str, source_arn: str) -> str:
    """Only this topic (or rule) may send to the test's queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
                }
            ],
        }
    )


def probe_pattern(landing_bucket: str) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [landing_bucket]}, "object": {"key": [{"prefix": "probe/"}]}},
    }


def describe_probe_key(sent: str, received: str) -> str:
    """How a real EventBridge event wrote the key S3 was given."""
    if received == sent:
        return "as is: not URL-encoded (no unquote_plus for EventBridge keys)"
    from urllib.parse import quote, quote_plus, unquote, unquote_plus

    if received == quote_plus(sent, safe="/"):
        return "form-encoded (quote_plus): decode with unquote_plus"
    if received == quote(sent, safe="/"):
        return "percent-encoded with %20 for spaces (quote): decode with unquote, not unquote_plus"
    if unquote_plus(received) == sent:
        return "encoded some other way that unquote_plus reverses"
    if unquote(received) == sent:
        return "encoded some other way that unquote reverses"
    return "in a form neither unquote nor unquote_plus reverses"


@dataclass
class Outcome:
    """What the deployed stack did with the two inputs, as the test observed it."""

    jobs: list[Job] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # SNS envelopes from the subscribed queue
    application_state: str = ""


def problems(outcome: Outcome) -> list[str]:
    """Every way the outcome differs from what the stack promises (empty: the end-to-end test passed)."""
    found = []
    by_key = {job.inputs[0].key: job for job in outcome.jobs if job.inputs}
    if len(outcome.jobs) != len(EXPECTED):
        found.append(f"{len(outcome.jobs)} jobs in the ledger, expected {len(EXPECTED)} (one per input)")
    for key, state in EXPECTED.items():
        job = by_key.get(key)
        if job is None:
            found.append(f"no job for s3 key {key}")
            continue
        if job.state is not state:
            found.append(f"job of {key} is {job.state.value}, expected {state.value} ({job.reason_code})")
        if state is JobState.FAILED and not (job.reason_code and job.reason_message):
            found.append(f"job of {key} failed without a reason (code {job.reason_code!r})")
    failed = by_key.get(FAILURE_KEY)
    alerted = [_attribute(alert, "job_id") for alert in outcome.alerts]
    if len(outcome.alerts) != 1:
        found.append(f"{len(outcome.alerts)} alerts received, expected exactly 1 (the failed job's)")
    elif failed is not None and alerted != [failed.job_id]:
        found.append(f"the alert is about {alerted}, expected the failed job {failed.job_id}")
    if outcome.application_state != "STOPPED":
        found.append(f"the EMR Serverless application is {outcome.application_state}, expected STOPPED")
    return found


def _attribute(envelope: dict[str, Any], name: str) -> str:
    value = envelope.get("MessageAttributes", {}).get(name, {})
    return str(value.get("Value", "")) if isinstance(value, dict) else ""
