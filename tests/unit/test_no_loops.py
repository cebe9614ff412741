"""No S3 → EMR → S3 loop: a looping routes file fails `emr-dispatch routes check` naming both routes, and at
run time an object under anything emr-dispatch writes (outputs, engine logs, manifests) is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emr_dispatch.engines import LOG_PREFIXES
from emr_dispatch.locations import MANIFEST_PREFIX
from emr_dispatch.placeholders import render_prefix
from emr_dispatch.routes import RoutesFile, parse_routes
from emr_dispatch_tools.cli import app

WORK = "work-bucket"

LOOPING_FILE = """\
version: 1
routes:
  - name: clean-orders
    match: {bucket: landing, prefix: raw/orders/}
    engine: emr-serverless
    emr_serverless: {}
    job: {entry_point: "s3://{work_bucket}/jobs/clean.py", arguments: ["--input={input_uri}"]}
    output: s3://landing/curated/orders/{job_id}/
  - name: publish-curated
    match: {bucket: landing, prefix: curated/}
    engine: emr-serverless
    emr_serverless: {}
    job: {entry_point: "s3://{work_bucket}/jobs/publish.py", arguments: ["--input={input_uri}"]}
    output: s3://{work_bucket}/published/{job_id}/
"""


def test_routes_check_fails_on_a_looping_file_naming_both_routes(tmp_path: Path) -> None:
    # Given a file where one route's output lands under another route's match
    looping = tmp_path / "routes.yaml"
    looping.write_text(LOOPING_FILE, encoding="utf-8")

    # When it is checked with the CLI
    result = CliRunner().invoke(app, ["routes", "check", str(looping)])

    # Then it fails, naming the writer, what it writes, and the route that would read it
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "route 'clean-orders': output s3://landing/curated/orders/{job_id}/" in message
    assert "could be matched by route 'publish-curated'" in message
    assert "loop" in message


def _routes(**first: Any) -> RoutesFile:
    route: dict[str, Any] = {
        "name": "orders",
        "match": {"bucket": "landing", "prefix": "raw/"},
        "engine": "emr-serverless",
        "emr_serverless": {},
        "job": {"entry_point": "s3://{work_bucket}/jobs/clean.py", "arguments": ["--input={input_uri}"]},
        "output": "s3://{work_bucket}/output/{route}/{job_id}/",
    }
    route.update(first)
    # A second route reads the work bucket's imports/ (legitimately: nothing is written there)
    reader = {
        **route,
        "name": "imports",
        "match": {"bucket": WORK, "prefix": "imports/"},
        "output": "s3://curated-bucket/{route}/{job_id}/",
    }
    return parse_routes({"version": 1, "routes": [route, reader]})


@pytest.mark.parametrize(
    ("bucket", "key", "what"),
    [
        (WORK, "output/orders/orders-0123/part-0000.parquet", "the output of route 'orders'"),
        ("curated-bucket", "imports/imports-0123/part-0000.parquet", "the output of route 'imports'"),
        (WORK, f"{LOG_PREFIXES['emr-ec2']}j-ABC/steps/s-1/stderr.gz", "emr-ec2 logs"),
        (WORK, f"{LOG_PREFIXES['emr-serverless']}applications/a/jobs/j/SPARK_DRIVER/stdout.gz", "emr-serverless logs"),
        (WORK, f"{LOG_PREFIXES['emr-eks']}vc/jobs/j/stdout.gz", "emr-eks logs"),
        (WORK, f"{MANIFEST_PREFIX}orders/batch-1.json", "input manifests"),
        (WORK, "emr-serverless-hive/warehouse/refunds/000000_0", "emr-serverless Hive scratch and warehouse"),
    ],
)
def test_objects_emr_dispatch_wrote_are_skipped_with_the_reason(bucket: str, key: str, what: str) -> None:
    # Given routes whose outputs, logs and manifests land in known places
    routes = _routes()

    # When an object under one of them arrives
    decision = routes.decide(bucket, key, WORK)

    # Then no route takes it, and the reason says which of emr-dispatch's writes it is
    assert decision.route is None
    assert what in decision.reason
    assert "never inputs" in decision.reason


def test_inputs_beside_the_written_places_are_still_taken() -> None:
    # Given the same routes
    routes = _routes()

    # When objects arrive where no job writes (the landing bucket, the work bucket's imports/)
    landing = routes.decide("landing", "raw/orders.csv", WORK)
    imports = routes.decide(WORK, "imports/feed.csv", WORK)
    # ... and outside every route's match
    nowhere = routes.decide("landing", "elsewhere/orders.csv", WORK)

    # Then the routes take them, or say no route matches
    assert landing.route is not None
    assert landing.route.name == "orders"
    assert imports.route is not None
    assert imports.route.name == "imports"
    assert (nowhere.route, nowhere.reason) == (None, "no route matches")


def test_known_prefix_stops_at_the_first_value_a_job_supplies() -> None:
    # Given an output template with static and per-job placeholders (and an escaped brace)
    template = "s3://{work_bucket}/out/{{raw}}/{route}/{job_id}/{attempt}/"
    # When rendered with what is known before any job runs
    # Then it stops before {job_id}
    assert render_prefix(template, {"work_bucket": WORK, "route": "orders"}) == f"s3://{WORK}/out/{{raw}}/orders/"
