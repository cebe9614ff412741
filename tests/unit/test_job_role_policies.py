"""docs/SECURITY.md's minimal job-role policies grant exactly the work-bucket prefixes the code and the shipped
routes use: scripts and manifests read, outputs and the engine's own logs written, nothing of another engine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emr_dispatch.engines import LOG_PREFIXES
from emr_dispatch.locations import MANIFEST_PREFIX
from emr_dispatch.routes import load_routes_file

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"```json (job-role-[a-z-]+)\n(.*?)```", re.DOTALL)
ENGINES = {"job-role-emr-serverless": "emr-serverless", "job-role-emr-eks": "emr-eks"}


def _policies() -> dict[str, dict[str, Any]]:
    text = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    return {name: json.loads(body) for name, body in _BLOCK.findall(text)}


def _granted(policy: dict[str, Any], action: str) -> set[str]:
    resources: set[str] = set()
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and action in actions:
            listed = statement["Resource"]
            resources.update(listed if isinstance(listed, list) else [listed])
    return resources


def _work_prefix(template: str) -> str:
    """s3://{work_bucket}/<prefix>... → arn:aws:s3:::WORK/<static prefix>*"""
    key = template.removeprefix("s3://{work_bucket}/").split("{", 1)[0]
    return f"arn:aws:s3:::WORK/{key.rsplit('/', 1)[0]}/*"


def test_security_md_documents_a_policy_for_each_job_role_engine() -> None:
    assert set(_policies()) == set(ENGINES)


@pytest.mark.parametrize(("block", "engine"), sorted(ENGINES.items()))
def test_each_job_role_reads_and_writes_what_its_engine_and_routes_use(block: str, engine: str) -> None:
    # Given the documented policy and the shipped routes of that engine
    policy = _policies()[block]
    routes = [route for route in load_routes_file(ROOT / "config" / "routes.yaml").routes if route.engine == engine]
    assert routes
    reads, writes = _granted(policy, "s3:GetObject"), _granted(policy, "s3:PutObject")
    # Then the role reads every route's script and the batch manifests ...
    for route in routes:
        for script in (script for step in route.run_steps() for script in step.scripts()):
            assert _work_prefix(script) in reads, route.name
        if route.output:
            assert _work_prefix(route.output) in writes, route.name
    assert f"arn:aws:s3:::WORK/{MANIFEST_PREFIX}*" in reads
    # ... writes its own engine's logs where emr-dispatch points the engine, and no other engine's
    assert f"arn:aws:s3:::WORK/{LOG_PREFIXES[engine]}*" in writes
    others = {f"arn:aws:s3:::WORK/{prefix}*" for name, prefix in LOG_PREFIXES.items() if name != engine}
    assert not writes & others
    # ... and nothing is granted on every object or with a wildcard action
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions)
        assert statement["Resource"] != "*"


def test_the_serverless_job_role_reads_and_writes_hives_default_scratch_and_warehouse() -> None:
    # Given the documented EMR Serverless job-role policy and the Hive defaults emr-dispatch passes
    from emr_dispatch.engines.emr_serverless.hive import DEFAULT_HIVECONF

    policy = _policies()["job-role-emr-serverless"]
    # Then the role reads and writes under both (EMR Serverless User Guide: "Read and write to S3 buckets where
    # your Hive Scratch directory and Hive Metastore warehouse directory reside")
    for location in DEFAULT_HIVECONF.values():
        prefix = "arn:aws:s3:::WORK/" + location.removeprefix("s3://{work_bucket}/").split("/", 1)[0] + "/*"
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert prefix in _granted(policy, action), (location, action)
    # And nothing of another engine's Hive prefix (EMR on EKS runs no Hive)
    assert not any("hive" in resource for resource in _granted(_policies()["job-role-emr-eks"], "s3:PutObject"))
