"""The synthetic burst: unique landed objects, their re-deliveries in delivery order, and the SQS events
Lambda's event source mapping would hand the launcher (bodies shaped like the samples in events/)."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from emr_dispatch_tools import moto_stack

REGION = "us-east-1"
BATCH_SIZE = 10  # the template's Arrivals event source mapping
ORDERS_PREFIX = "burst/orders/"  # → emr-ec2
EVENTS_PREFIX = "burst/events/"  # → emr-serverless
JOB_ROLE = "emr-dispatch-bench-serverless-job"
EVENTS_DIR = moto_stack.ROOT / "events"
_SAMPLES = ("s3-put-classic.json", "s3-object-created-eventbridge.json", "sqs-s3-batch.json")
ROUTES_YAML = """\
version: 1
routes:
  - name: burst-orders
    description: Each orders file on its own ephemeral EMR on EC2 cluster.
    match: {prefix: burst/orders/}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      fleets:
        primary: {instance_types: [m7g.xlarge, m6g.xlarge], on_demand_capacity: 1}
        core: {instance_types: [m7g.2xlarge, m6g.2xlarge], spot_capacity: 2}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}", "--output={output_uri}", "--job-id={job_id}"]
    output: s3://{work_bucket}/output/{route}/{job_id}/
  - name: burst-events
    description: Each events file as a job run on the stack's EMR Serverless application.
    match: {prefix: burst/events/}
    engine: emr-serverless
    emr_serverless: {}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}", "--output={output_uri}", "--job-id={job_id}"]
    output: s3://{work_bucket}/output/{route}/{job_id}/
"""


@dataclass(frozen=True)
class LandedObject:
    """One unique object version; every delivery of it carries the same key, etag, version id and sequencer."""

    key: str
    shape: str  # "classic" | "eventbridge"
    size: int
    etag: str
    version_id: str
    sequencer: str
    event_time: str
    event_id: str

    @property
    def request_id(self) -> str:
        return self.event_id.replace("-", "")[:16].upper()


@dataclass
class Burst:
    objects: list[LandedObject]
    order: list[int]  # object index of each delivery, in delivery order

    @property
    def duplicates(self) -> int:
        return len(self.order) - len(self.objects)

    def out_of_order(self) -> int:
        """Deliveries that arrive after a delivery of a later-landed object."""
        latest, late = -1, 0
        for index in self.order:
            late += index < latest
            latest = max(latest, index)
        return late

    def sqs_events(self, bucket: str, queue_arn: str, seed: int) -> list[dict[str, Any]]:
        """The burst as Lambda's SQS event source mapping hands it over: batches of BATCH_SIZE records, each
        shaped like the samples in events/. A re-delivery is a new SQS message (its own id) with the same body."""
        rng = random.Random(seed)  # noqa: S311 - message ids, not secrets
        samples = {name: json.loads((EVENTS_DIR / name).read_text(encoding="utf-8")) for name in _SAMPLES}
        bodies = [event_body(obj, bucket, samples) for obj in self.objects]
        sqs = samples["sqs-s3-batch.json"]["Records"][0]
        records = [
            {
                **sqs,
                "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "receiptHandle": f"AQEB{rng.getrandbits(256):064x}",
                "body": bodies[index],
                "md5OfBody": hashlib.md5(bodies[index].encode(), usedforsecurity=False).hexdigest(),
                "eventSourceARN": queue_arn,
            }
            for index in self.order
        ]
        return [{"Records": records[i : i + BATCH_SIZE]} for i in range(0, len(records), BATCH_SIZE)]


def make_burst(arrivals: int, duplicate_ratio: float, seed: int) -> Burst:
    """Unique objects split over both routes and both event shapes, then re-deliveries (the same object
    version again, some twice), ordered by a delivery time with jitter, redelivery delays and stragglers."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    landed = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    objects = [_landed_object(i, rng, landed) for i in range(arrivals)]
    deliveries = [(i + rng.uniform(0, 8), i) for i in range(arrivals)]
    # S3 and SQS redeliver a moment later, sometimes much later; picked with replacement, so a few objects
    # are delivered three times or more.
    deliveries += [
        (i + rng.expovariate(1 / 30), i) for i in rng.choices(range(arrivals), k=round(arrivals * duplicate_ratio))
    ]
    straggle = max(arrivals / 10, 10)  # one delivery in twenty is a straggler ("sometimes a minute+")
    deliveries = [(t + (rng.uniform(0, straggle) if rng.random() < 0.05 else 0), i) for t, i in deliveries]
    return Burst(objects, [index for _, index in sorted(deliveries)])


def _landed_object(i: int, rng: random.Random, landed: datetime) -> LandedObject:
    prefix, stem, ext = (ORDERS_PREFIX, "orders", "csv") if i % 2 == 0 else (EVENTS_PREFIX, "events", "json")
    # Keys that URL-encoding changes: spaces, '+', '%', non-ASCII. Decoded twice or not at all, they break.
    name = [f"{stem}-{i:06d}", f"{stem} {i:06d}", f"{stem}+{i:06d} café", f"{stem}-{i:06d}-100%"][i % 4]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
    return LandedObject(
        key=f"{prefix}2026-11-23/{name}.{ext}",
        shape="classic" if rng.random() < 0.5 else "eventbridge",
        size=rng.randint(1_000, 5_000_000),
        etag=f"{rng.getrandbits(128):032x}",
        version_id="".join(rng.choices(alphabet, k=32)),
        sequencer=f"{0x0065A7D1C3B9E4F2A1 + i * 7919:018X}",
        event_time=(landed + timedelta(milliseconds=37 * i)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


def event_body(obj: LandedObject, bucket: str, samples: dict[str, Any]) -> str:
    """The message body S3 (classic notification) or EventBridge puts on the arrivals queue, from the samples
    in events/. Classic keys are form-URL-encoded as S3 encodes them ('/' kept, ' ' → '+'); EventBridge keys are
    not form-encoded and go raw, as moto sends them (docs/decisions.md)."""
    key = quote_plus(obj.key, safe="/")
    if obj.shape == "classic":
        record = samples["s3-put-classic.json"]["Records"][0]
        s3 = record["s3"]
        landed = {
            "key": key,
            "size": obj.size,
            "eTag": obj.etag,
            "versionId": obj.version_id,
            "sequencer": obj.sequencer,
        }
        return json.dumps(
            {
                "Records": [
                    {
                        **record,
                        "eventTime": obj.event_time,
                        "responseElements": {**record["responseElements"], "x-amz-request-id": obj.request_id},
                        "s3": {
                            **s3,
                            "bucket": {**s3["bucket"], "name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                            "object": landed,
                        },
                    }
                ]
            }
        )
    event = samples["s3-object-created-eventbridge.json"]
    detail = event["detail"]
    landed = {
        "key": obj.key,
        "size": obj.size,
        "etag": obj.etag,
        "version-id": obj.version_id,
        "sequencer": obj.sequencer,
    }
    return json.dumps(
        {
            **event,
            "id": obj.event_id,
            "time": obj.event_time[:19] + "Z",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {**detail, "bucket": {"name": bucket}, "object": landed, "request-id": obj.request_id},
        }
    )
