"""The alert outbox: a job's alert is claimed in the same conditional write as the state change that causes it
(a final failure, a timeout, a retry's notice), published to SNS, then cleared. Whoever wins the transition owns
the alert; a crash between the write and the publish leaves it pending, and a later delivery (the tracker on a
re-delivered event, the sweeper once the claim's lease expired) publishes it. A refused publish gives the claim
back at once and fails its invocation, so the retried delivery sends it.

Jobs with a pending alert carry ``alert_due`` (the by_pending_alert index, sparse) and ``alert_claimed_at``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from emr_dispatch.alerts import Alert, Alerter
from emr_dispatch.errors import AlertPublishError, LedgerError
from emr_dispatch.jobs import Job
from emr_dispatch.observability import logger
from emr_dispatch.table import BY_PENDING_ALERT, Table, Update, decode_job, job_key
from emr_dispatch.timeutil import iso_seconds_ago, now_iso

if TYPE_CHECKING:
    from emr_dispatch.engines.base import Engine

ALERT_DUE = "PENDING"
RELEASED_CLAIM = "0000-00-00T00:00:00.000Z"
"""alert_claimed_at of an alert given back after a failed publish: older than any lease."""
ALERT_LEASE_SECONDS = 60
"""How long an alert claim holds before another delivery may publish it instead (a publisher that
crashed without releasing it). Publishing takes milliseconds; Lambda retries after 1 and 2 minutes."""


def alert_lease_cutoff() -> str:
    """Alert claims made before this moment have expired (their publisher died)."""
    return iso_seconds_ago(ALERT_LEASE_SECONDS)


def claim_with(write: Update, now: str) -> Update:
    """Claim the alert in a transition's own write: the writer that wins the transition owns the alert."""
    return (
        write.set("alert_pending", True, "true").set("alert_claimed_at", now, "now").set("alert_due", ALERT_DUE, "due")
    )


class AlertOutbox:
    def __init__(self, table: Table, alerter: Alerter) -> None:
        self._table = table
        self._alerter = alerter

    def publish(self, job: Job, engine: Engine) -> None:
        """Publish a job's pending alert and clear it; an SNS failure leaves it pending and raises.

        A job that is not terminal but has a pending alert is announcing its retry."""
        if not job.state.is_terminal and job.attempts:
            alert = Alert.for_retry(job)
        else:
            alert = Alert.for_job(
                job,
                log_locations=job.log_locations or engine.log_locations(job),
                console_link=engine.console_link(job),
            )
        try:
            message_id = self._alerter.publish(alert)
        except AlertPublishError:
            # Still pending: release the claim and fail the invocation, so its retry sends the alert.
            self._release(job.job_id)
            raise
        self._mark_sent(job.job_id)
        logger.info("alert published", job_id=job.job_id, state=job.state.value, message_id=message_id)

    def resend(self, job: Job, engine: Engine) -> bool:
        """Publish an alert its publisher left pending (it died): only once its claim is older than the lease,
        taken over in one conditional write. False: someone else holds it (or it went out)."""
        claimed = self._claim_expired(job.job_id)
        if claimed is None:
            return False
        self.publish(claimed, engine)
        return True

    def pending(self, claimed_before: str | None = None) -> Iterator[Job]:
        """Jobs whose alert is still unpublished and was claimed before ``claimed_before`` (default: the lease
        cutoff, their publisher died): a sparse index, so the read does not grow with the failures retained."""
        before = claimed_before or alert_lease_cutoff()
        try:
            pages = self._table.client.get_paginator("query").paginate(
                TableName=self._table.name,
                IndexName=BY_PENDING_ALERT,
                KeyConditionExpression="alert_due = :due AND alert_claimed_at < :before",
                ExpressionAttributeValues={":due": {"S": ALERT_DUE}, ":before": {"S": before}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield decode_job(item)
        except ClientError as exc:
            raise LedgerError(f"listing pending alerts failed: {exc}") from exc

    # ---------------------------------------------------------------------- the item's outbox fields
    def _claim_expired(self, job_id: str) -> Job | None:
        update = (
            Update()
            .set("alert_claimed_at", now_iso(), "now")
            .when(
                "#alert_pending = :true AND (attribute_not_exists(#alert_claimed_at) OR #alert_claimed_at < :expired)",
                true=True,
                expired=alert_lease_cutoff(),
            )
        )
        item = self._table.update(job_key(job_id), update, f"updating job {job_id}", new=True)
        return decode_job(item) if item else None

    def _release(self, job_id: str) -> None:
        """Give a pending alert back after a failed publish, so the retried delivery can send it at once."""
        # Not removed: the pending-alert index sorts on alert_claimed_at.
        update = Update().set("alert_claimed_at", RELEASED_CLAIM, "released").when("#alert_pending = :true", true=True)
        self._table.update(job_key(job_id), update, f"updating job {job_id}")

    def _mark_sent(self, job_id: str) -> None:
        update = (
            Update()
            .set("alerted_at", now_iso(), "now")
            .remove("alert_pending", "alert_claimed_at", "alert_due")
            .when("#alert_pending = :true", true=True)
        )
        self._table.update(job_key(job_id), update, f"updating job {job_id}")
