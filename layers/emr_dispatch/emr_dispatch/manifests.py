"""A closed batch's manifest: its members streamed from DynamoDB into one JSON object in the work bucket.

Closing reads the members a page at a time (spooled to /tmp beyond a few MB, uploaded in parts), so a batch of
``max_count`` 100,000 fits the launcher's memory: measured by ``make bench`` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emr_dispatch.errors import LedgerError
from emr_dispatch.table import MEMBER_PREFIX, batch_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

MANIFEST_SPOOL_BYTES = 8 * 1024 * 1024
"""A manifest is built in memory up to this size, then in /tmp (512 MB by default in Lambda)."""
MANIFEST_PART_BYTES = 8 * 1024 * 1024
"""Parts of a large manifest's multipart upload, one at a time (no upload threads)."""


def write_manifest(
    dynamodb: DynamoDBClient, table: str, batch_id: str, route: str, where: tuple[str, str], s3: S3Client | None
) -> tuple[int, int]:
    """Stream the batch's members into its manifest at ``where`` (bucket, key): one JSON object, one input per
    line; returns the count and total size. Nothing is written for an empty batch."""
    count = total = 0
    with tempfile.SpooledTemporaryFile(max_size=MANIFEST_SPOOL_BYTES, mode="w+b") as body:
        head = {"batch_id": batch_id, "route": route}
        body.write(json.dumps(head, ensure_ascii=False)[:-1].encode("utf-8") + b', "inputs": [\n')
        for member in _members(dynamodb, table, batch_id):
            body.write((b",\n" if count else b"") + json.dumps(member, ensure_ascii=False).encode("utf-8"))
            count += 1
            total += int(member.get("size", 0))
        body.write(f'\n], "count": {count}}}\n'.encode())
        if count:
            body.seek(0)
            _upload(body, where, batch_id, s3)
    return count, total


def _upload(body: IO[bytes], where: tuple[str, str], batch_id: str, s3: S3Client | None) -> None:
    from boto3.s3.transfer import TransferConfig

    if s3 is None:
        from emr_dispatch import aws

        s3 = aws.s3()
    # One part in memory at a time: no upload threads (a part each), parts of MANIFEST_PART_BYTES.
    config = TransferConfig(
        multipart_threshold=MANIFEST_PART_BYTES, multipart_chunksize=MANIFEST_PART_BYTES, use_threads=False
    )
    bucket, key = where
    try:
        s3.upload_fileobj(body, bucket, key, ExtraArgs={"ContentType": "application/json"}, Config=config)
    except ClientError as exc:
        raise LedgerError(f"writing the manifest of batch {batch_id} failed: {exc}") from exc


def _members(dynamodb: DynamoDBClient, table: str, batch_id: str) -> Iterator[dict[str, Any]]:
    """The batch's members, a page of the query at a time (never all held at once)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :arrival)",
        ExpressionAttributeValues={":pk": {"S": batch_pk(batch_id)}, ":arrival": {"S": MEMBER_PREFIX}},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page.get("Items", []):
            member = {
                name: deserializer.deserialize(value)
                for name, value in item.items()
                if name not in ("pk", "sk", "expires_at")
            }
            yield {name: int(value) if name == "size" else value for name, value in member.items()}
