"""The ledger's reads: one job by id or engine id, jobs by state or route, the items that stand for an object.

Each read uses the table's indexes (table.py, from template.yaml); only ``list_jobs`` without a state scans.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.errors import LedgerError
from emr_dispatch.jobs import ACTIVE_STATES, Job, JobState
from emr_dispatch.table import (
    BY_ENGINE_ID,
    BY_OBJECT,
    BY_STATE,
    OBJECT_URI,
    OBJECT_VERSION,
    Table,
    decode,
    decode_job,
    is_job_item,
    job_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class LedgerReads:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table = Table(table_name, client)
        self._table = table_name
        self._client = client

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
                    found.append(decode(item))
        except ClientError as exc:
            raise LedgerError(f"looking up {uri} failed: {exc}") from exc
        return sorted(found, key=lambda item: str(item.get("created_at", "")))

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
        answer = decode(response.get("Item", {})).get("refused_request")
        if isinstance(answer, dict) and answer.get("request_id") == request_id:
            return str(answer.get("reason", ""))
        return None

    def get(self, job_id: str) -> Job | None:
        item = self.table.get(job_key(job_id), f"reading job {job_id}")
        return decode_job(item) if item else None

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
        jobs = [decode_job(item) for item in response.get("Items", [])]
        return max(jobs, key=lambda job: job.created_at) if jobs else None

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
                    if is_job_item(item):
                        yield decode_job(item)
        except ClientError as exc:
            raise LedgerError(f"listing jobs failed: {exc}") from exc
