"""Hostile object keys against a route of Spark, Hive and command steps (CWE-88, and Hive's statement text): each
key is refused with a reason, or reaches every step only as data — a Spark argument after the entry point, a
command argument after the program, the value inside one ``NAME=value`` word after ``-d``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import builders
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.inputs import ObjectInput
from emr_dispatch.routes import RoutesFile, parse_routes

LANDING = "landing"
EC2 = {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}
SPARK = {"name": "clean", "spark": {"entry_point": "s3://{work_bucket}/jobs/clean.py", "arguments": ["{key}"]}}
HIVE = {"name": "load", "hive": {"script": "s3://{work_bucket}/hive/load.q", "variables": {"KEY": "{key}"}}}
COMMAND = {"name": "mark", "command": {"command": ["touch", "{key}", "--", "{input_uri}"]}}

HOSTILE = [
    "raw/with space.csv",
    'raw/it\'s "quoted".csv',
    "-rf",
    "--conf=spark.driver.extraJavaOptions=-Dx",
    "raw/a=b.csv",
    "raw/line\nbreak.csv",
    "raw/${env:AWS_SECRET_ACCESS_KEY}.csv",
    "raw/${hivevar:OTHER}.csv",
    "raw/a;DROP TABLE t;.csv",
    "raw/back`tick`.csv",
]


def _routes(*steps: dict[str, Any]) -> RoutesFile:
    route = {"name": "steps", "match": {"bucket": LANDING}, "engine": "emr-ec2", "emr_ec2": EC2, "steps": list(steps)}
    return parse_routes({"version": 1, "routes": [route]})


def _args(routes: RoutesFile, key: str) -> list[list[str]]:
    route = routes.routes[0]
    job = builders.job(route_name=route.name, key=key)
    (only,) = job.inputs
    assert isinstance(only, ObjectInput)
    job.inputs = [replace(only, bucket=LANDING)]
    request = build_run_job_flow_request(job, route, builders.settings())
    return [list(step["HadoopJarStep"]["Args"]) for step in request["Steps"]]


@pytest.mark.parametrize("key", HOSTILE)
def test_a_hostile_key_is_refused_or_stays_data_in_every_step(key: str) -> None:
    # Given a route of a Spark, a Hive and a command step, each taking the key
    routes = _routes(SPARK, HIVE, COMMAND)
    # When the key arrives
    decision = routes.decide(LANDING, key, "work-bucket")
    if decision.route is None:
        # Then it is refused with a reason: a control character, a leading "-" where {key} begins an argument, or
        # text Hive would read in a statement where a Hive variable holds the key
        assert decision.reason
        assert "\n" in key or key.startswith("-") or any(c in key for c in "$'\"`;\\")
        return
    # Or it reaches each step as data, verbatim, where no program reads options
    spark, hive, command = _args(routes, key)
    assert spark[spark.index("s3://work-bucket/jobs/clean.py") + 1] == key
    assert hive[hive.index("-d") + 1] == f"KEY={key}"
    assert command[:2] == ["touch", key]


def test_a_key_with_hive_statement_text_is_data_for_routes_without_a_hive_variable_holding_it() -> None:
    # Given the same key on a route whose Hive step takes no key-derived variable
    routes = _routes(SPARK, {"name": "load", "hive": {"script": "s3://{work_bucket}/hive/load.q"}})
    key = "raw/it's ${env:HOME};.csv"
    # Then it is not refused: Spark receives it as one argument after the entry point
    assert routes.decide(LANDING, key, "work-bucket").route is not None
    assert _args(routes, key)[0][-1] == key


def test_a_command_step_refuses_a_leading_dash_only_where_the_key_begins_an_argument() -> None:
    # Given a key beginning with "-" and a command that takes it after a prefix
    routes = _routes({"name": "mark", "command": {"command": ["touch", "s3://{bucket}/{key}"]}})
    # Then the key is data (the word begins with s3://)
    assert routes.decide(LANDING, "-rf", "work-bucket").route is not None
    assert _args(routes, "-rf")[0] == ["touch", "s3://landing/-rf"]
