"""Memory: closing the largest batch a route may declare (``max_count`` 100,000, keys of S3's longest, 1,024 bytes).

Closing reads the batch's members from DynamoDB and writes them to a manifest. It runs in the launcher (256 MB),
so what it holds must not grow with the batch. Here ``Batches.close`` runs against in-memory fakes of its two
AWS clients that hold nothing themselves: DynamoDB's Query pages (1 MB each, as DynamoDB pages) are generated on
demand, and the manifest upload is read part by part and dropped. ``tracemalloc``'s peak is then what the close
itself holds. The baseline, measured the same way, is the way closing used to work (every member read into a
list, sorted, and serialised into one request body).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from emr_dispatch.batches import Batches
from emr_dispatch_tools.bench.budgets import Figure

DYNAMODB_PAGE_BYTES = 1024 * 1024
"""A Query returns at most 1 MB of items per page (DynamoDB developer guide, "Paginating table query results")."""
LIMIT_MIB = 256  # the launcher's MemorySize in template.yaml
MAX_COUNT = 100_000  # routes.Batching.max_count's upper bound
MAX_KEY_BYTES = 1024  # S3's longest key


@dataclass(frozen=True)
class BatchClose:
    members: int
    key_bytes: int
    manifest_mib: float
    streamed_peak_mib: float  # Batches.close as it is
    held_peak_mib: float | None  # the old way: all members held, sorted, one body (None: not measured)
    seconds: float


class _Pages:
    def __init__(self, members: int, key_bytes: int) -> None:
        self._members = members
        self._key_bytes = key_bytes

    def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
        page: list[dict[str, Any]] = []
        size = 0
        for n in range(self._members):
            item = _member(n, self._key_bytes)
            page.append(item)
            size += self._key_bytes + 300
            if size >= DYNAMODB_PAGE_BYTES:
                yield {"Items": page}
                page, size = [], 0
        if page:
            yield {"Items": page}


def _member(n: int, key_bytes: int) -> dict[str, Any]:
    stem = f"raw/clicks/2026-12-01/part-{n:06}-"
    key = stem + "x" * max(key_bytes - len(stem) - 4, 0) + ".csv"
    return {
        "pk": {"S": "BATCH#clicks-w1-0"},
        "sk": {"S": f"ARRIVAL#{n:032x}"},
        "bucket": {"S": "emr-dispatch-landing-example"},
        "key": {"S": key},
        "size": {"N": "123456"},
        "etag": {"S": "b1946ac92492d2347c6235b4d2611184"},
        "version_id": {"S": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"},
        "sequencer": {"S": f"0065A7D1D07C{n:06X}"},
        "event_time": {"S": "2026-12-01T08:16:03Z"},
        "expires_at": {"N": "1800000000"},
    }


class _DynamoDB:
    def __init__(self, members: int, key_bytes: int) -> None:
        self._pages = _Pages(members, key_bytes)

    def update_item(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"route": {"S": "clicks"}, "engine": {"S": "emr-ec2"}, "state": {"S": "CLOSING"}}}

    def get_paginator(self, _: str) -> _Pages:
        return self._pages


class _S3:
    """Reads an upload the way a multipart upload would (one part at a time) and keeps only its size."""

    def __init__(self) -> None:
        self.bytes = 0

    def upload_fileobj(self, body: Any, _bucket: str, _key: str, **kwargs: Any) -> None:
        part = kwargs["Config"].multipart_chunksize
        while chunk := body.read(part):
            self.bytes += len(chunk)

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.bytes += len(kwargs["Body"])
        return {}


class _Signal:
    def close_later(self, *_: Any) -> None: ...


def _held_close(dynamodb: _DynamoDB, s3: _S3) -> None:
    """How closing used to work (before 2026-12-01): every member in a list, sorted, one JSON body."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    members = [
        {name: deserializer.deserialize(value) for name, value in item.items() if name not in ("pk", "sk")}
        for page in dynamodb.get_paginator("query").paginate()
        for item in page["Items"]
    ]
    members.sort(key=lambda member: (member.get("event_time", ""), member.get("key", "")))
    manifest = {"batch_id": "clicks-w1-0", "route": "clicks", "count": len(members), "inputs": members}
    s3.put_object(Body=json.dumps(manifest, ensure_ascii=False, default=str).encode("utf-8"))


def _peak(run: Any) -> float:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(members: int = MAX_COUNT, key_bytes: int = MAX_KEY_BYTES, *, baseline: bool = True) -> BatchClose:
    began = time.perf_counter()
    s3 = _S3()
    batches = Batches("ledger", "work", _DynamoDB(members, key_bytes), _Signal(), s3)  # type: ignore[arg-type]
    streamed = _peak(lambda: batches.close("clicks-w1-0"))
    manifest_mib = s3.bytes / 2**20
    held = _peak(lambda: _held_close(_DynamoDB(members, key_bytes), _S3())) if baseline else None
    return BatchClose(members, key_bytes, manifest_mib, streamed, held, time.perf_counter() - began)


def figure(result: BatchClose) -> Figure:
    """The summary's row."""
    held = result.held_peak_mib
    return Figure(
        f"7. memory: closing a {result.members:,}-member batch (heap peak)",
        f"{result.streamed_peak_mib:.0f} MiB",
        f"held and sorted, as before: {held:.0f} MiB" if held is not None else "-",
        f"{result.streamed_peak_mib / held:.2f}" if held else "-",
        f"independent of the batch's size, well inside {LIMIT_MIB} MiB",
        "met" if result.streamed_peak_mib < LIMIT_MIB / 4 else f"**missed** ({result.streamed_peak_mib:.0f} MiB)",
    )


def markdown(result: BatchClose) -> str:
    held = f"{result.held_peak_mib:.0f}" if result.held_peak_mib is not None else "not measured"
    return f"""## 7. Memory: closing the largest batch

`Batches.close` on a batch of {result.members:,} members (keys of {result.key_bytes:,} bytes, S3's longest;
`max_count`'s upper bound is {MAX_COUNT:,}), against fakes of DynamoDB (1 MB Query pages generated on demand) and
S3 (the upload read part by part and dropped), so only what closing itself holds is measured (Python heap peak,
`tracemalloc`). The manifest is {result.manifest_mib:.0f} MiB; members are streamed into it a page at a time,
spooled to /tmp past 8 MiB (Lambda's default ephemeral storage is 512 MB) and uploaded in 8 MiB parts, one at a
time. {result.seconds:.1f} s.

| | MiB |
|---|---|
| **closing as it is (streamed)** | **{result.streamed_peak_mib:.1f}** (of the launcher's {LIMIT_MIB} MiB) |
| closing as it was (every member held, sorted, one request body) | {held} |
"""
