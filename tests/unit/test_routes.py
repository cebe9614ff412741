"""Routes: the shipped file validates, bad files fail naming route and field, matching is first-wins."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from emr_dispatch.errors import RoutesError
from emr_dispatch.routes import Match, RoutesFile, load_routes_file, parse_routes

SHIPPED_ROUTES = Path(__file__).resolve().parents[2] / "config" / "routes.yaml"


def _route(name: str = "orders-daily", **overrides: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": name,
        "match": {"prefix": "raw/orders/", "suffix": ".csv"},
        "engine": "emr-ec2",
        "emr_ec2": {
            "release_label": "emr-7.5.0",
            "instances": {"primary": {"instance_type": "m7g.xlarge"}},
        },
        "job": {
            "entry_point": "s3://{work_bucket}/jobs/clean_orders.py",
            "arguments": ["--input={input_uri}", "--job-id={job_id}"],
        },
    }
    route.update(overrides)
    return route


def _doc(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "routes": list(routes)}


def _problems(raw: Any) -> str:
    with pytest.raises(RoutesError) as caught:
        parse_routes(raw, "routes.yaml")
    return str(caught.value)


def test_shipped_routes_file_is_valid() -> None:
    # Given the routes.yaml the template ships in its RoutesLayer
    # When it is loaded
    routes = load_routes_file(SHIPPED_ROUTES)

    # Then it validates, and an orders CSV (the sample events' key) goes to the orders route
    names = [route.name for route in routes.routes]
    assert len(names) == len(set(names))
    matched = routes.match("any-bucket", "raw/orders/2026-11-23/orders 1+2 café.csv")
    assert matched is not None
    assert matched.name == "orders-daily"
    assert routes.match("any-bucket", "raw/orders/2026-11-23/orders.parquet") is None


def test_minimal_route_validates() -> None:
    # Given / When a minimal document / Then it parses (defaults fill the rest)
    routes = parse_routes(_doc(_route()))
    route = routes.routes[0]
    assert route.timeout_minutes == 120
    assert route.emr_ec2 is not None
    assert route.emr_ec2.applications == ["Spark"]


def _with(path: list[str | int], value: Any, name: str = "bad-route") -> dict[str, Any]:
    """A document whose second route (named ``name``) has ``value`` at ``path``."""
    route = _route(name)
    target: Any = route
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return _doc(_route("good-route"), route)


@pytest.mark.parametrize(
    ("raw", "expected_fragments"),
    [
        pytest.param(
            _with(["emr_ec2", "release_label"], "7.5.0"), ["bad-route", "emr_ec2.release_label"], id="release-label"
        ),
        pytest.param(_with(["engine"], "emr-on-mars"), ["bad-route", "engine"], id="unknown-engine"),
        pytest.param(
            _with(["job", "entry_point"], "s3://{work_bucket}/jobs/{key}.py"),
            ["bad-route", "job", "entry_point", "{key}"],
            id="input-placeholder-in-entry-point",
        ),
        pytest.param(
            _with(["job", "spark_submit_parameters"], ["--conf", "spark.app.name={input_uri}"]),
            ["bad-route", "spark_submit_parameters[1]", "{input_uri}"],
            id="input-placeholder-in-spark-submit-parameters",
        ),
        pytest.param(
            _with(["job", "arguments"], ["--input={input_uri}", "--when={today}"]),
            ["bad-route", "arguments[1]", "{today}"],
            id="unknown-placeholder",
        ),
        pytest.param(
            _with(["job", "arguments"], ["--input={input_uri"]),
            ["bad-route", "arguments[0]", "brace"],
            id="unbalanced-brace",
        ),
        pytest.param(
            _with(["output"], "s3://{work_bucket}/out/{key}/"), ["bad-route", "output", "{key}"], id="output-input"
        ),
        pytest.param(
            _with(["tags"], {"managed-by": "me"}), ["bad-route", "tags", "managed-by"], id="reserved-managed-by"
        ),
        pytest.param(_with(["tags"], {"job-id": "x"}), ["bad-route", "tags", "job-id"], id="reserved-job-id"),
        pytest.param(_with(["tags"], {"aws:cost": "x"}), ["bad-route", "tags", "aws:cost"], id="reserved-aws-prefix"),
        pytest.param(_with(["name"], "Orders_Daily"), ["Orders_Daily", "name"], id="bad-name"),
        pytest.param(_with(["emr_ec2"], None), ["bad-route", "emr_ec2"], id="missing-engine-section"),
        pytest.param(
            _with(["emr_ec2", "idle_timeout_seconds"], 30), ["bad-route", "idle_timeout_seconds"], id="idle-timeout"
        ),
        pytest.param(
            _with(["emr_ec2", "instances", "primary", "count"], 3), ["bad-route", "primary.count"], id="two-primaries"
        ),
        pytest.param(_with(["job", "entry_point"], "/local/job.py"), ["bad-route", "entry_point"], id="entry-not-s3"),
        pytest.param(_with(["matchs"], {}), ["bad-route", "matchs"], id="misspelt-field"),
        pytest.param(_with(["timeout_minutes"], 0), ["bad-route", "timeout_minutes"], id="zero-timeout"),
    ],
)
def test_invalid_route_names_the_route_and_the_field(raw: dict[str, Any], expected_fragments: list[str]) -> None:
    # Given a document whose second route has one mistake
    # When it is validated
    message = _problems(raw)

    # Then the error names the file, the route and the field - and not the good route
    assert "routes.yaml" in message
    for fragment in expected_fragments:
        assert fragment in message
    assert "good-route" not in message


def test_duplicate_route_names_are_rejected_by_name() -> None:
    # Given two routes with the same name
    # When / Then the error names the duplicated route
    message = _problems(_doc(_route("orders-daily"), _route("orders-daily")))
    assert "'orders-daily'" in message
    assert "twice" in message


def test_empty_document_is_rejected() -> None:
    # Given / When / Then: a file without routes is an error, not a controller that does nothing
    assert "routes" in _problems({"version": 1, "routes": []})
    assert "routes" in _problems(None)


def test_every_problem_is_reported_at_once() -> None:
    # Given a route with two mistakes
    route = _route("two-mistakes", engine="emr-on-mars")
    route["emr_ec2"]["release_label"] = "latest"

    # When it is validated
    with pytest.raises(RoutesError) as caught:
        parse_routes(_doc(route))

    # Then both are listed
    assert len(caught.value.problems) >= 2


def test_invalid_yaml_is_a_routes_error(tmp_path: Path) -> None:
    # Given a file that is not YAML
    path = tmp_path / "routes.yaml"
    path.write_text("routes: [unclosed\n", encoding="utf-8")

    # When / Then
    with pytest.raises(RoutesError, match="YAML"):
        load_routes_file(path)


def test_route_whose_output_feeds_its_own_match_is_rejected() -> None:
    # Given a route that matches every object under raw/ of the landing bucket and writes its output there
    route = _route("loops-forever")
    route["match"] = {"bucket": "landing", "prefix": "raw/"}
    route["output"] = "s3://landing/raw/cleaned/{job_id}/"

    # When / Then it is rejected at load, naming the route and the output
    message = _problems(_doc(route))
    assert "loops-forever" in message
    assert "output" in message


def test_route_whose_output_feeds_another_route_is_rejected_naming_both() -> None:
    # Given one route writing its output under the prefix another route takes inputs from
    writer = _route("writer")
    writer["output"] = "s3://landing/curated/{job_id}/"
    reader = _route("reader")
    reader["match"] = {"bucket": "landing", "prefix": "curated/"}

    # When / Then the file is rejected, and the message names the writer and the reader
    message = _problems(_doc(writer, reader))
    assert "route 'writer': output s3://landing/curated/{job_id}/ could be matched by route 'reader'" in message


def test_routes_that_write_elsewhere_are_accepted() -> None:
    # Given routes whose inputs, outputs and logs are apart (the shipped layout)
    route = _route("apart")
    route["match"] = {"prefix": "raw/orders/", "suffix": ".csv"}
    route["output"] = "s3://{work_bucket}/output/{route}/{job_id}/"

    # When / Then it validates
    assert parse_routes(_doc(route)).routes[0].name == "apart"


# ---------------------------------------------------------------------------- matching
def _routes(*matches: dict[str, Any]) -> RoutesFile:
    return parse_routes(_doc(*[_route(f"route-{i}", match=m) for i, m in enumerate(matches)]))


@pytest.mark.parametrize(
    ("match", "bucket", "key", "expected"),
    [
        ({"prefix": "raw/orders/"}, "b", "raw/orders/x.csv", True),
        ({"prefix": "raw/orders/"}, "b", "raw/ordersx.csv", False),
        ({"prefix": "raw/orders/"}, "b", "RAW/orders/x.csv", False),
        ({"suffix": ".csv"}, "b", "a/b.csv", True),
        ({"suffix": ".csv"}, "b", "a/b.csv.gz", False),
        ({"glob": "raw/*/orders-*.csv"}, "b", "raw/2026/orders-1.csv", True),
        ({"glob": "raw/*/orders-*.csv"}, "b", "raw/2026/refunds-1.csv", False),
        ({"glob": "raw/*.CSV"}, "b", "raw/x.csv", False),  # case-sensitive, like S3 keys
        ({"bucket": "landing"}, "landing", "anything", True),
        ({"bucket": "landing"}, "elsewhere", "anything", False),
        ({"bucket": "landing", "prefix": "raw/", "suffix": ".csv"}, "landing", "raw/a.json", False),
        ({}, "b", "anything/at/all", True),
    ],
)
def test_match_conditions(match: dict[str, Any], bucket: str, key: str, expected: bool) -> None:
    # Given a route's match / When an object arrives / Then it is taken only if every condition holds
    # (Match alone: a routes file would rightly refuse match-everything routes as S3 → EMR → S3 loops.)
    assert Match(**match).matches(bucket, key) is expected


def test_first_matching_route_wins() -> None:
    # Given a specific route before a catch-all
    routes = _routes({"prefix": "raw/orders/", "suffix": ".csv"}, {"prefix": "raw/"})

    # When objects arrive / Then file order decides
    first = routes.match("b", "raw/orders/a.csv")
    second = routes.match("b", "raw/orders/a.json")
    assert first is not None
    assert first.name == "route-0"
    assert second is not None
    assert second.name == "route-1"
    assert routes.match("b", "landing/a.csv") is None


def test_get_finds_a_route_by_name() -> None:
    # Given / When / Then
    routes = _routes({"prefix": "a/"}, {"prefix": "b/"})
    found = routes.get("route-1")
    assert found is not None
    assert found.match.prefix == "b/"
    assert routes.get("nope") is None


def test_shipped_file_round_trips_through_parse_routes() -> None:
    # Given the shipped file as data (what `emr-dispatch routes check` reads)
    raw = yaml.safe_load(SHIPPED_ROUTES.read_text(encoding="utf-8"))

    # When it is validated twice, once after a deep copy / Then both agree
    assert parse_routes(raw) == parse_routes(copy.deepcopy(raw))


def test_routes_check_warns_of_a_per_object_emr_on_ec2_route_with_no_cap() -> None:
    # Given a per-object EMR on EC2 route without max_concurrent, beside one that has it
    routes = parse_routes(_doc(_route("uncapped"), _route("capped", match={"prefix": "capped/"}, max_concurrent=5)))
    # When it is checked / Then only the uncapped route is warned about, naming the quota it could exhaust
    (warning,) = routes.warnings()
    assert warning.startswith("route 'uncapped': every object starts its own EMR cluster")
    assert "500 active clusters" in warning


def test_the_shipped_routes_cap_every_per_object_cluster_route_and_all_jobs() -> None:
    # Given the shipped routes file / Then it has an overall cap and warns of nothing
    routes = load_routes_file(SHIPPED_ROUTES)
    assert routes.max_concurrent_jobs is not None
    assert routes.warnings() == []
