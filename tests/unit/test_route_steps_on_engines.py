"""A route's ``steps:`` against its engine: exactly one of job and steps, only the kinds and counts the engine
declares, EMR's rules on actions on failure, and the placeholder guarantee over every step (routes check), then
the RunJobFlow Steps EMR on EC2 builds from them (StepConfig per step, command-runner.jar, in order)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from builders import job, route, settings
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.errors import EngineError, RoutesError

SPARK = {"name": "clean", "spark": {"entry_point": "s3://{work_bucket}/jobs/clean.py", "arguments": ["{input_uri}"]}}
HIVE = {
    "name": "load",
    "hive": {
        "script": "s3://{work_bucket}/hive/load.q",
        "init_script": "s3://{work_bucket}/hive/init.q",
        "variables": {"INPUT": "{input_uri}", "RUN": "{job_id}"},
        "hiveconf": {"hive.exec.dynamic.partition": "true"},
    },
}
COMMAND = {"name": "publish", "command": {"command": ["aws", "s3", "cp", "{input_uri}", "{output_uri}_DONE"]}}
OUTPUT = "s3://{work_bucket}/out/{job_id}/"


def _refused(**overrides: Any) -> str:
    with pytest.raises(RoutesError) as refused:
        route(**overrides)
    return "\n".join(refused.value.problems)


# ------------------------------------------------------------------ routes check
def test_a_route_gives_exactly_one_of_job_and_steps_naming_route_and_fields() -> None:
    # Given a route with both job and steps, and one with neither
    both = _refused(steps=[SPARK])
    neither = _refused(job=None)
    # Then each is refused, naming the route and both fields
    for problems in (both, neither):
        assert "route 'orders'" in problems
        assert "job, steps: give exactly one" in problems


@pytest.mark.parametrize(
    ("engine", "steps", "expected"),
    [
        ("emr-eks", [HIVE], "steps[0].hive: emr-eks runs spark steps only"),
        ("emr-eks", [COMMAND], "steps[0].command: emr-eks runs spark steps only"),
        ("emr-serverless", [COMMAND], "steps[0].command: emr-serverless runs"),
        ("emr-serverless", [SPARK, {**SPARK, "name": "again"}], "steps: emr-serverless runs at most 1 step per job"),
        ("emr-eks", [{**SPARK, "action_on_failure": "continue"}], "steps[0].action_on_failure: emr-eks has no"),
    ],
)
def test_steps_an_engine_cannot_run_are_refused_naming_route_and_field(
    engine: str, steps: list[dict[str, Any]], expected: str
) -> None:
    # Given a route asking its engine for a kind, a count or an action it does not declare
    problems = _refused(engine=engine, job=None, steps=steps, output=OUTPUT)
    # Then routes check names the route and the step's field
    assert "route 'orders'" in problems
    assert expected in problems


def test_emr_on_ec2_runs_all_three_kinds_up_to_emrs_256_steps() -> None:
    # Given Spark, Hive and command steps on EMR on EC2
    ordered = route(job=None, steps=[SPARK, HIVE, COMMAND], output=OUTPUT)
    assert [step.kind for step in ordered.run_steps()] == ["spark", "hive", "command"]
    # And 257 steps ("up to 256 PENDING and RUNNING steps in a cluster", EMR Management Guide)
    many = [{"name": f"s{index}", "command": {"command": ["true"]}} for index in range(257)]
    assert "steps" in _refused(job=None, steps=many)


def test_step_names_are_unique_and_fit_emrs_step_name_with_the_prefix() -> None:
    # Given two steps with one name, and a name that EMR's 256 characters cannot hold after "emr-dispatch-"
    assert "step names must be unique" in _refused(job=None, steps=[SPARK, SPARK])
    assert "steps[0].name" in _refused(job=None, steps=[{**COMMAND, "name": "n" * 250}])


def test_step_concurrency_above_one_allows_only_continue() -> None:
    # Given a cluster running two steps at once (EMR refuses TERMINATE_CLUSTER and CANCEL_AND_WAIT then)
    ec2 = {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}
    concurrent = {**ec2, "step_concurrency": 2}
    # Then a step that would terminate the cluster is refused, one that continues is not
    problems = _refused(
        job=None, steps=[SPARK, {**COMMAND, "action_on_failure": "cancel_and_wait"}], emr_ec2=concurrent
    )
    assert "steps[0].action_on_failure: terminate_cluster is refused" in problems
    assert "steps[1].action_on_failure: cancel_and_wait" in problems
    route(job=None, steps=[{**SPARK, "action_on_failure": "continue"}], emr_ec2=concurrent)


def test_every_steps_data_places_follow_the_placeholder_rules() -> None:
    # Given a batch route whose Hive variable uses {key} (a batch has many keys)
    problems = _refused(job=None, steps=[HIVE], batching={"mode": "batch"})
    assert "inputs_manifest_uri" in problems
    # And a command argument that is {output_uri} alone on a route without output
    problems = _refused(job=None, steps=[{**COMMAND, "command": {"command": ["touch", "{output_uri}"]}}])
    assert "steps[0].command.command[1]" in problems


def test_a_command_argument_beginning_with_the_key_refuses_keys_that_begin_with_a_dash() -> None:
    # Given a command step whose argument begins with {key}
    checked = route(job=None, steps=[{"name": "mark", "command": {"command": ["touch", "{key}"]}}])
    # Then a key beginning with "-" is refused (it would be read as an option), others are data
    assert checked.refuses_key("-rf") is not None
    assert checked.refuses_key("raw/-rf") is None
    # And a Hive variable holding the key never begins a word: no refusal for "-" there
    assert route(job=None, steps=[HIVE]).refuses_key("--hiveconf") is None


def test_the_single_job_form_is_one_spark_step_with_todays_emr_step_name() -> None:
    # Given the single-job form
    single = route()
    # When its RunJobFlow request is built
    steps = build_run_job_flow_request(job(), single, settings())["Steps"]
    # Then it is one Spark step named emr-dispatch-<route> that terminates the cluster if it fails
    assert [(step["Name"], step["ActionOnFailure"]) for step in steps] == [("emr-dispatch-orders", "TERMINATE_CLUSTER")]
    assert [step.name for step in single.run_steps()] == ["orders"]


# ------------------------------------------------------------------ RunJobFlow Steps
def test_run_job_flow_gets_one_step_config_per_step_in_order() -> None:
    # Given Spark, then Hive, then a command, the last one continuing on failure
    ordered = route(job=None, steps=[SPARK, HIVE, {**COMMAND, "action_on_failure": "continue"}], output=OUTPUT)
    # When the request is built for an object
    request = build_run_job_flow_request(job(key="raw/a b.csv"), ordered, settings())
    steps = request["Steps"]
    # Then each is a command-runner.jar step named with emr-dispatch's prefix, with its own action on failure
    assert [(s["Name"], s["ActionOnFailure"], s["HadoopJarStep"]["Jar"]) for s in steps] == [
        ("emr-dispatch-clean", "TERMINATE_CLUSTER", "command-runner.jar"),
        ("emr-dispatch-load", "TERMINATE_CLUSTER", "command-runner.jar"),
        ("emr-dispatch-publish", "CONTINUE", "command-runner.jar"),
    ]
    # And Spark is spark-submit with the input after the entry point
    assert steps[0]["HadoopJarStep"]["Args"] == [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "s3://work-bucket/jobs/clean.py",
        "s3://landing/raw/a b.csv",
    ]
    # And Hive is hive-script --run-hive-script --args -f <script> -i <init> -d NAME=value --hiveconf k=v
    assert steps[1]["HadoopJarStep"]["Args"] == [
        "hive-script",
        "--run-hive-script",
        "--args",
        "-f",
        "s3://work-bucket/hive/load.q",
        "-i",
        "s3://work-bucket/hive/init.q",
        "-d",
        "INPUT=s3://landing/raw/a b.csv",
        "-d",
        "RUN=orders-0123456789abcdef",
        "--hiveconf",
        "hive.exec.dynamic.partition=true",
    ]
    # And the command is the program and its arguments as given
    assert steps[2]["HadoopJarStep"]["Args"] == [
        "aws",
        "s3",
        "cp",
        "s3://landing/raw/a b.csv",
        "s3://work-bucket/out/orders-0123456789abcdef/_DONE",
    ]
    # And the cluster still ends when its steps end
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False


def test_a_step_longer_than_emrs_hadoop_jar_step_total_is_refused_before_any_call() -> None:
    # Given a command whose own text already passes the 10,240 characters EMR allows in one HadoopJarStep
    # ("The string values passed into HadoopJarStep object cannot exceed a total of 10240 characters")
    problems = _refused(job=None, steps=[{"name": "big", "command": {"command": ["echo", "x" * 10240]}}])
    # Then routes check refuses it, naming the step
    assert "steps[0].command: its arguments render at least 10244 characters" in problems
    # And one that only a long key takes past it is refused when its request is built, naming the step
    near = route(job=None, steps=[{"name": "big", "command": {"command": ["echo", "x" * 10000, "{key}"]}}])
    with pytest.raises(EngineError, match="step 'big'"):
        build_run_job_flow_request(job(key="raw/" + "k" * 600), near, settings())


def test_a_route_too_big_for_a_job_item_is_refused_naming_its_size_and_the_budget() -> None:
    # Given steps each within EMR's 10,240 characters per HadoopJarStep, 35 of them a snapshot of about 315 KB:
    # every job item carries the snapshot, and DynamoDB's item holds 400 KB (DynamoDB Developer Guide, quotas)
    def steps(count: int) -> list[dict[str, Any]]:
        return [
            {"name": f"s{i}", "command": {"command": ["echo", "x" * 9000]}, "action_on_failure": "continue"}
            for i in range(count)
        ]

    # When the routes file is loaded
    problems = _refused(job=None, steps=steps(35))
    # Then it is refused, naming the route's size and the budget, before any arrival fails at the ledger write
    assert re.search(r"the route is 3[01]\d KB as each job item carries it", problems)
    assert "together at most 300 KB (DynamoDB's item holds 400 KB" in problems
    # And a route of 30 such steps (about 270 KB) still loads
    assert route(job=None, steps=steps(30)).steps is not None
