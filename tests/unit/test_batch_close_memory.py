"""Closing a batch holds a page of members and a bounded spool, never the whole batch (issue 13, item 10):
what closing holds must not grow with the batch, or a batch of max_count 100,000 kills the launcher."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emr_dispatch import batches, manifests
from emr_dispatch_tools.bench import batch_close


def test_what_closing_holds_does_not_grow_with_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a small in-memory spool and upload part (so that a few thousand members already spill to disk and
    # upload in several parts, as 100,000 would with the real 8 MiB)
    monkeypatch.setattr(manifests, "MANIFEST_SPOOL_BYTES", 256 * 1024)
    monkeypatch.setattr(manifests, "MANIFEST_PART_BYTES", 256 * 1024)

    # When batches of 2,000 and of 8,000 long-keyed members are closed (DynamoDB's 1 MB pages generated on demand)
    small = batch_close.measure(2_000, 1_024, baseline=False)
    large = batch_close.measure(8_000, 1_024, baseline=False)

    # Then the manifest grew four-fold, and what closing held at its peak did not
    assert large.manifest_mib > 3.9 * small.manifest_mib
    assert large.streamed_peak_mib < 1.25 * small.streamed_peak_mib
    assert large.streamed_peak_mib < 8


def test_the_streamed_manifest_is_one_json_object_with_every_member(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch of 2,500 members (three DynamoDB pages), its manifest captured as uploaded
    uploaded: dict[str, Any] = {}

    class Capture(batch_close._S3):
        def upload_fileobj(self, body: Any, _bucket: str, _key: str, **kwargs: Any) -> None:
            uploaded.update(bucket=_bucket, key=_key, body=body.read(), extra=kwargs["ExtraArgs"])

    monkeypatch.setattr(manifests, "MANIFEST_SPOOL_BYTES", 64 * 1024)
    store = batches.Batches("ledger", "work", batch_close._DynamoDB(2_500, 200), batch_close._Signal(), Capture())  # type: ignore[arg-type]

    # When it is closed
    closed = store.close("clicks-w1-0")

    # Then the manifest is one JSON object listing every member once, with the count and size the job is told
    manifest = json.loads(uploaded["body"])
    assert closed is not None
    assert (closed.count, manifest["count"], len(manifest["inputs"])) == (2_500, 2_500, 2_500)
    assert len({item["key"] for item in manifest["inputs"]}) == 2_500
    assert closed.bytes == sum(item["size"] for item in manifest["inputs"])
    assert (uploaded["bucket"], uploaded["key"]) == ("work", "manifests/clicks/clicks-w1-0.json")
    assert uploaded["extra"] == {"ContentType": "application/json"}
    assert "expires_at" not in manifest["inputs"][0]
