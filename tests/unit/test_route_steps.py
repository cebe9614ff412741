"""The step models a route's ``steps:`` is made of (route_steps.py): one kind per step, EMR's name limits, and the
placeholder guarantee (input-derived values are data only)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from emr_dispatch.route_parts import SparkJob
from emr_dispatch.route_steps import Step, job_as_steps


def test_a_step_is_exactly_one_kind() -> None:
    # Given a step with both spark and hive, and one with neither
    # When they are validated
    # Then both are refused, naming the step
    with pytest.raises(ValidationError, match="exactly one of spark, hive or command"):
        Step.model_validate(
            {"name": "both", "spark": {"entry_point": "s3://b/a.py"}, "hive": {"script": "s3://b/q.sql"}}
        )
    with pytest.raises(ValidationError, match="step 'none'"):
        Step.model_validate({"name": "none"})


def test_each_kind_reports_its_kind_and_where_input_values_may_go() -> None:
    # Given one step of each kind using input placeholders where data goes
    spark = Step.model_validate(
        {"name": "clean", "spark": {"entry_point": "s3://b/a.py", "arguments": ["--input={input_uri}"]}}
    )
    hive = Step.model_validate(
        {"name": "load", "hive": {"script": "s3://b/q.sql", "variables": {"INPUT": "{input_uri}"}}}
    )
    command = Step.model_validate({"name": "mark", "command": {"command": ["aws", "s3", "cp", "{input_uri}", "-"]}})
    # Then each knows its kind, and the data places are listed in order
    assert [spark.kind, hive.kind, command.kind] == ["spark", "hive", "command"]
    assert hive.data_arguments() == [("hive.variables.INPUT", "{input_uri}")]
    assert command.data_arguments()[2] == ("command.command[3]", "{input_uri}")
    assert hive.leading_arguments() == []
    assert command.leading_arguments() == ["s3", "cp", "{input_uri}", "-"]


@pytest.mark.parametrize(
    ("step", "where"),
    [
        ({"hive": {"script": "s3://b/{key}.sql"}}, "script"),
        ({"hive": {"script": "s3://b/q.sql", "init_script": "s3://b/{key}"}}, "init_script"),
        ({"hive": {"script": "s3://b/q.sql", "hiveconf": {"hive.x": "{input_uri}"}}}, "hiveconf.hive.x"),
        ({"command": {"command": ["{key}", "x"]}}, "command[0]"),
        ({"spark": {"entry_point": "s3://b/a.py", "spark_submit_parameters": ["{key}"]}}, "spark_submit_parameters"),
    ],
)
def test_input_placeholders_are_refused_where_they_would_not_be_data(step: dict[str, object], where: str) -> None:
    # Given a step that puts a key-derived value where it would be a script, program, option or configuration
    # When it is validated
    # Then it is refused, naming the field
    with pytest.raises(ValidationError, match=where.replace(".", r"\.").replace("[", r"\[")):
        Step.model_validate({"name": "s", **step})


def test_names_and_variables_follow_emr_and_hive_rules() -> None:
    # Given a step name longer than EMR's StepConfig.Name (XmlStringMaxLen256), a Hive variable name Hive cannot
    # read, and an action on failure EMR does not have
    # Then each is refused
    with pytest.raises(ValidationError):
        Step.model_validate({"name": "n" * 257, "command": {"command": ["true"]}})
    with pytest.raises(ValidationError):
        Step.model_validate({"name": "s", "hive": {"script": "s3://b/q.sql", "variables": {"A=B": "x"}}})
    with pytest.raises(ValidationError):
        Step.model_validate({"name": "s", "action_on_failure": "terminate_job_flow", "command": {"command": ["true"]}})


def test_the_single_job_form_is_one_spark_step_that_terminates_the_cluster() -> None:
    # Given the single-job form
    job = SparkJob(entry_point="s3://b/a.py", arguments=["{input_uri}"])
    # When it is read as steps
    steps = job_as_steps(job, "emr-dispatch-orders")
    # Then it is one Spark step with the default action
    assert [(s.name, s.kind, s.action_on_failure, s.spark) for s in steps] == [
        ("emr-dispatch-orders", "spark", "terminate_cluster", job)
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["bash", "-c", "aws s3 cp s3://{bucket}/{key} /tmp/in"],
        ["/bin/sh", "-c", "echo {key}"],
        ["python3", "-c", "print('{key}')"],
        ["/usr/bin/python3.11", "s3://{bucket}/{key}"],
        ["spark-submit", "s3://{bucket}/{key}"],
        ["hive", "-e", "SELECT * FROM t WHERE f = '{key}'"],
        ["hive-script", "--run-hive-script", "--args", "-f", "{input_uri}"],
        ["beeline", "-u", "jdbc:hive2://localhost:10000", "-e", "SELECT '{key}'"],
        ["spark-sql", "-f", "{input_uri}"],
        ["sudo", "-u", "hadoop", "bash", "-c", "ls {key}"],
        ["env", "X={key}", "true"],
        ["xargs", "{key}"],
        ["find", "/data", "-name", "{key}"],
        ["SED", "-e", "{key}"],
    ],
)
def test_input_placeholders_are_refused_in_a_command_that_may_run_its_arguments_as_code(command: list[str]) -> None:
    # Given a command step whose program is a shell, an interpreter, a SQL client or a launcher (one that may read
    # an argument as code, a script to run or a program to start) with a key-derived value in its arguments
    # When it is validated
    # Then it is refused, naming the argument and the program (a key is only ever data)
    with pytest.raises(ValidationError, match=r"command\[\d+\]: input placeholders are refused in a command that runs"):
        Step.model_validate({"name": "s", "command": {"command": command}})


@pytest.mark.parametrize(
    "command",
    [
        ["aws", "s3", "cp", "s3://{bucket}/{key}", "hdfs:///in/"],
        ["hadoop", "fs", "-cp", "{input_uri}", "hdfs:///in/"],
        ["s3-dist-cp", "--src", "{input_uri}", "--dest", "hdfs:///in/"],
        ["bash", "-c", "aws s3 cp s3://{work_bucket}/x hdfs:///x"],
        ["flush-tool", "publish", "{key}"],
    ],
)
def test_a_command_that_reads_its_arguments_as_data_keeps_input_placeholders(command: list[str]) -> None:
    # Given a command step whose program takes the key as a word of data (or a shell given no input placeholder)
    # When it is validated
    step = Step.model_validate({"name": "s", "command": {"command": command}})
    # Then it is accepted
    assert step.command is not None
