"""emr-dispatch replay: drive objects already in S3 through the launcher again, as if they had just landed.

Each object becomes the S3 notification S3 would have sent (key encoded as S3 encodes it, version and
etag from HeadObject) on the arrivals queue, so the deployed launcher handles it exactly like an arrival.
An object that already has a job is skipped; with ``--force`` an ended job gets a new attempt instead
(through the ledger, like ``jobs retry``), and a job still running is never started twice.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import quote_plus

import typer
from rich.table import Table

from emr_dispatch.arrivals import Arrival, parse_s3_event
from emr_dispatch.control import replay_body, retry_body
from emr_dispatch.jobs import Job
from emr_dispatch.timeutil import to_iso
from emr_dispatch_tools.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_NOTHING_DONE,
    EXIT_USAGE,
    CliError,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    StackOption,
    caller,
    command,
    console,
    print_json,
    progress,
)
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


CONFIRM_OVER = 100
"""Replaying more objects than this (or a whole bucket) asks for confirmation, or --yes."""


@command
def replay(
    uri: Annotated[str, typer.Argument(help="s3://bucket/key of one object, or s3://bucket/prefix/ of many.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Objects whose job ended get a new attempt; objects skipped before are sent again."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be sent; send nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Replay a whole bucket or many objects unasked.")] = False,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Re-drive S3 objects through the launcher, honouring idempotency (an object version with a job is skipped).

    What the ledger already knows of each object version is read from its by_object index: a job (skipped, or
    with --force a new attempt of an ended one), a recorded skip (not sent again unless --force). Exits 8 when
    nothing was sent."""
    bucket, key = parse_s3_uri(uri)
    deployment = Deployment.connect(stack, region, profile)
    if bucket == deployment.outputs.get("WorkBucketName"):
        raise CliError(f"{bucket} is the stack's work bucket: its objects are never routed", EXIT_NOTHING_DONE)
    s3, sqs = deployment.client("s3"), deployment.client("sqs")
    queue_url = deployment.output("ArrivalsQueueUrl")
    keys = object_keys(s3, bucket, key)
    if not keys:
        raise CliError(f"no object at {uri}", EXIT_NOT_FOUND)
    if (not key or len(keys) > CONFIRM_OVER) and not (yes or dry_run):
        _confirm(f"replay {len(keys)} object(s) of {uri}{' (the whole bucket)' if not key else ''}?")
    ledger = deployment.ledger()
    requested_by = caller(deployment)
    results: list[Replayed] = []
    with progress(f"replaying {len(keys)} object(s)", len(keys)) as advance:
        for object_key in keys:
            head = s3.head_object(Bucket=bucket, Key=object_key)
            event = notification_for(bucket, object_key, head, deployment.region)
            (arrival,) = parse_s3_event(event)
            assert isinstance(arrival, Arrival)  # noqa: S101 - a Records event parses into arrivals only
            if arrival.is_folder_marker:
                results.append(Replayed(arrival.uri, arrival.version, "skipped", None, "folder marker: never routed"))
                advance(1)
                continue
            known = ledger.find_by_object(arrival.uri, arrival.version)
            job_ids = [str(item["job_id"]) for item in known if str(item.get("pk", "")).startswith("JOB#")]
            job = ledger.get(job_ids[-1]) if job_ids else None
            skipped = [str(item["skip_reason"]) for item in known if item.get("skip_reason")]
            skipped += [f"already in batch {item['batch_id']}" for item in known if item.get("batch_id")]
            results.append(_replay_one(sqs, queue_url, event, arrival, job, skipped, force, dry_run, requested_by))
            advance(1)
    if output is Output.json:
        print_json([asdict(result) for result in results])
    else:
        table = Table(title=f"replay of {uri}{' (dry run: nothing sent)' if dry_run else ''}", title_justify="left")
        for column in ("object", "version", "action", "job id", "detail"):
            table.add_column(column, no_wrap=column == "job id", overflow="fold")
        for result in results:
            table.add_row(result.uri, result.version, result.action, result.job_id or "-", result.detail)
        console.print(table)
    if not dry_run and all(result.action == "skipped" for result in results):
        raise typer.Exit(EXIT_NOTHING_DONE)


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise CliError(f"{question} Say --yes to replay them (or --dry-run to see them first)", EXIT_USAGE)
    if not typer.confirm(question, err=True):
        raise CliError("not replayed", EXIT_NOTHING_DONE)


def _replay_one(
    sqs: Any,
    queue_url: str,
    event: dict[str, Any],
    arrival: Arrival,
    job: Job | None,
    skipped: list[str],
    force: bool,
    dry_run: bool,
    requested_by: str,
) -> Replayed:
    uri, version = arrival.uri, arrival.version
    would = "would be sent" if dry_run else "sent"
    if job is not None and not force:
        return Replayed(uri, version, "skipped", job.job_id, f"already has a job ({job.state.value})")
    if job is not None and not job.state.is_terminal:
        return Replayed(uri, version, "skipped", job.job_id, f"its job is {job.state.value}: never started twice")
    if job is not None:
        if not dry_run:
            body = retry_body(job.job_id, f"{requested_by} (replay --force)")
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        action = "retry-would-be-requested" if dry_run else "retry-requested"
        return Replayed(uri, version, action, job.job_id, f"attempt {job.attempt + 1} (was {job.state.value})")
    if skipped and not force:
        return Replayed(uri, version, "skipped", None, f"skipped before: {skipped[-1]} (--force sends it again)")
    if not dry_run:
        body = replay_body(event, requested_by) if force else json.dumps(event)
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    return Replayed(uri, version, would, None, f"to the arrivals queue: emr-dispatch jobs find {uri}")
