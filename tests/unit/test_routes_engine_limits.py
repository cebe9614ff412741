"""`routes check` refuses, before any deploy, what an engine's API would refuse at every start: tag keys and
values per engine, tag counts with emr-dispatch's own, arguments that render empty, over-long entry points.
Each problem names the route and the field (limits from botocore's models and AWS's tagging documents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from emr_dispatch.errors import RoutesError
from emr_dispatch.routes import parse_routes
from emr_dispatch_tools.cli import EXIT_INVALID_ROUTES, app

_ENGINES: dict[str, dict[str, Any]] = {
    "emr-ec2": {"emr_ec2": {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}},
    "emr-serverless": {"emr_serverless": {}},
    "emr-eks": {"emr_eks": {"release_label": "emr-7.5.0-latest"}},
}


def _raw(engine: str, **overrides: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": "nightly",
        "match": {"prefix": "raw/"},
        "engine": engine,
        **_ENGINES[engine],
        "job": {"entry_point": "s3://{work_bucket}/jobs/job.py", "arguments": ["--input={input_uri}"]},
        "output": "s3://{work_bucket}/out/{job_id}/",
    }
    job = {**route["job"], **overrides.pop("job", {})}
    route.update(overrides, job=job)
    return {"version": 1, "routes": [route]}


def _problems(raw: dict[str, Any]) -> str:
    with pytest.raises(RoutesError) as refused:
        parse_routes(raw)
    return "\n".join(refused.value.problems)


# ------------------------------------------------------------------ tags per engine
def test_an_ampersand_in_a_tag_value_is_refused_for_emr_serverless_naming_route_and_field() -> None:
    # Given an EMR Serverless route tagged team: R&D (TagValue [A-Za-z0-9 /_.:=+@-]*)
    problems = _problems(_raw("emr-serverless", tags={"team": "R&D"}))
    # Then the routes check names the route, the tag and the rule
    assert "route 'nightly'" in problems
    assert "tags.team" in problems
    assert "R&D" in problems


def test_an_empty_tag_value_is_refused_for_emr_on_eks_only() -> None:
    # Given the same empty tag value on an EMR on EKS route and on an EMR Serverless one
    # Then EMR on EKS (StringEmpty256, .*\S.*) refuses it; EMR Serverless allows an empty value
    assert "tags.owner" in _problems(_raw("emr-eks", tags={"owner": ""}))
    parse_routes(_raw("emr-serverless", tags={"owner": ""}))


@pytest.mark.parametrize("engine", ["emr-ec2", "emr-eks", "emr-serverless"])
def test_tags_count_with_emr_dispatchs_own_four_against_fifty(engine: str) -> None:
    # Given 46 route tags (with emr-dispatch's 4: 50) and 47 (51)
    fits = {f"k{index}": "v" for index in range(46)}
    too_many = {**fits, "one-more": "v"}
    # Then 46 pass and 47 are refused, naming the count
    parse_routes(_raw(engine, tags=fits))
    assert "exceed the 50" in _problems(_raw(engine, tags=too_many))


def test_tag_values_in_other_languages_are_fine_on_emr_on_ec2_but_not_on_emr_serverless() -> None:
    # Given a tag value with letters outside ASCII (EMR allows letters of any language; EMR Serverless does not)
    tags = {"owner": "Zoë Müller"}
    # Then EMR on EC2 accepts it and EMR Serverless refuses it
    parse_routes(_raw("emr-ec2", tags=tags))
    assert "tags.owner" in _problems(_raw("emr-serverless", tags=tags))


def test_the_aws_prefix_is_refused_in_tag_values_too() -> None:
    assert "aws: prefix" in _problems(_raw("emr-ec2", tags={"origin": "aws:import"}))


# ------------------------------------------------------------------ empty rendered arguments
@pytest.mark.parametrize("engine", ["emr-ec2", "emr-serverless", "emr-eks"])
def test_output_uri_without_output_is_refused(engine: str) -> None:
    # Given a route passing {output_uri} as an argument but declaring no output
    raw = _raw(engine, job={"arguments": ["--input={input_uri}", "{output_uri}"]})
    del raw["routes"][0]["output"]
    # Then the check names the argument and why it would be empty
    problems = _problems(raw)
    assert "job.arguments[1]" in problems
    assert "{output_uri}" in problems
    assert "no output" in problems or "without output" in problems


def test_a_blank_literal_argument_is_refused() -> None:
    problems = _problems(_raw("emr-eks", job={"arguments": ["--input={input_uri}", "  "]}))
    assert "job.arguments[1]" in problems


def test_a_marker_route_at_the_bucket_root_cannot_pass_key_alone() -> None:
    # Given a marker route matching the whole bucket: a marker at the root makes {key} (its folder) empty
    raw = _raw("emr-serverless", match={"suffix": "_SUCCESS"}, batching={"mode": "marker"})
    raw["routes"][0]["job"]["arguments"] = ["{key}"]
    # Then it is refused; with a prefix (the folder is never empty) it passes
    assert "job.arguments[0]" in _problems(raw)
    raw["routes"][0]["match"] = {"prefix": "exports/", "suffix": "_SUCCESS"}
    parse_routes(raw)


def test_an_argument_with_output_uri_and_text_is_not_empty_but_the_route_still_needs_output() -> None:
    # Given "--output={output_uri}" without output: not empty ("--output="), so only a real blank is refused
    raw = _raw("emr-serverless", job={"arguments": ["--output={output_uri}"]})
    del raw["routes"][0]["output"]
    parse_routes(raw)


def test_a_blank_spark_submit_parameter_is_refused() -> None:
    problems = _problems(_raw("emr-serverless", job={"spark_submit_parameters": ["--conf", " "]}))
    assert "job.spark_submit_parameters[1]" in problems


# ------------------------------------------------------------------ lengths
def test_an_eks_entry_point_that_can_exceed_256_characters_is_refused() -> None:
    # Given an EMR on EKS entry point of 200 characters around {work_bucket} (a bucket name may have 63)
    entry_point = "s3://{work_bucket}/" + "d" * 200 + ".py"
    problems = _problems(_raw("emr-eks", job={"entry_point": entry_point}))
    # Then the check says EMR on EKS allows 256; EMR Serverless (4096) takes the same entry point
    assert "job.entry_point" in problems
    assert "256" in problems
    parse_routes(_raw("emr-serverless", job={"entry_point": entry_point}))


def test_routes_check_exits_1_naming_the_route_and_field(tmp_path: Path) -> None:
    # Given a routes file whose EMR Serverless route has a tag AWS would refuse
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(_raw("emr-serverless", tags={"team": "R&D"})), encoding="utf-8")
    # When `emr-dispatch routes check` validates it
    result = CliRunner().invoke(app, ["routes", "check", str(path)])
    # Then it exits 1 (invalid routes file) and says which route and field
    assert result.exit_code == EXIT_INVALID_ROUTES
    assert "nightly" in result.output
    assert "tags.team" in result.output
