"""Where emr-dispatch makes engines write in the work bucket: one place, read by the engines and by
the routes check that keeps a route's writes away from every route's inputs (no S3 → EMR → S3 loop)."""

from __future__ import annotations

LOG_PREFIXES = {
    "emr-ec2": "emr-logs/",
    "emr-serverless": "emr-serverless-logs/",
    "emr-eks": "emr-eks-logs/",
}
"""Key prefix, in the work bucket, of each engine's logs."""


MANIFEST_PREFIX = "manifests/"
"""Key prefix, in the work bucket, of batch jobs' input manifests."""


def manifest_key(route: str, batch_id: str) -> str:
    return f"{MANIFEST_PREFIX}{route}/{batch_id}.json"


def log_uri(work_bucket: str, engine: str) -> str:
    return f"s3://{work_bucket}/{LOG_PREFIXES[engine]}"
