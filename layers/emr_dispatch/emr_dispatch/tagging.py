"""Input outcome tags: when a job of a route with ``on_end: {tag_inputs: true}`` ends (any terminal state), each
input object version gets ``emr-dispatch-state`` and ``emr-dispatch-job``, merged with the tags it already has.

The work is a waiting record on the job item (docs/WAITING.md): the terminal write itself opens it (``tags_due``,
``tags_claimed_at``, ``tags_cursor`` = 0: transitions.TAG_FIELDS), so an invocation that dies after the end leaves
it owned. The writer that won the terminal write tags inline for up to ``INLINE_SECONDS`` (the tracker, or the
launcher / sweeper that ended the job), saving the cursor after each chunk of ``CHUNK`` inputs; what is left is
released to the sweeper, which takes over any work released or whose claim is older than ``TAGS_LEASE_SECONDS``
(the sparse by_pending_tags index). Every write is conditional on the cursor it read, so two owners never both
count a chunk.

Per object (S3 API reference, PutObjectTagging / GetObjectTagging; S3 User Guide, "Categorizing your storage
using tags": at most 10 tags per object, keys up to 128 and values up to 256 Unicode characters): the existing
tag set is read with the input's VersionId and written back with ours added (our own keys from an earlier end
are updated, never duplicated). An object with 10 tags of its own gets none of ours (``no_room``), one with 9
gets the state tag only (``partial``); a version that is gone (NoSuchKey, NoSuchVersion, a delete marker's
MethodNotAllowed) is ``gone``; one S3 refuses (AccessDenied, InvalidTag) is ``refused``. All are counted on the
job and summed in its actions, never raised: an end is never redelivered for a tag. A throttle or a server error
stops the chunk with its progress saved, and the next owner continues.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from emr_dispatch.errors import LedgerError
from emr_dispatch.inputs import JobInput, ManifestInput, MarkerInput
from emr_dispatch.jobs import Job
from emr_dispatch.observability import logger
from emr_dispatch.table import BY_PENDING_TAGS, Table, Update, decode_job, job_key
from emr_dispatch.timeutil import iso_seconds_ago, now_iso, parse_iso

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STATE_TAG = "emr-dispatch-state"
JOB_TAG = "emr-dispatch-job"
MAX_TAGS = 10
"""S3's limit of tags per object (S3 User Guide, "Categorizing your storage using tags")."""
TAGS_DUE = "PENDING"
RELEASED_CLAIM = "0000-00-00T00:00:00.000Z"
"""tags_claimed_at of work given back by an owner that ran out of time: older than any lease."""
TAGS_LEASE_SECONDS = 600
"""A claim older than this belongs to a dead invocation (the longest function timeout is the sweeper's 240 s)."""
CHUNK = 100
"""Inputs tagged between two cursor saves (at most 2 S3 calls each): what a crash can make the next owner redo."""
INLINE_SECONDS = 20.0
"""How long the invocation that ended a job tags before releasing the rest to the sweeper (the tracker's timeout
is 60 s, the launcher's 120 s)."""
SWEEP_SECONDS = 60.0
"""How long one sweep tags, over all pending jobs, after its other work."""
OUTCOMES = ("tagged", "partial", "unchanged", "no_room", "gone", "refused")
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "MethodNotAllowed", "NotFound", "404"})
_REFUSED = frozenset({"AccessDenied", "InvalidTag", "InvalidArgument", "403"})


def wants_tags(job: Job) -> bool:
    """Whether the job's route (as the job carries it) asked for input outcome tags. Read from the snapshot's
    JSON: the tracker does not load the routes file (nor pydantic) for it."""
    if not job.route_snapshot:
        return False
    try:
        on_end = json.loads(job.route_snapshot).get("on_end") or {}
    except (ValueError, AttributeError):
        return False
    return bool(isinstance(on_end, dict) and on_end.get("tag_inputs"))


def open_tags_with(write: Update, now: str) -> Update:
    """Open the tagging work in a job's terminal write: whoever wins the end holds it."""
    return write.set("tags_due", TAGS_DUE, "tags_due").set("tags_claimed_at", now, "now").set("tags_cursor", 0, "zero")


def tags_for(job: Job) -> dict[str, str]:
    return {STATE_TAG: job.state.value, JOB_TAG: job.job_id}


def merge(existing: list[dict[str, str]], ours: dict[str, str]) -> tuple[list[dict[str, str]], str, bool]:
    """The object's tag set with ours merged in, its outcome, and whether it changed: the object's own tags kept
    in order, ours updated in place or added while there are fewer than MAX_TAGS (the state tag first)."""
    merged = [dict(tag) for tag in existing]
    changed = False
    missing = 0
    for key, value in ours.items():
        current = next((tag for tag in merged if tag["Key"] == key), None)
        if current is not None:
            if current["Value"] != value:
                current["Value"], changed = value, True
        elif len(merged) < MAX_TAGS:
            merged.append({"Key": key, "Value": value})
            changed = True
        else:
            missing += 1
    if missing == len(ours):
        return merged, "no_room", False
    if missing:
        return merged, "partial", changed
    return merged, "tagged" if changed else "unchanged", changed


class TaggingInterrupted(Exception):
    """S3 throttled or failed: stop here; the work stays pending with its progress."""


@dataclass(frozen=True)
class Version:
    bucket: str
    key: str
    version_id: str


class InputTagger:
    """The S3 adapter: reads an input's versions (an object, a marker's prefix, a batch's manifest) and tags one."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3

    def tag(self, version: Version, ours: dict[str, str]) -> str:
        where = {"Bucket": version.bucket, "Key": version.key}
        if version.version_id:
            where["VersionId"] = version.version_id
        try:
            existing = self._s3.get_object_tagging(**where)["TagSet"]  # type: ignore[arg-type]
            merged, outcome, changed = merge([{"Key": t["Key"], "Value": t["Value"]} for t in existing], ours)
            if changed:
                self._s3.put_object_tagging(**where, Tagging={"TagSet": merged})  # type: ignore[arg-type, typeddict-item]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                return "gone"
            if code in _REFUSED:
                logger.warning("input tags refused", uri=f"s3://{version.bucket}/{version.key}", code=code)
                return "refused"
            raise TaggingInterrupted(code) from exc
        except BotoCoreError as exc:
            raise TaggingInterrupted(type(exc).__name__) from exc
        return outcome

    def versions(self, job: Job, start: int) -> Iterator[Version]:
        """The job's input versions from position ``start`` on (the cursor), in a stable order."""
        position = 0
        for each in job.inputs:
            for version in self._versions_of(each, job):
                if position >= start:
                    yield version
                position += 1

    def _versions_of(self, item: JobInput, job: Job) -> Iterator[Version]:
        try:
            if isinstance(item, ManifestInput):
                yield from self._manifest(item)
            elif isinstance(item, MarkerInput):
                yield from self._prefix(item, job)
                yield Version(item.bucket, item.marker.key, item.marker.version_id)
            else:
                yield Version(item.bucket, item.key, item.version_id)
        except ClientError as exc:
            raise TaggingInterrupted(str(exc.response.get("Error", {}).get("Code", ""))) from exc
        except BotoCoreError as exc:
            raise TaggingInterrupted(type(exc).__name__) from exc

    def _manifest(self, manifest: ManifestInput) -> Iterator[Version]:
        """A batch's members, streamed from its manifest (manifests.py writes one member per line)."""
        body = self._s3.get_object(Bucket=manifest.bucket, Key=manifest.key)["Body"]
        lines = body.iter_lines()
        next(lines, None)  # the head: {"batch_id": ..., "route": ..., "inputs": [
        for line in lines:
            if line.startswith(b"]"):
                break
            if not line.strip():
                continue
            member: dict[str, Any] = json.loads(line.rstrip(b",\r"))
            yield Version(str(member["bucket"]), str(member["key"]), str(member.get("version_id") or ""))

    def _prefix(self, marker: MarkerInput, job: Job) -> Iterator[Version]:
        """The current versions under a marker's prefix that existed when the job was created (what it read),
        except folder markers and the marker object itself (tagged last)."""
        created = parse_iso(job.created_at)
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=marker.bucket, Prefix=marker.prefix)
        for page in pages:
            for entry in page.get("Versions", []):
                key = entry["Key"]
                if not entry.get("IsLatest") or key == marker.marker.key or (key.endswith("/") and not entry["Size"]):
                    continue
                if _as_utc(entry["LastModified"]) > created:
                    continue
                yield Version(marker.bucket, key, str(entry.get("VersionId") or ""))


def _as_utc(value: datetime) -> datetime:
    return parse_iso(value.isoformat())


class TagWork:
    """The waiting record's owner side: claim, chunks with a saved cursor, release, finish."""

    def __init__(self, table: Table, tagger: InputTagger) -> None:
        self._table = table
        self._tagger = tagger

    def run(self, job: Job, seconds: float) -> Job:
        """Tag the inputs of ``job`` (whose claim the caller holds) for up to ``seconds``; returns the job as
        written. Finished: tags_due removed and the counts in its actions; else released to the sweeper."""
        if not job.state.is_terminal:
            # An operator's new attempt moved it back to QUEUED: its next end opens the work again.
            return self._drop(job)
        deadline = time.monotonic() + seconds
        ours = tags_for(job)
        versions = self._tagger.versions(job, job.tags_cursor)
        counts = dict(job.tags_counts)
        cursor = job.tags_cursor
        done = 0
        try:
            for version in versions:
                outcome = self._tagger.tag(version, ours)
                counts[outcome] = counts.get(outcome, 0) + 1
                done += 1
                if done % CHUNK == 0:
                    saved = self._save(job, cursor, cursor + CHUNK, counts)
                    if saved is None:
                        return job  # another owner moved it on
                    job, cursor = saved, cursor + CHUNK
                    if time.monotonic() >= deadline:
                        return self._release(job)
        except TaggingInterrupted as exc:
            logger.warning("input tagging interrupted", job_id=job.job_id, cursor=cursor + done % CHUNK, code=str(exc))
            saved = self._save(job, cursor, cursor + done % CHUNK, counts)
            return self._release(saved) if saved is not None else job
        return self._finish(job, cursor, cursor + done % CHUNK, counts)

    def pending(self) -> Iterator[Job]:
        """Jobs whose tagging was released or whose owner died (claim older than the lease)."""
        before = iso_seconds_ago(TAGS_LEASE_SECONDS)
        try:
            pages = self._table.client.get_paginator("query").paginate(
                TableName=self._table.name,
                IndexName=BY_PENDING_TAGS,
                KeyConditionExpression="tags_due = :due AND tags_claimed_at < :before",
                ExpressionAttributeValues={":due": {"S": TAGS_DUE}, ":before": {"S": before}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield decode_job(item)
        except ClientError as exc:
            raise LedgerError(f"listing pending input tags failed: {exc}") from exc

    def claim(self, job: Job) -> Job | None:
        """Take over released or abandoned work, as seen (its claim time unchanged). None: someone else has it."""
        update = (
            Update()
            .set("tags_claimed_at", now_iso(), "now")
            .when("#tags_due = :due AND #tags_claimed_at = :seen", due=TAGS_DUE, seen=job.tags_claimed_at)
        )
        item = self._table.update(job_key(job.job_id), update, f"claiming input tags of {job.job_id}", new=True)
        return decode_job(item) if item else None

    # ---------------------------------------------------------------------- the job item's tags_* fields
    def _save(self, job: Job, seen: int, cursor: int, counts: dict[str, int]) -> Job | None:
        update = (
            Update()
            .set("tags_cursor", cursor, "cursor")
            .set("tags_counts", counts, "counts")
            .set("tags_claimed_at", now_iso(), "now")
            .when("#tags_due = :due AND #tags_cursor = :seen", due=TAGS_DUE, seen=seen)
        )
        item = self._table.update(job_key(job.job_id), update, f"saving input tags of {job.job_id}", new=True)
        return decode_job(item) if item else None

    def _release(self, job: Job) -> Job:
        update = (
            Update()
            .set("tags_claimed_at", RELEASED_CLAIM, "released")
            .when("#tags_due = :due AND #tags_cursor = :seen", due=TAGS_DUE, seen=job.tags_cursor)
        )
        self._table.update(job_key(job.job_id), update, f"releasing input tags of {job.job_id}")
        logger.info("input tagging released", job_id=job.job_id, cursor=job.tags_cursor)
        return job

    def _finish(self, job: Job, seen: int, cursor: int, counts: dict[str, int]) -> Job:
        summary = "input tags: " + ", ".join(f"{counts.get(name, 0)} {name}" for name in OUTCOMES if counts.get(name))
        update = (
            Update()
            .set("tags_counts", counts, "counts")
            .set("tags_cursor", cursor, "cursor")
            .append("actions", [summary if counts else "input tags: no inputs"])
            .remove("tags_due", "tags_claimed_at")
            .when("#tags_due = :due AND #tags_cursor = :seen", due=TAGS_DUE, seen=seen)
        )
        item = self._table.update(job_key(job.job_id), update, f"finishing input tags of {job.job_id}", new=True)
        if item is None:
            return job
        logger.info("input tags written", job_id=job.job_id, state=job.state.value, counts=counts)
        return decode_job(item)

    def _drop(self, job: Job) -> Job:
        update = Update().remove("tags_due", "tags_claimed_at").when("#tags_due = :due", due=TAGS_DUE)
        self._table.update(job_key(job.job_id), update, f"dropping input tags of {job.job_id}")
        return job
