"""What a job reads: one object, the prefix a marker object completes, or a batch's manifest.

Each kind is a type with its one item encoding (``to_item``/``input_from_item``): the launch plan builds them
(launch_plan.py), the ledger stores them, the engines render placeholders from them. The stored shape is the one
jobs had when inputs were plain dicts, so a job written by an earlier release decodes as it was:
- object:   {bucket, key, size, etag, version_id, sequencer, event_time}
- marker:   the marker object's, with ``key`` the prefix it completes and ``marker`` the marker object's key
- manifest: {bucket, key, manifest (its s3:// URI), count, size}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emr_dispatch.arrivals import Arrival, ObjectVersion


@dataclass(frozen=True)
class ObjectInput(ObjectVersion):
    """One object version: the job of a per-object route."""

    @classmethod
    def of(cls, arrival: Arrival) -> ObjectInput:
        return cls(**arrival.to_record())

    @property
    def manifest_uri(self) -> str:
        return ""

    def to_item(self) -> dict[str, Any]:
        return self.to_record()


@dataclass(frozen=True)
class MarkerInput:
    """The objects under a prefix, announced complete by a marker object (``_SUCCESS``): the job reads the
    prefix; the marker object's version names the job."""

    prefix: str
    marker: ObjectInput

    @classmethod
    def of(cls, marker: Arrival, prefix: str) -> MarkerInput:
        return cls(prefix, ObjectInput.of(marker))

    @property
    def bucket(self) -> str:
        return self.marker.bucket

    @property
    def key(self) -> str:
        """What ``{key}`` renders to: the prefix (``{input_uri}`` is the prefix's URI)."""
        return self.prefix

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def manifest_uri(self) -> str:
        return ""

    def to_item(self) -> dict[str, Any]:
        return {**self.marker.to_item(), "key": self.prefix, "marker": self.marker.key}


@dataclass(frozen=True)
class ManifestInput:
    """A closed batch: its members listed in a manifest object in the work bucket (batches.py writes it)."""

    bucket: str
    key: str
    count: int
    size: int  # bytes of the members together

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def manifest_uri(self) -> str:
        """What ``{inputs_manifest_uri}`` renders to."""
        return self.uri

    def to_item(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "manifest": self.uri, "count": self.count, "size": self.size}


JobInput = ObjectInput | MarkerInput | ManifestInput


def input_from_item(item: Mapping[str, Any]) -> JobInput:
    """An input as the ledger stores it (any release's shape: fields added later are optional)."""
    bucket, key = str(item.get("bucket", "")), str(item.get("key", ""))
    if item.get("manifest"):
        return ManifestInput(bucket, key, _int(item.get("count")), _int(item.get("size")))
    marker = item.get("marker")
    details = [str(item.get(name) or "") for name in ("etag", "version_id", "sequencer", "event_time")]
    version = ObjectInput(bucket, str(marker) if marker else key, _int(item.get("size")), *details)
    return MarkerInput(key, version) if marker else version


def inputs_from_items(items: Iterable[Mapping[str, Any]] | None) -> list[JobInput]:
    return [input_from_item(item) for item in items or []]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
