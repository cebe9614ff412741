"""S3 arrival events, modelled once: classic notifications and EventBridge "Object Created".

This module is the only place that decodes an object key (``decode_s3_key``, once per key). Classic
notifications carry keys form-URL-encoded ("a b+c.csv" arrives as "a+b%2Bc.csv"). EventBridge keys are not
form-encoded (a real event carries "=" and ":" as is, where a classic one sends %3D and %3A): either fully raw
or percent-encoded with %20 and a literal "+" — public sources do not settle which, so they are decoded in the
way that is right for both (docs/decisions.md): a "+" is never a space, and a key that cannot be an encoder's
output (a space, a bare "%", a non-ASCII character) is taken as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from emr_dispatch.errors import MalformedEventError

MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes: a longer key cannot have come from S3."""

CLASSIC = "s3-notification"
EVENTBRIDGE = "eventbridge"

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_NOT_PERCENT_ENCODED = re.compile(r"[ ]|%(?![0-9A-Fa-f]{2})|[^\x00-\x7f]")
"""What a percent-encoder never leaves in its output: a space, a "%" that starts no escape, a non-ASCII character."""

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
"""S3's bucket naming rules (general purpose buckets), loosely: 3-63 of lower-case letters, digits, dots, hyphens."""


@dataclass(frozen=True)
class ObjectVersion:
    """One S3 object version, as an event tells it (an Arrival) and as a job's input keeps it (inputs.py)."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str
    sequencer: str
    event_time: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def version(self) -> str:
        """The object version as every path can know it: the version id (versioned bucket), else etag and size.

        Never the sequencer: a replay or a redriven copy cannot know it (S3 gives none after the fact), and an
        identity that differs between an event and its replay would start the same object version twice."""
        return object_version(self.version_id, self.etag, self.size)

    def identity(self) -> str:
        """What makes this object version unique: the same PUT seen twice, replayed or redriven gives the same
        identity; a re-upload (a new version, or new bytes in an unversioned bucket) a new one."""
        return f"{self.bucket}\x00{self.key}\x00{self.version}"

    def to_record(self) -> dict[str, Any]:
        """The object version as a plain record (a job's object input, a batch member, a skip are stored so)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
            "event_time": self.event_time,
        }


@dataclass(frozen=True)
class Arrival(ObjectVersion):
    """One S3 object version that landed."""

    shape: str  # CLASSIC | EVENTBRIDGE

    @property
    def is_folder_marker(self) -> bool:
        return self.key.endswith("/") and self.size == 0


def object_version(version_id: str | None, etag: str | None, size: int | str | None) -> str:
    """One object version as an event, a replay and a job input all name it (see ``Arrival.version``)."""
    if version_id and version_id != "null":  # "null": written while versioning was off or suspended
        return str(version_id)
    return f"{str(etag or '').strip(chr(34))}:{int(size or 0)}"


@dataclass(frozen=True)
class TestEvent:
    """The s3:TestEvent S3 sends when a notification destination is configured."""

    bucket: str


def decode_s3_key(raw: str, shape: str = CLASSIC) -> str:
    """The object key an event of ``shape`` carries as ``raw``. Call this once per key, nowhere else.

    Classic notifications: form-URL-decoding ("+" is a space, "%2B" a plus). EventBridge: never form-decoded
    (a "+" stays a "+"); percent escapes are decoded only when the key could be an encoder's output — it has an
    escape, and no space, bare "%" or non-ASCII character — and the escapes spell UTF-8. Otherwise the key is
    raw and kept as it is. The one key read differently in the two cases: a raw key whose every "%" starts a
    UTF-8 escape and that has none of those characters ("100%25.csv" is read as "100%.csv")."""
    if shape == CLASSIC:
        return unquote_plus(raw, encoding="utf-8", errors="strict")
    if not _PERCENT_ESCAPE.search(raw) or _NOT_PERCENT_ENCODED.search(raw):
        return raw
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return raw  # escapes that spell no UTF-8 are not an encoder's output of a key: the key's own text


def parse_s3_event(event: Any) -> list[Arrival | TestEvent]:
    """Parse an un-wrapped S3 event (classic notification or EventBridge) into arrivals.

    Raises MalformedEventError when the event is neither shape or lacks required fields.
    """
    if not isinstance(event, dict):
        raise MalformedEventError(f"event is a {type(event).__name__}, not an object")
    if event.get("Event") == "s3:TestEvent":
        return [TestEvent(bucket=str(event.get("Bucket", "")))]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list):
            raise MalformedEventError("Records is not a list")
        return [_parse_classic_record(record, index) for index, record in enumerate(records)]
    if event.get("source") == "aws.s3" and event.get("detail-type") == "Object Created":
        return [_parse_eventbridge(event)]
    raise MalformedEventError(
        f"not an S3 arrival: source={event.get('source')!r} detail-type={event.get('detail-type')!r}"
    )


def load_json(body: str) -> Any:
    """An SQS message body, parsed; anything but JSON is a malformed event."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        raise MalformedEventError(f"message body is not JSON: {exc}") from exc


def parse_message_body(body: str) -> list[Arrival | TestEvent]:
    """Parse the body of an SQS message that carries an S3 event of either shape."""
    return parse_s3_event(load_json(body))


def _parse_classic_record(record: Any, index: int) -> Arrival:
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        raise MalformedEventError(f"{where} is not an object")
    event_name = str(record.get("eventName", ""))
    if record.get("eventSource") != "aws:s3" or not event_name.startswith("ObjectCreated:"):
        raise MalformedEventError(f"{where} is not an S3 ObjectCreated record: {event_name!r}")
    s3 = _field(record, "s3", dict, where)
    bucket = _bucket(_field(_field(s3, "bucket", dict, where + ".s3"), "name", str, where + ".s3.bucket"), where)
    obj = _field(s3, "object", dict, where + ".s3")
    return Arrival(
        bucket=bucket,
        key=_decoded(_field(obj, "key", str, where + ".s3.object"), where, CLASSIC),
        size=_int(obj.get("size", 0), where + ".s3.object.size"),
        etag=str(obj.get("eTag", "")),
        version_id=str(obj.get("versionId") or ""),
        sequencer=str(obj.get("sequencer", "")),
        event_time=str(record.get("eventTime", "")),
        shape=CLASSIC,
    )


def _parse_eventbridge(event: dict[str, Any]) -> Arrival:
    detail = _field(event, "detail", dict, "event")
    bucket = _bucket(_field(_field(detail, "bucket", dict, "detail"), "name", str, "detail.bucket"), "detail.bucket")
    obj = _field(detail, "object", dict, "detail")
    return Arrival(
        bucket=bucket,
        key=_decoded(_field(obj, "key", str, "detail.object"), "detail.object", EVENTBRIDGE),
        size=_int(obj.get("size", 0), "detail.object.size"),
        etag=str(obj.get("etag", "")),
        version_id=str(obj.get("version-id") or ""),
        sequencer=str(obj.get("sequencer", "")),
        event_time=str(event.get("time", "")),
        shape=EVENTBRIDGE,
    )


def _decoded(raw: str, where: str, shape: str) -> str:
    if not raw:
        raise MalformedEventError(f"{where}: empty key")
    try:
        key = decode_s3_key(raw, shape)
        size = len(key.encode("utf-8"))  # a lone surrogate (a JSON "\\ud800" escape) is not UTF-8 either
    except UnicodeError as exc:
        raise MalformedEventError(f"{where}: key is not valid UTF-8 once decoded") from exc
    if size > MAX_KEY_BYTES:
        raise MalformedEventError(f"{where}: key is {size} bytes, longer than S3 allows ({MAX_KEY_BYTES})")
    return key


def _bucket(name: str, where: str) -> str:
    if not _BUCKET_NAME.match(name):
        raise MalformedEventError(f"{where}: {name[:80]!r} is not an S3 bucket name")
    return name


def _field(container: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = container.get(name)
    if not isinstance(value, kind):
        raise MalformedEventError(f"{where}.{name} is missing or not a {kind.__name__}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedEventError(f"{where} is not an integer")
    try:
        number = int(value)
    except ValueError as exc:
        raise MalformedEventError(f"{where} is not an integer") from exc
    if number < 0:
        raise MalformedEventError(f"{where} is negative")
    return number
