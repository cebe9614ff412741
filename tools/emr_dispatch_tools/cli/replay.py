"""emr-dispatch replay: drive objects already in S3 through the launcher again, as if they had just landed.

Each object becomes the S3 notification S3 would have sent (key encoded as S3 encodes it, version and
etag from HeadObject) on the arrivals queue, so the deployed launcher handles it exactly like an arrival.
An object that already has a job is skipped; with ``--force`` an ended job gets a new attempt instead
(through the ledger, like ``jobs retry``), and a job still running is never started twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import quote_plus

import typer
from rich.table import Table

from emr_dispatch.control import replay_body, retry_body
from emr_dispatch.jobs import Job
from emr_dispatch.ledger import Ledger
from emr_dispatch.timeutil import to_iso
from emr_dispatch_tools.cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    StackOption,
    command,
    console,
    print_json,
    progress,
)
from emr_dispatch_tools.cli.jobs import _caller
from emr_dispatch_tools.cli.routes import parse_s3_uri

REPLAY_CONFIGURATION_ID = "emr-dispatch-replay"


@dataclass(frozen=True)
class Replayed:
    uri: str
    version: str
    action: str  # sent | retry-requested | skipped
    job_id: str | None = None
    detail: str = ""


def encode_s3_key(key: str) -> str:
    """A key as S3 notifications carry it (form-encoded, '/' kept): what the launcher decodes, once."""
    return quote_plus(key, safe="/")


def notification_for(bucket: str, key: str, head: dict[str, Any], region: str) -> dict[str, Any]:
    """The classic S3 notification of one object version. S3 gives no sequencer after the fact: the version
    id (the landing bucket is versioned) or the etag tells object versions apart."""
    obj: dict[str, Any] = {
        "key": encode_s3_key(key),
        "size": int(head.get("ContentLength", 0)),
        "eTag": str(head.get("ETag", "")).strip('"'),
        "sequencer": "",
    }
    if head.get("VersionId") and head["VersionId"] != "null":
        obj["versionId"] = head["VersionId"]
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": to_iso(head["LastModified"]),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": REPLAY_CONFIGURATION_ID,
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


def object_keys(s3: Any, bucket: str, key: str) -> list[str]:
    """The object named, or every object under the prefix (a key that names no object is a prefix)."""
    from botocore.exceptions import ClientError

    if key and not key.endswith("/"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return [key]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def jobs_by_object(ledger: Ledger) -> dict[tuple[str, str, str], Job]:
    """Every job by the object versions it read (bucket, key, version id or etag); marker jobs by marker."""
    found: dict[tuple[str, str, str], Job] = {}
    for job in ledger.list_jobs():
        for item in job.inputs:
            version = str(item.get("version_id") or item.get("etag") or "")
            key = str(item.get("marker") or item.get("key", ""))
            previous = found.get((str(item.get("bucket", "")), key, version))
            if previous is None or previous.created_at < job.created_at:
                found[(str(item.get("bucket", "")), key, version)] = job
    return found


@command
def replay(
    uri: Annotated[str, typer.Argument(help="s3://bucket/key of one object, or s3://bucket/prefix/ of many.")],
    force: Annotated[
        bool, typer.Option("--force", help="Objects whose job already ended get a new attempt of that job.")
    ] = False,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Re-drive S3 objects through the launcher, honouring idempotency (an object with a job is skipped)."""
    bucket, key = parse_s3_uri(uri)
    deployment = Deployment.connect(stack, region, profile)
    s3, sqs = deployment.client("s3"), deployment.client("sqs")
    queue_url = deployment.output("ArrivalsQueueUrl")
    keys = object_keys(s3, bucket, key)
    if not keys:
        raise CliError(f"no object at {uri}", EXIT_NOT_FOUND)
    known = jobs_by_object(deployment.ledger())
    requested_by = _caller(deployment)
    results: list[Replayed] = []
    with progress(f"replaying {len(keys)} object(s)", len(keys)) as advance:
        for object_key in keys:
            head = s3.head_object(Bucket=bucket, Key=object_key)
            event = notification_for(bucket, object_key, head, deployment.region)
            record = event["Records"][0]["s3"]["object"]
            version = str(record.get("versionId") or record["eTag"])
            job = known.get((bucket, object_key, version))
            object_uri = f"s3://{bucket}/{object_key}"
            results.append(_replay_one(sqs, queue_url, event, object_uri, version, job, force, requested_by))
            advance(1)
    if output is Output.json:
        print_json([asdict(result) for result in results])
        return
    table = Table(title=f"replay of {uri}", title_justify="left")
    for column in ("object", "version", "action", "job id", "detail"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(result.uri, result.version, result.action, result.job_id or "-", result.detail)
    console.print(table)


def _replay_one(
    sqs: Any,
    queue_url: str,
    event: dict[str, Any],
    uri: str,
    version: str,
    job: Job | None,
    force: bool,
    requested_by: str,
) -> Replayed:
    if job is not None and not force:
        return Replayed(uri, version, "skipped", job.job_id, f"already has a job ({job.state.value})")
    if job is not None and not job.state.is_terminal:
        return Replayed(uri, version, "skipped", job.job_id, f"its job is {job.state.value}: never started twice")
    if job is not None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=retry_body(job.job_id, f"{requested_by} (replay --force)"))
        return Replayed(
            uri, version, "retry-requested", job.job_id, f"attempt {job.attempt + 1} (was {job.state.value})"
        )
    body = replay_body(event, requested_by) if force else json.dumps(event)
    sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    return Replayed(uri, version, "sent", None, "to the arrivals queue")
