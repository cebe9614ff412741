"""The ledger: one DynamoDB item per job, moved forward only by conditional writes.

Key schema and index names come from template.yaml (LedgerTable); tests read them from there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from emr_dispatch.arrivals import object_version
from emr_dispatch.errors import LedgerError
from emr_dispatch.jobs import ACTIVE_STATES, Job, JobState, StateUpdate
from emr_dispatch.slots import release_items
from emr_dispatch.timeutil import epoch_seconds, iso_seconds_ago, now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from emr_dispatch.retries import Retry

BY_ENGINE_ID = "by_engine_id"
BY_STATE = "by_state"
BY_QUEUE = "by_queue"
_MAX_IN_OPERANDS = 100  # DynamoDB condition expressions: an IN list holds at most 100 values
"""Sparse index of the QUEUED jobs of each route (``queue`` = route, set only while QUEUED), oldest first."""
BY_OBJECT = "by_object"
"""Index of the items that stand for one input object (jobs, batch members, skipped arrivals) by uri and version."""
OBJECT_URI = "object_uri"
OBJECT_VERSION = "object_version"
BY_PENDING_ALERT = "by_pending_alert"
"""Sparse index of the jobs whose alert is not yet published (alert_due set), by when it was claimed."""
ALERT_DUE = "PENDING"
RELEASED_CLAIM = "0000-00-00T00:00:00.000Z"
"""alert_claimed_at of an alert given back after a failed publish: older than any lease."""
RETENTION_SECONDS = 90 * 24 * 3600
"""Terminal jobs expire (TTL) this long after they end."""
SKIP_RETENTION_SECONDS = 14 * 24 * 3600
"""A skipped arrival's record (why no job started, for ``jobs find``) expires (TTL) this long after it landed."""
ALERT_LEASE_SECONDS = 60
"""How long an alert claim holds before another delivery may publish it instead (a publisher that
crashed without releasing it). Publishing takes milliseconds; Lambda retries after 1 and 2 minutes."""

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_JOB_SK = "JOB"


def alert_lease_cutoff() -> str:
    """Alert claims made before this moment have expired (their publisher died)."""
    return iso_seconds_ago(ALERT_LEASE_SECONDS)


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a job: truthy when this caller now owns it."""

    claimed: bool
    held_by: Job | None  # the job already holding the id, when the claim failed

    def __bool__(self) -> bool:
        return self.claimed


def job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": _JOB_SK}}


def object_index(record: dict[str, Any]) -> dict[str, str]:
    """The by_object index's attributes for one object an item stands for (a job's single input, its marker,
    a batch member): ``emr-dispatch jobs find s3://bucket/key`` reads them instead of scanning the ledger."""
    key = str(record.get("marker") or record.get("key") or "")
    if not record.get("bucket") or not key or record.get("manifest"):
        return {}
    version = object_version(record.get("version_id"), record.get("etag"), record.get("size"))
    return {OBJECT_URI: f"s3://{record['bucket']}/{key}", OBJECT_VERSION: version}


def new_job_item(job: Job) -> dict[str, Any]:
    """A new job's item, as the claim writes it (DynamoDB-typed), indexed by its input object when it has one."""
    item = {name: value for name, value in asdict(job).items() if value is not None}
    item["state"] = job.state.value
    item["history"] = [{"at": job.created_at, "state": job.state.value, "source": "launcher"}]
    if len(job.inputs) == 1:
        item.update(object_index(job.inputs[0]))
    return {**job_key(job.job_id), **{name: serialize(value) for name, value in item.items()}}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def to_job(item: dict[str, Any]) -> Job:
    data = {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
    return Job(
        job_id=data["job_id"],
        route=data["route"],
        engine=data["engine"],
        state=JobState(data["state"]),
        attempt=int(data["attempt"]),
        inputs=data.get("inputs", []),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        engine_id=data.get("engine_id"),
        engine_details=data.get("engine_details", {}),
        reason_code=data.get("reason_code"),
        reason_message=data.get("reason_message"),
        failure=data.get("failure"),
        actions=data.get("actions", []),
        history=data.get("history", []),
        alert_pending=bool(data.get("alert_pending", False)),
        alerted_at=data.get("alerted_at"),
        ended_at=data.get("ended_at"),
        submitted_at=data.get("submitted_at"),
        metrics=data.get("engine_metrics", {}),
        slots=data.get("slots", []),
        max_attempts=int(data.get("max_attempts", 1)),
        attempts=data.get("attempts", []),
        retry_at=data.get("retry_at"),
        starting_at=data.get("starting_at"),
        launch_options=data.get("launch_options", {}),
        log_locations=data.get("log_locations", []),
        wait_reason=data.get("wait_reason"),
        wait_until=data.get("wait_until"),
        queued_at=data.get("queued_at"),
        route_snapshot=data.get("route_snapshot"),
        timeout_minutes=int(data["timeout_minutes"]) if data.get("timeout_minutes") is not None else None,
    )


def serialize(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], _SERIALIZER.serialize(value))


class Ledger:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    # ------------------------------------------------------------------ writes
    def claim(self, job: Job) -> Claim:
        """Create the job item if no job of this id exists; otherwise say who holds it (same single call)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=new_job_item(job),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                held: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                return Claim(False, to_job(held) if held else None)
            raise LedgerError(f"claiming job {job.job_id} failed: {exc}") from exc
        return Claim(True, None)

    def take_over(self, job: Job, why: str = "recovering an abandoned claim") -> Job | None:
        """Take an attempt's start in hand (SUBMITTING, no engine id, unchanged since seen); None if lost.

        Used for a claim abandoned by a dead invocation and for the start of a retry's attempt: the
        ``updated_at`` it was seen with makes two deliveries of the same request race for one write."""
        now = now_iso()
        entry = {"at": now, "state": JobState.SUBMITTING.value, "source": f"launcher ({why})", "attempt": job.attempt}
        return self._update(
            job.job_id,
            "SET updated_at = :now, starting_at = :now, history = list_append(history, :entry)",
            "#state = :submitting AND attempt = :attempt AND attribute_not_exists(engine_id) AND updated_at = :seen",
            {
                ":now": now,
                ":entry": [entry],
                ":submitting": JobState.SUBMITTING.value,
                ":attempt": job.attempt,
                ":seen": job.updated_at,
            },
        )

    def begin_attempt(self, job: Job, source: str) -> Job | None:
        """An ended job's next attempt, same inputs, on an operator's request: QUEUED again at attempt + 1,
        the ended attempt kept in ``attempts`` (as a retry keeps it) and nothing of its engine resource or
        outcome left on the job. The attempt is the last one (no automatic retry follows it). None if the
        job moved meanwhile."""
        now = now_iso()
        attempt = job.attempt + 1
        ended = {
            "attempt": job.attempt,
            "engine_id": job.engine_id,
            "state": job.state.value,
            "reason_code": job.reason_code,
            "reason_message": job.reason_message,
            "cause": "operator",
            "failure": job.failure or {},
            "submitted_at": job.submitted_at,
            "ended_at": job.ended_at,
            "log_locations": job.log_locations,
            "retry": f"attempt {attempt} {source}",
        }
        entry = {"at": now, "state": JobState.QUEUED.value, "source": source, "attempt": attempt}
        terminal = [state for state in JobState if state.is_terminal]
        placeholders = [f":end{i}" for i in range(len(terminal))]
        values: dict[str, Any] = {
            ":queued": JobState.QUEUED.value,
            ":next": attempt,
            ":max": attempt,  # one attempt per request: the route's automatic retries do not follow it
            ":attempt": job.attempt,
            ":now": now,
            ":entry": [entry],
            ":ended": [{key: value for key, value in ended.items() if value is not None}],
            ":action": [f"attempt {attempt} {source}"],
            ":empty": [],
            ":false": False,
            ":route": job.route,
            ":why": source,
            **{name: state.value for name, state in zip(placeholders, terminal, strict=True)},
        }
        return self._update(
            job.job_id,
            "SET #state = :queued, attempt = :next, max_attempts = :max, updated_at = :now, "
            "#queue = :route, queued_at = :now, wait_reason = :why, "
            "history = list_append(history, :entry), attempts = list_append(if_not_exists(attempts, :empty), :ended), "
            "actions = list_append(if_not_exists(actions, :empty), :action) "
            "REMOVE engine_id, engine_details, reason_code, reason_message, failure, engine_metrics, ended_at, "
            "expires_at, submitted_at, alert_pending, alert_claimed_at, alert_due, alerted_at, slots, retry_at, "
            "starting_at, log_locations",
            f"attempt = :attempt AND #state IN ({', '.join(placeholders)}) "
            "AND (attribute_not_exists(alert_pending) OR alert_pending = :false)",  # its alert is out
            values,
        )

    def release(self, job: Job) -> None:
        """Drop a claim whose engine start did not happen, so a later delivery can claim it again."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                ConditionExpression="#state = :submitting AND attempt = :attempt AND attribute_not_exists(engine_id)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":submitting": {"S": JobState.SUBMITTING.value},
                    ":attempt": {"N": str(job.attempt)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise LedgerError(f"releasing job {job.job_id} failed: {exc}") from exc

    def release_start(self, job: Job) -> None:
        """Give back an attempt's start (its engine start was throttled) so the retried request can take it."""
        self._update(
            job.job_id,
            "REMOVE starting_at",
            "#state = :submitting AND attempt = :attempt AND attribute_not_exists(engine_id)",
            {":submitting": JobState.SUBMITTING.value, ":attempt": job.attempt},
        )

    def record_submitted(self, job: Job, engine_id: str, engine_details: dict[str, Any]) -> Job:
        """SUBMITTING → SUBMITTED once the engine accepted the job."""
        now = now_iso()
        entry = {
            "at": now,
            "state": JobState.SUBMITTED.value,
            "source": "launcher",
            "engine_id": engine_id,
            "attempt": job.attempt,
        }
        updated = self._update(
            job.job_id,
            "SET #state = :submitted, engine_id = :engine_id, engine_details = :details, "
            "updated_at = :now, submitted_at = :now, history = list_append(history, :entry)",
            "#state = :submitting AND attempt = :attempt",
            {
                ":submitted": JobState.SUBMITTED.value,
                ":submitting": JobState.SUBMITTING.value,
                ":engine_id": engine_id,
                ":details": engine_details,
                ":now": now,
                ":entry": [entry],
                ":attempt": job.attempt,
            },
        )
        if updated is None:
            raise LedgerError(f"job {job.job_id} left SUBMITTING before its engine id was recorded")
        return updated

    def transition(
        self,
        job: Job,
        update: StateUpdate,
        *,
        failure: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        log_locations: list[str] | None = None,
        actions: list[str] | None = None,
        alert: bool = False,
    ) -> Job | None:
        """Move a job forward to ``update.state``. None when the move is not allowed (any more)."""
        now = now_iso()
        target = update.state
        entry: dict[str, Any] = {"at": now, "state": target.value, "source": update.source, "attempt": job.attempt}
        if update.reason_code:
            entry["reason"] = update.reason_code
        assignments = ["#state = :target", "updated_at = :now", "history = list_append(history, :entry)"]
        values: dict[str, Any] = {":target": target.value, ":now": now, ":entry": [entry], ":attempt": job.attempt}
        if update.reason_code is not None:
            assignments.append("reason_code = :reason_code")
            values[":reason_code"] = update.reason_code
        if update.reason_message is not None:
            assignments.append("reason_message = :reason_message")
            values[":reason_message"] = update.reason_message
        if failure:
            assignments.append("failure = :failure")
            values[":failure"] = failure
        if metrics:
            assignments.append("engine_metrics = :metrics")
            values[":metrics"] = metrics
        if log_locations:
            assignments.append("log_locations = :logs")
            values[":logs"] = log_locations
        if actions:
            assignments.append("actions = list_append(if_not_exists(actions, :empty), :actions)")
            values[":actions"] = actions
            values[":empty"] = []
        if target.is_terminal:
            assignments += ["ended_at = :now", "expires_at = :expires"]
            values[":expires"] = epoch_seconds() + RETENTION_SECONDS
        if alert:
            # The alert outbox: whoever wins this transition owns the alert (claimed now), publishes it,
            # then clears the flag. A crash in between leaves it pending for a later delivery to resend.
            assignments += ["alert_pending = :true", "alert_claimed_at = :now", "alert_due = :due"]
            values[":true"] = True
            values[":due"] = ALERT_DUE
        allowed = target.predecessors()
        placeholders = [f":from{i}" for i in range(len(allowed))]
        values.update({name: state.value for name, state in zip(placeholders, allowed, strict=True)})
        condition = f"attempt = :attempt AND #state IN ({', '.join(placeholders)})"
        # Leaving QUEUED leaves the route's queue (by_queue): no state a transition moves to is QUEUED.
        expression = "SET " + ", ".join(assignments) + " REMOVE #queue, wait_until"
        if target.is_terminal and job.slots:
            return self._end_releasing_slots(job, expression, condition, values)
        return self._update(job.job_id, expression, condition, values)

    def _end_releasing_slots(self, job: Job, expression: str, condition: str, values: dict[str, Any]) -> Job | None:
        """A terminal write and the release of the job's capacity slots, in one transaction: no crash can leave
        a slot held by an ended job (issue 13, item 4). The slots released are the ones the job holds now."""
        values = {**values, ":slots": job.slots}
        update = {
            "TableName": self._table,
            "Key": job_key(job.job_id),
            "UpdateExpression": expression,
            "ConditionExpression": f"{condition} AND slots = :slots",
            "ExpressionAttributeNames": {"#state": "state", "#queue": "queue"},
            "ExpressionAttributeValues": {name: serialize(value) for name, value in values.items()},
        }
        items = [{"Update": update}, *release_items(self._table, job.job_id, job.slots)]
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if reasons and str(reasons[0].get("Code")) == "ConditionalCheckFailed":
                return None
            raise LedgerError(f"ending job {job.job_id} failed: {exc}") from exc
        return self.get(job.job_id)

    def schedule_retry(
        self,
        job: Job,
        update: StateUpdate,
        retry: Retry,
        *,
        failure: dict[str, Any] | None,
        log_locations: list[str],
        console_link: str,
        actions: list[str],
    ) -> Job | None:
        """Close the failed attempt and open the next one, in one conditional write.

        The job goes back to SUBMITTING at the next attempt with no engine id: events and describe calls of
        the old attempt can no longer find it (by_engine_id) or move it (attempt condition). The failed
        attempt is kept in ``attempts``; the retry's notice is claimed through the alert outbox."""
        now = now_iso()
        ended = {
            "attempt": job.attempt,
            "engine_id": job.engine_id,
            "state": update.state.value,
            "reason_code": update.reason_code,
            "reason_message": update.reason_message,
            "cause": retry.cause,
            "failure": failure or {},
            "submitted_at": job.submitted_at,
            "ended_at": now,
            "log_locations": log_locations,
            "console_link": console_link,
            "retry": retry.describe(job),
        }
        history = [
            {
                "at": now,
                "state": update.state.value,
                "source": update.source,
                "attempt": job.attempt,
                "reason": update.reason_code or "",
            },
            {
                "at": now,
                "state": JobState.SUBMITTING.value,
                "source": f"retry ({retry.cause})",
                "attempt": retry.attempt,
                "not_before": retry.retry_at,
            },
        ]
        values: dict[str, Any] = {
            ":submitting": JobState.SUBMITTING.value,
            ":next": retry.attempt,
            ":retry_at": retry.retry_at,
            ":options": retry.launch_options,
            ":ended": [{k: v for k, v in ended.items() if v is not None}],
            ":empty": [],
            ":entries": history,
            ":actions": actions,
            ":now": now,
            ":true": True,
            ":due": ALERT_DUE,
            ":attempt": job.attempt,
            ":reason_code": update.reason_code or "",
            ":reason_message": update.reason_message or "",
        }
        values.update({f":from{i}": state.value for i, state in enumerate(ACTIVE_STATES)})
        return self._update(
            job.job_id,
            "SET #state = :submitting, attempt = :next, retry_at = :retry_at, launch_options = :options, "
            "attempts = list_append(if_not_exists(attempts, :empty), :ended), "
            "history = list_append(history, :entries), "
            "actions = list_append(if_not_exists(actions, :empty), :actions), "
            "reason_code = :reason_code, reason_message = :reason_message, updated_at = :now, "
            "alert_pending = :true, alert_claimed_at = :now, alert_due = :due "
            "REMOVE engine_id, engine_details, submitted_at, starting_at, failure",
            "attempt = :attempt AND #state IN (:from0, :from1, :from2)",
            values,
        )

    def add_actions(self, job_id: str, actions: list[str]) -> None:
        self._update(
            job_id,
            "SET actions = list_append(if_not_exists(actions, :empty), :actions), updated_at = :now",
            "attribute_exists(pk)",
            {":actions": actions, ":empty": [], ":now": now_iso()},
        )

    def claim_pending_alert(self, job_id: str) -> Job | None:
        """Take over an alert whose publisher died: only when its claim is older than the lease."""
        now = now_iso()
        expired_before = alert_lease_cutoff()
        return self._update(
            job_id,
            "SET alert_claimed_at = :now",
            "alert_pending = :true AND (attribute_not_exists(alert_claimed_at) OR alert_claimed_at < :expired)",
            {":now": now, ":true": True, ":expired": expired_before},
        )

    def release_alert_claim(self, job_id: str) -> None:
        """Give a pending alert back after a failed publish, so the retried delivery can send it at once."""
        self._update(
            job_id,
            "SET alert_claimed_at = :released",  # not removed: the pending-alert index sorts on it
            "alert_pending = :true",
            {":true": True, ":released": RELEASED_CLAIM},
        )

    def mark_alerted(self, job_id: str) -> None:
        self._update(
            job_id,
            "SET alerted_at = :now REMOVE alert_pending, alert_claimed_at, alert_due",
            "alert_pending = :true",
            {":now": now_iso(), ":true": True},
        )

    def _update(self, job_id: str, expression: str, condition: str, values: dict[str, Any]) -> Job | None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": job_key(job_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {name: serialize(value) for name, value in values.items()},
            "ReturnValues": "ALL_NEW",
        }
        names = {
            name: attr for name, attr in (("#state", "state"), ("#queue", "queue")) if name in expression + condition
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            response = self._client.update_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise LedgerError(f"updating job {job_id} failed: {exc}") from exc
        return to_job(response["Attributes"])

    def record_skip(self, record: dict[str, Any], route: str | None, reason: str, marker_uri: str = "") -> None:
        """Remember why an object version started no job (``jobs find`` answers with it); kept 14 days."""
        index = object_index(record)
        if not index:
            return
        item: dict[str, Any] = {
            "pk": f"SKIP#{index[OBJECT_URI]}#{index[OBJECT_VERSION]}",
            "sk": "SKIP",
            **index,
            "skip_reason": reason,
            "created_at": now_iso(),
            "expires_at": epoch_seconds() + SKIP_RETENTION_SECONDS,
        }
        if route:
            item["route"] = route
        if marker_uri:
            item["marker_uri"] = marker_uri  # the object whose job will read this one
        try:
            self._client.put_item(TableName=self._table, Item={k: serialize(v) for k, v in item.items()})
        except ClientError as exc:
            raise LedgerError(f"recording the skip of {index[OBJECT_URI]} failed: {exc}") from exc

    # ------------------------------------------------------------------ reads
    def find_by_object(self, uri: str, version: str | None = None) -> list[dict[str, Any]]:
        """Every item that stands for an object (all its versions, or one): jobs, batch members, skips; oldest
        first. Read from the by_object index, never a scan."""
        condition = f"{OBJECT_URI} = :uri" + (f" AND {OBJECT_VERSION} = :version" if version else "")
        values = {":uri": {"S": uri}, **({":version": {"S": version}} if version else {})}
        found: list[dict[str, Any]] = []
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=BY_OBJECT,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            for page in pages:
                for item in page.get("Items", []):
                    found.append({name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()})
        except ClientError as exc:
            raise LedgerError(f"looking up {uri} failed: {exc}") from exc
        return sorted(found, key=lambda item: str(item.get("created_at", "")))

    def record_refusal(self, job_id: str, request_id: str, reason: str) -> None:
        """An operator's request about a job that the launcher refused, and why (``jobs retry`` of a job whose
        route was removed): the CLI that sent ``request_id`` reads it back (``refusal``) and says that nothing
        will start. Written on the job's own item only (an unknown job is the asker's "not found"), so it
        lives and expires with the job; a later refusal replaces it."""
        answer = {"request_id": request_id, "reason": reason, "at": now_iso()}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression="SET refused_request = :answer",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":answer": serialize(answer)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return  # no such job: nothing to answer on
            raise LedgerError(f"recording the refusal of a request about job {job_id} failed: {exc}") from exc

    def refusal(self, job_id: str, request_id: str) -> str | None:
        """Why the launcher refused the request ``request_id`` about this job, or None (not refused, or not yet
        handled)."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=job_key(job_id),
                ConsistentRead=True,
                ProjectionExpression="refused_request",
            )
        except ClientError as exc:
            raise LedgerError(f"reading job {job_id} failed: {exc}") from exc
        answer = _DESERIALIZER.deserialize(response.get("Item", {}).get("refused_request", {"NULL": True}))
        if isinstance(answer, dict) and answer.get("request_id") == request_id:
            return str(answer.get("reason", ""))
        return None

    def get(self, job_id: str) -> Job | None:
        try:
            response = self._client.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
        except ClientError as exc:
            raise LedgerError(f"reading job {job_id} failed: {exc}") from exc
        item = response.get("Item")
        return to_job(item) if item else None

    def find_by_engine_id(self, engine_id: str) -> Job | None:
        """The job an engine resource (cluster, job run) belongs to; the newest if several claim it."""
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=BY_ENGINE_ID,
                KeyConditionExpression="engine_id = :id",
                ExpressionAttributeValues={":id": {"S": engine_id}},
            )
        except ClientError as exc:
            raise LedgerError(f"looking up engine id {engine_id} failed: {exc}") from exc
        jobs = [to_job(item) for item in response.get("Items", [])]
        return max(jobs, key=lambda job: job.created_at) if jobs else None

    def pending_alerts(self, claimed_before: str) -> Iterator[Job]:
        """Jobs whose alert is still unpublished and was claimed before ``claimed_before`` (its publisher died):
        a sparse index, so the read does not grow with the failures the ledger retains."""
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=BY_PENDING_ALERT,
                KeyConditionExpression="alert_due = :due AND alert_claimed_at < :before",
                ExpressionAttributeValues={":due": {"S": ALERT_DUE}, ":before": {"S": claimed_before}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield to_job(item)
        except ClientError as exc:
            raise LedgerError(f"listing pending alerts failed: {exc}") from exc

    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        """Whether any non-terminal job of an engine names this resource in engine_details[detail]."""
        for state in ACTIVE_STATES:
            try:
                response = self._client.query(
                    TableName=self._table,
                    IndexName=BY_STATE,
                    KeyConditionExpression="#state = :state",
                    FilterExpression="engine = :engine AND engine_details.#detail = :value",
                    ExpressionAttributeNames={"#state": "state", "#detail": detail},
                    ExpressionAttributeValues={
                        ":state": {"S": state.value},
                        ":engine": {"S": engine},
                        ":value": {"S": value},
                    },
                )
            except ClientError as exc:
                raise LedgerError(f"looking for active {engine} jobs failed: {exc}") from exc
            if response.get("Items"):
                return True
        return False

    def queued_outside(self, routes: Collection[str], limit: int) -> list[Job]:
        """QUEUED jobs whose route is none of ``routes`` (routes gone from the routes file), oldest first, at most
        ``limit``: the by_state index, filtered by DynamoDB on the route (its ``IN`` takes at most 100 names; a
        larger routes file is filtered here). The per-route queues (by_queue) are read by route name, so a removed
        route's queue is found only this way."""
        names = sorted(set(routes))
        extra: dict[str, Any] = {}
        values: dict[str, Any] = {":state": {"S": JobState.QUEUED.value}}
        attribute_names = {"#state": "state"}
        if 0 < len(names) <= _MAX_IN_OPERANDS:
            placeholders = [f":route{index}" for index in range(len(names))]
            values.update({placeholder: {"S": name} for placeholder, name in zip(placeholders, names, strict=True)})
            attribute_names["#route"] = "route"
            extra["FilterExpression"] = f"NOT (#route IN ({', '.join(placeholders)}))"
        found: list[Job] = []
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=BY_STATE,
                KeyConditionExpression="#state = :state",
                ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues=values,
                ScanIndexForward=True,
                **extra,
            )
            for page in pages:
                for item in page.get("Items", []):
                    if item.get("sk", {}).get("S") != _JOB_SK:
                        continue
                    job = to_job(item)
                    if job.state is JobState.QUEUED and job.route not in names:
                        found.append(job)
                        if len(found) >= limit:
                            return found
        except ClientError as exc:
            raise LedgerError(f"listing queued jobs of removed routes failed: {exc}") from exc
        return found

    def list_jobs(self, state: JobState | None = None, route: str | None = None) -> Iterator[Job]:
        """Jobs newest first when filtered by state (the by_state index); all jobs by a scan otherwise."""
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if route:
            values[":route"] = {"S": route}
            extra["FilterExpression"] = "route = :route"
        try:
            if state is not None:
                values[":state"] = {"S": state.value}
                pages = self._client.get_paginator("query").paginate(
                    TableName=self._table,
                    IndexName=BY_STATE,
                    KeyConditionExpression="#state = :state",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=values,
                    ScanIndexForward=False,
                    **extra,
                )
            else:
                if values:
                    extra["ExpressionAttributeValues"] = values
                pages = self._client.get_paginator("scan").paginate(TableName=self._table, **extra)
            for page in pages:
                for item in page.get("Items", []):
                    if item.get("sk", {}).get("S") == _JOB_SK:
                        yield to_job(item)
        except ClientError as exc:
            raise LedgerError(f"listing jobs failed: {exc}") from exc
