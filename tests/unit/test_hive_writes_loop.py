"""A Hive step's hiveconf directories are among the route's writes on every engine (findings-steps.md S6,
findings-hive.md H4): a warehouse or scratch directory under a prefix a route matches is an S3 → EMR → S3 loop."""

from __future__ import annotations

import pytest

from emr_dispatch.errors import RoutesError
from emr_dispatch.routes import parse_routes

LANDING = "landing"
EC2 = {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}


def test_a_hive_step_writing_its_warehouse_under_a_matched_prefix_is_refused_as_a_loop() -> None:
    # Given a route matching landing/raw/ whose Hive step puts Hive's warehouse and scratch directories under it
    hiveconf = {"hive.metastore.warehouse.dir": "s3://landing/raw/wh/", "hive.exec.scratchdir": "s3://landing/raw/tmp/"}
    step = {"name": "load", "hive": {"script": "s3://{work_bucket}/q.sql", "hiveconf": hiveconf}}
    raw = {"name": "steps", "match": {"bucket": LANDING, "prefix": "raw/"}, "engine": "emr-ec2", "emr_ec2": EC2}
    # When the routes file is loaded
    try:
        routes = parse_routes({"version": 1, "routes": [{**raw, "steps": [step]}]})
    except RoutesError:
        return  # refused as an S3 → EMR → S3 loop, as an `output:` under raw/ is: fine
    # Then (accepted) Hive's own files are at least not inputs; instead each one starts another cluster
    assert routes.decide(LANDING, "raw/wh/orders/job_id=x/000000_0", "work-bucket").route is None


def _hive_route(hiveconf: dict[str, str], engine: str = "emr-ec2", **extra: object) -> dict[str, object]:
    section = {"emr_ec2": EC2} if engine == "emr-ec2" else {"emr_serverless": {}}
    step = {"name": "q", "hive": {"script": "s3://{work_bucket}/q.sql", "hiveconf": hiveconf}}
    return {
        "name": "hv",
        "match": {"bucket": LANDING, "prefix": "raw/"},
        "engine": engine,
        **section,
        "steps": [step],
        **extra,
    }


@pytest.mark.parametrize("engine", ["emr-ec2", "emr-serverless"])
@pytest.mark.parametrize(
    ("name", "location"),
    [
        ("hive.exec.scratchdir", "s3://landing/raw/tmp/"),
        ("hive.metastore.warehouse.dir", "s3a://landing/raw/wh/"),
        ("hive.metastore.warehouse.external.dir", "s3n://landing/"),
        ("hive.querylog.location", "S3://landing/raw/log/"),
    ],
)
def test_a_location_valued_hiveconf_under_a_matched_prefix_is_refused_naming_it(
    engine: str, name: str, location: str
) -> None:
    # Given a Hive step whose hiveconf puts a directory Hive writes under the route's own match
    raw = _hive_route({name: location}, engine)
    # When the routes file is loaded
    with pytest.raises(RoutesError) as refused:
        parse_routes({"version": 1, "routes": [raw]})
    # Then it is refused as a loop, naming the property
    assert name in str(refused.value)
    assert "loop" in str(refused.value)


def test_a_hiveconf_directory_under_the_output_is_refused_when_the_output_is_matched() -> None:
    # Given a scratch directory under {output_uri}, the route's output in the landing bucket of another route
    reader = {
        "name": "rd",
        "match": {"bucket": "out"},
        "engine": "emr-ec2",
        "emr_ec2": EC2,
        "job": {"entry_point": "s3://{work_bucket}/a.py"},
    }
    writer = _hive_route({"hive.exec.scratchdir": "{output_uri}scratch/"}, output="s3://out/{route}/")
    # When loaded, Then the scratch directory is a write the other route could take
    with pytest.raises(RoutesError, match=r"hive\.exec\.scratchdir"):
        parse_routes({"version": 1, "routes": [writer, reader]})


def test_hive_directories_outside_every_match_are_writes_never_inputs_at_run_time() -> None:
    # Given a route writing its warehouse to another bucket and its scratch directory to HDFS (no S3 loop)
    hiveconf = {
        "hive.metastore.warehouse.dir": "s3://lake/{route}/wh/",
        "hive.exec.scratchdir": "hdfs:///tmp/hive/",
        "hive.exec.dynamic.partition.mode": "nonstrict",
    }
    routes = parse_routes({"version": 1, "routes": [_hive_route(hiveconf)]})
    # When an object lands in the warehouse, Then it is emr-dispatch's own write, named as such
    decision = routes.decide("lake", "hv/wh/t/000000_0", "work-bucket")
    assert decision.route is None
    assert "hive.metastore.warehouse.dir" in (decision.reason or "")
    # And the route still takes its own inputs
    assert routes.decide(LANDING, "raw/a.csv", "work-bucket").route is not None
