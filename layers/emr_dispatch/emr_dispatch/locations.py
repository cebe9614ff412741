"""Where emr-dispatch writes in the work bucket besides the engines' logs (each engine declares its own log
prefix: engines/<engine>/__init__.py): read by the launcher and by the routes check that keeps a route's writes
away from every route's inputs (no S3 → EMR → S3 loop)."""

from __future__ import annotations

MANIFEST_PREFIX = "manifests/"
"""Key prefix, in the work bucket, of batch jobs' input manifests."""


def manifest_key(route: str, batch_id: str) -> str:
    return f"{MANIFEST_PREFIX}{route}/{batch_id}.json"
