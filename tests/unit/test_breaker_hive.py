"""Defects the breaker found in Hive on EMR Serverless (issue 17 item 2), each a short failing test marked
xfail(strict=True) until fixed: /work/wt/_prompts/s3/findings-hive.md lists them with severity and a fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from builders import job, settings
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch.errors import EngineError, RoutesError
from emr_dispatch.routes import parse_routes

ROOT = Path(__file__).resolve().parents[2]


def _route(step: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "hv",
        "match": {"bucket": "landing"},
        "engine": "emr-serverless",
        "emr_serverless": {},
        "steps": [step],
        **extra,
    }


def test_a_route_every_start_of_which_is_refused_is_refused_at_load() -> None:
    # Given a Hive step whose variable carries {output_uri}, the route's output holding a space
    raw = _route(
        {"name": "q", "hive": {"script": "s3://{work_bucket}/q.sql", "variables": {"OUT": "{output_uri}"}}},
        output="s3://{work_bucket}/out dir/{route}/",
    )
    # When the routes file is loaded
    try:
        routes = parse_routes({"version": 1, "routes": [raw]})
    except RoutesError:
        return  # refused at load, naming the field: fine
    # Then (it was accepted) at least a start must pass; instead every start is refused
    engine = EmrServerlessEngine(settings(), active_jobs=None)  # type: ignore[arg-type]  # no start: no slots read
    try:
        engine.build_start_job_run_request(job(route_name="hv", engine="emr-serverless"), routes.routes[0])
    except EngineError as exc:
        pytest.fail(f"routes check accepted a route whose every start is refused: {exc}")


def test_the_shipped_hive_example_never_moves_or_deletes_the_landed_input() -> None:
    # Given the refunds-hive route's scripts (config/routes.yaml)
    script = (ROOT / "jobs" / "load_refunds.q").read_text()
    # Then no statement moves the input: Hive's LOAD DATA INPATH (not LOCAL) MOVES the file into the table's
    # location (deleting it from the landing bucket, which the documented job role may not even do)
    assert not re.search(r"LOAD\s+DATA\s+INPATH\s+'\$\{INPUT\}'", script, re.IGNORECASE)


def test_the_shipped_hive_example_reads_only_its_own_jobs_data() -> None:
    # Given the init script: a table created IF NOT EXISTS at the job's own output folder
    init = (ROOT / "jobs" / "create_refunds.q").read_text()
    # Then the table is not both persistent-once (IF NOT EXISTS) and placed at a per-job location: with a metastore
    # that outlives the job (the Glue Data Catalog), job 2 loads into and reads job 1's folder — every later job's
    # output holds all earlier jobs' rows stamped with its own job id
    assert not ("IF NOT EXISTS" in init.upper() and "${OUTPUT}" in init)


def test_hive_scratch_and_warehouse_overridden_into_a_matched_prefix_is_refused_as_a_loop() -> None:
    # Given a Hive route matching landing/raw/ whose hiveconf moves Hive's scratch and warehouse directories under it
    hiveconf = {
        "hive.exec.scratchdir": "s3://landing/raw/scratch/",
        "hive.metastore.warehouse.dir": "s3://landing/raw/wh/",
    }
    step = {"name": "q", "hive": {"script": "s3://{work_bucket}/q.sql", "hiveconf": hiveconf}}
    raw = {**_route(step), "match": {"bucket": "landing", "prefix": "raw/"}}
    # When the routes file is loaded
    try:
        routes = parse_routes({"version": 1, "routes": [raw]})
    except RoutesError:
        return  # refused as an S3 → EMR → S3 loop, as an `output:` under raw/ is: fine
    # Then (accepted) at least Hive's own scratch files are not inputs; instead each starts another job
    decision = routes.decide("landing", "raw/scratch/hive_2026-12-01/-ext-10000/000000_0", "work-bucket")
    assert decision.route is None


def test_a_key_that_no_hive_variable_carries_is_not_refused() -> None:
    # Given a Hive step whose only input-derived variable is the bucket (bucket names are one word by S3's rules)
    step = {"name": "q", "hive": {"script": "s3://{work_bucket}/q.sql", "variables": {"SRC": "{bucket}"}}}
    routes = parse_routes({"version": 1, "routes": [_route(step)]})
    # When a key with a space arrives (common in landing buckets)
    decision = routes.decide("landing", "raw/a b.csv", "work-bucket")
    # Then it is taken: the key never reaches the parameters string
    assert decision.route is not None, decision.reason
