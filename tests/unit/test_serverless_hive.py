"""Hive on EMR Serverless: the jobDriver.hive of a Hive step, its one-string parameters and hostile keys.

Written from the botocore emr-serverless model (shape Hive: query ≤ 10280, initQueryFile ≤ 256, parameters
≤ 102400, pattern .*\\S.*) and the EMR Serverless User Guide ("Using Hive configurations": properties passed
as ``--hiveconf property=value``, variables as ``--hivevar key=value``; hive.exec.scratchdir and
hive.metastore.warehouse.dir in every example)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from botocore.model import StructureShape
from botocore.session import get_session

from builders import job, route, settings
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine, hive
from emr_dispatch.engines.emr_serverless.route_settings import EmrServerlessSettings
from emr_dispatch.errors import EngineError, RoutesError
from emr_dispatch.route_steps import HiveStep
from emr_dispatch.routes import Route, parse_routes

_VALUES = {
    "work_bucket": "work-bucket",
    "route": "orders",
    "job_id": "orders-0123456789abcdef",
    "attempt": "1",
    "output_uri": "",
    "inputs_manifest_uri": "",
    "bucket": "landing",
    "key": "raw/2026/orders.csv",
    "input_uri": "s3://landing/raw/2026/orders.csv",
}


def _step(**overrides: Any) -> HiveStep:
    raw: dict[str, Any] = {"script": "s3://{work_bucket}/hive/orders.q", "variables": {"INPUT": "{input_uri}"}}
    raw.update(overrides)
    return HiveStep.model_validate(raw)


def _words(parameters: str) -> list[str]:
    """The parameters string as a whitespace splitter reads it (the least a service can do with it)."""
    return parameters.split()


def test_hive_limits_are_the_ones_in_botocores_emr_serverless_model() -> None:
    # Given the Hive shape of the emr-serverless service model botocore ships
    shape = get_session().get_service_model("emr-serverless").shape_for("Hive")
    assert isinstance(shape, StructureShape)
    members = shape.members
    # Then emr-dispatch checks exactly its maximum lengths, and query is the one required member
    assert members["query"].metadata["max"] == hive.QUERY_MAX
    assert members["initQueryFile"].metadata["max"] == hive.INIT_QUERY_FILE_MAX
    assert members["parameters"].metadata["max"] == hive.PARAMETERS_MAX
    assert shape.required_members == ["query"]


def test_parameters_pass_defaults_hiveconf_and_variables_as_documented_flags() -> None:
    # Given a Hive step with a hiveconf property and two variables, one carrying the input
    step = _step(
        hiveconf={"hive.exec.dynamic.partition.mode": "nonstrict"},
        variables={"INPUT": "{input_uri}", "RUN": "{job_id}"},
    )
    # When its parameters are rendered
    words = _words(hive.hive_parameters(step, _VALUES))
    # Then every property is a --hiveconf name=value pair and every variable a --hivevar name=value pair
    pairs = list(zip(words[::2], words[1::2], strict=True))
    assert ("--hiveconf", "hive.exec.scratchdir=s3://work-bucket/emr-serverless-hive/scratch/") in pairs
    assert ("--hiveconf", "hive.metastore.warehouse.dir=s3://work-bucket/emr-serverless-hive/warehouse/") in pairs
    assert ("--hiveconf", "hive.exec.dynamic.partition.mode=nonstrict") in pairs
    assert ("--hivevar", "INPUT=s3://landing/raw/2026/orders.csv") in pairs
    assert ("--hivevar", "RUN=orders-0123456789abcdef") in pairs
    assert {flag for flag, _ in pairs} == {"--hiveconf", "--hivevar"}


def test_a_routes_hiveconf_overrides_the_default_scratch_and_warehouse_once() -> None:
    # Given a route that sets its own warehouse
    step = _step(hiveconf={"hive.metastore.warehouse.dir": "s3://lake/warehouse/"})
    # When rendered
    words = _words(hive.hive_parameters(step, _VALUES))
    # Then the route's value is passed, once, and the default scratch directory stays
    assert [w for w in words if w.startswith("hive.metastore.warehouse.dir=")] == [
        "hive.metastore.warehouse.dir=s3://lake/warehouse/"
    ]
    assert "hive.exec.scratchdir=s3://work-bucket/emr-serverless-hive/scratch/" in words


@pytest.mark.parametrize(
    "key",
    [
        "raw/a b.csv",  # a space would end the word
        "raw/x --hiveconf hive.exec.scratchdir=s3://evil/ y.csv",  # a second flag
        "raw/x\t--hivevar\tA=b.csv",  # tabs
        "raw/it's.csv",  # a quote would open a quoted word
        'raw/"q".csv',
        "raw/back\\slash.csv",
        "raw/${hiveconf:javax.jdo.option.ConnectionPassword}.csv",  # Hive substitution
        "raw/a;drop table t.csv",
        "raw/$(reboot).csv",
        "raw/a\u00a0b.csv",  # a non-breaking space: whitespace to some splitters
        "raw/a\u2028b.csv",
    ],
)
def test_a_hostile_key_a_variable_would_carry_is_refused_per_object(key: str) -> None:
    # Given a Hive step whose variable carries the input's URI
    step = _step()
    # When an object with this key arrives
    reason = hive.key_refusal(step, key)
    # Then it is refused with a reason naming the character and the variable
    assert reason is not None
    assert "hive variable INPUT" in reason
    # And had it reached a start, the request would be refused too, never sent with the key split in two
    values = {**_VALUES, "key": key, "input_uri": f"s3://landing/{key}"}
    with pytest.raises(EngineError) as raised:
        hive.hive_parameters(step, values)
    assert raised.value.code == "InvalidRequest"
    assert "variables.INPUT" in str(raised.value)


@pytest.mark.parametrize(
    "key",
    [
        "raw/2026-12-01/orders.csv",
        "raw/dt=2026-12-01/part-0001.snappy.parquet",
        "raw/été/日本語.csv",
        "raw/a+b%20c@d,e~f.csv",
    ],
)
def test_keys_made_of_word_characters_pass_as_one_word(key: str) -> None:
    # Given a key of letters (any script), digits and the punctuation S3 keys usually have
    step = _step()
    assert hive.key_refusal(step, key) is None
    # When rendered
    values = {**_VALUES, "key": key, "input_uri": f"s3://landing/{key}"}
    words = _words(hive.hive_parameters(step, values))
    # Then the variable is exactly one word holding the whole URI
    assert words[words.index("--hivevar") + 1] == f"INPUT=s3://landing/{key}"


def test_a_step_whose_variables_carry_no_input_refuses_no_key() -> None:
    # Given variables made of emr-dispatch's own values only
    step = _step(variables={"RUN": "{job_id}"})
    # Then even an odd key is not this step's concern
    assert hive.key_refusal(step, "raw/a b.csv") is None


def test_route_problems_name_the_field_whose_own_text_would_split() -> None:
    # Given a route whose hiveconf value and variable prefix hold spaces
    step = _step(hiveconf={"mapreduce.job.name": "nightly orders"}, variables={"NOTE": "from {key}"})
    # When the routes file is checked
    problems = hive.route_problems(step, "steps[0].hive")
    # Then each is named with its field
    assert any(p.startswith("steps[0].hive.hiveconf.mapreduce.job.name:") for p in problems)
    assert any(p.startswith("steps[0].hive.variables.NOTE:") for p in problems)
    assert hive.route_problems(_step(), "steps[0].hive") == []


def test_the_driver_renders_query_init_file_and_parameters() -> None:
    # Given a Hive step with an init script, for a job whose input is raw/2026/orders.csv
    step = _step(init_script="s3://{work_bucket}/hive/init.q")
    # When the driver of the job is built
    driver = hive.hive_driver(job(engine="emr-serverless", key="raw/2026/orders.csv"), _route(), step, "work-bucket")
    # Then query and initQueryFile are the rendered scripts and the parameters carry the input
    assert driver["query"] == "s3://work-bucket/hive/orders.q"
    assert driver["initQueryFile"] == "s3://work-bucket/hive/init.q"
    assert "--hivevar INPUT=s3://landing/raw/2026/orders.csv" in driver["parameters"]
    for value in driver.values():
        assert re.fullmatch(r".*\S.*", value)  # the model's pattern for all three


def test_the_driver_refuses_what_exceeds_the_models_lengths() -> None:
    # Given an init script whose rendered location is longer than initQueryFile allows (256)
    step = _step(init_script="s3://{work_bucket}/" + "i" * 260 + ".q")
    # Then no request is built: the job fails as an invalid request, not at AWS
    with pytest.raises(EngineError) as raised:
        hive.hive_driver(job(engine="emr-serverless", key="raw/a.csv"), _route(), step, "work-bucket")
    assert raised.value.code == "InvalidRequest"
    assert "initQueryFile" in str(raised.value)


def _route(**hive_overrides: Any) -> Route:
    """An emr-serverless route whose one step is a Hive step."""
    raw = {"script": "s3://{work_bucket}/hive/orders.q", "variables": {"INPUT": "{input_uri}"}, **hive_overrides}
    return route("emr-serverless", job=None, steps=[{"name": "load", "hive": raw}])


class _NoActiveJobs:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def _engine(**overrides: Any) -> EmrServerlessEngine:
    return EmrServerlessEngine(settings(**overrides), _NoActiveJobs())


# ------------------------------------------------------------------ the route and its request
def test_a_hive_route_starts_on_the_stacks_hive_application_with_a_hive_driver() -> None:
    # Given an emr-serverless route whose step is a Hive step, and a stack with a Spark and a Hive application
    hive_route = _route(init_script="s3://{work_bucket}/hive/init.q")
    # When the StartJobRun request of a job is built
    request = _engine().build_start_job_run_request(job(engine="emr-serverless", key="raw/o.csv"), hive_route)
    # Then it goes to the HIVE application with a hive driver (and no sparkSubmit), logs as for Spark
    assert request["applicationId"] == "00fhive456serverless"
    assert set(request["jobDriver"]) == {"hive"}
    assert request["jobDriver"]["hive"]["query"] == "s3://work-bucket/hive/orders.q"
    assert request["jobDriver"]["hive"]["initQueryFile"] == "s3://work-bucket/hive/init.q"
    assert "--hivevar INPUT=s3://landing/raw/o.csv" in request["jobDriver"]["hive"]["parameters"]
    logs = request["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
    assert logs == "s3://work-bucket/emr-serverless-logs/"
    # And a Spark route of the same stack keeps the Spark application
    spark = _engine().build_start_job_run_request(job(engine="emr-serverless"), route("emr-serverless"))
    assert spark["applicationId"] == "00fabc123serverless"
    assert set(spark["jobDriver"]) == {"sparkSubmit"}


def test_a_routes_own_application_wins_and_no_hive_application_is_a_clear_error() -> None:
    # Given a Hive route naming its own application
    own = _route()
    own = own.model_copy(update={"emr_serverless": EmrServerlessSettings(application_id="00fown")})
    a_job = job(engine="emr-serverless", key="raw/o.csv")
    assert _engine().build_start_job_run_request(a_job, own)["applicationId"] == "00fown"
    # And a stack without a Hive application, which never falls back to the Spark one
    with pytest.raises(EngineError) as raised:
        _engine(emr_serverless_hive_application_id="").build_start_job_run_request(a_job, _route())
    assert raised.value.code == "NO_APPLICATION"
    assert "EmrServerlessHiveApplicationId" in str(raised.value)


def test_a_hive_job_runs_logs_are_the_hive_drivers() -> None:
    # Given a Hive job started on EMR Serverless (moto-free: the engine's client answers StartJobRun)
    class _Client:
        def start_job_run(self, **request: Any) -> dict[str, Any]:
            return {"applicationId": request["applicationId"], "jobRunId": "00run1", "arn": "arn"}

    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client=_Client())  # type: ignore[arg-type]
    started = engine.start(job(engine="emr-serverless", key="raw/o.csv"), _route())
    started_job = dataclasses.replace(
        job(engine="emr-serverless"), engine_id=started.engine_id, engine_details=started.details
    )
    # Then its log locations are under HIVE_DRIVER, as EMR Serverless writes them for Hive
    assert engine.log_locations(started_job) == [
        "s3://work-bucket/emr-serverless-logs/applications/00fhive456serverless/jobs/00run1/HIVE_DRIVER/stderr.gz",
        "s3://work-bucket/emr-serverless-logs/applications/00fhive456serverless/jobs/00run1/HIVE_DRIVER/stdout.gz",
    ]


def test_routes_check_refuses_hive_text_that_would_split_and_actions_on_failure() -> None:
    # Given Hive routes on emr-serverless with a hiveconf value holding a space, and an action on failure
    with pytest.raises(RoutesError) as spaced:
        _route(hiveconf={"mapreduce.job.name": "nightly orders"})
    with pytest.raises(RoutesError) as action:
        route(
            "emr-serverless",
            job=None,
            steps=[{"name": "l", "action_on_failure": "continue", "hive": {"script": "s3://b/q"}}],
        )
    # Then each is refused naming the route and the field
    assert "route 'orders'" in str(spaced.value.problems)
    assert "steps[0].hive.hiveconf.mapreduce.job.name" in "\n".join(spaced.value.problems)
    assert "steps[0].action_on_failure: EMR Serverless has no action on failure" in "\n".join(action.value.problems)


def test_an_init_script_longer_than_init_query_file_allows_is_refused_at_routes_check() -> None:
    # Given an init script that can render longer than Hive.initQueryFile's 256 characters
    with pytest.raises(RoutesError) as refused:
        _route(init_script="s3://{work_bucket}/" + "i" * 200 + ".q")
    # Then routes check says so, naming the field and the model's member
    assert "steps[0].hive.init_script: can render" in "\n".join(refused.value.problems)
    assert "Hive.initQueryFile" in "\n".join(refused.value.problems)


def test_an_arriving_object_whose_key_would_split_is_skipped_with_the_reason() -> None:
    # Given a routes file with a Hive route on emr-serverless
    routes = parse_routes({"version": 1, "routes": [json.loads(_route().model_dump_json(exclude_none=True))]})
    # When objects arrive
    hostile = routes.decide("landing", "raw/a b --hiveconf x=y.csv", "work-bucket")
    fine = routes.decide("landing", "raw/dt=2026-12-01/a.csv", "work-bucket")
    # Then the hostile one is skipped with the reason, the other is taken
    assert hostile.route is None
    assert "hive variable INPUT" in hostile.reason
    assert fine.route is not None


def test_a_route_reading_the_hive_scratch_and_warehouse_is_a_loop() -> None:
    # Given a Hive route on emr-serverless and a route that reads the work bucket's emr-serverless-hive/ prefix
    hive_route = json.loads(_route().model_dump_json(exclude_none=True))
    reader = {**hive_route, "name": "reader", "match": {"prefix": "emr-serverless-hive/"}}
    # When the routes file is checked
    with pytest.raises(RoutesError) as refused:
        parse_routes({"version": 1, "routes": [hive_route, reader]})
    # Then it is refused as an S3 → EMR → S3 loop through Hive's default directories
    assert "Hive scratch and warehouse" in "\n".join(refused.value.problems)


def test_the_orphan_search_lists_runs_of_both_stack_applications(paced_clock: list[float]) -> None:
    # Given EMR Serverless answering ListJobRuns for the stack's Spark and Hive applications
    runs = {
        "00fabc123serverless": [{"id": "r1", "name": "emr-dispatch-returns-0123456789abcdef-a1"}],
        "00fhive456serverless": [
            {"id": "r2", "name": "emr-dispatch-refunds-hive-0123456789abcdef-a1"},
            {"id": "r3", "name": "someone-elses-run"},
        ],
    }

    class _Client:
        def list_job_runs(self, applicationId: str, states: list[str]) -> dict[str, Any]:
            return {"jobRuns": runs.get(applicationId, [])}

    engine = EmrServerlessEngine(settings(), _NoActiveJobs(), client=_Client())  # type: ignore[arg-type]
    # When the sweeper asks what runs
    running = engine.list_running()
    # Then emr-dispatch's runs of both applications are found, nobody else's
    assert sorted(r.engine_id for r in running) == ["00fabc123serverless/r1", "00fhive456serverless/r2"]


def _hive_raw(output: str, **hive_fields: Any) -> dict[str, Any]:
    step = {"name": "q", "hive": {"script": "s3://{work_bucket}/q.sql", **hive_fields}}
    route = {"name": "hv", "match": {"bucket": "landing"}, "engine": "emr-serverless", "emr_serverless": {}}
    return {"version": 1, "routes": [{**route, "output": output, "steps": [step]}]}


@pytest.mark.parametrize("where", ["variables", "hiveconf"])
def test_a_parameter_holding_an_output_that_is_not_one_word_is_refused_at_load(where: str) -> None:
    # Given a Hive parameter carrying {output_uri}, the route's output holding a space
    raw = _hive_raw("s3://{work_bucket}/out dir/{route}/", **{where: {"OUT": "{output_uri}"}})
    # When loaded, Then the route is refused, naming the field and the output as the cause
    with pytest.raises(RoutesError, match=rf"steps\[0\]\.hive\.{where}\.OUT: .*the route's output"):
        parse_routes(raw)


def test_a_parameter_holding_a_one_word_output_is_taken_and_starts() -> None:
    # Given the same step with an output made of one word (placeholders rendered with their values)
    routes = parse_routes(_hive_raw("s3://{work_bucket}/out/{route}/{job_id}/", variables={"OUT": "{output_uri}"}))
    # When a job of it is built, Then the parameters carry the output
    engine = EmrServerlessEngine(settings(), active_jobs=None)  # type: ignore[arg-type]  # no start: no slots read
    request = engine.build_start_job_run_request(job(route_name="hv", engine="emr-serverless"), routes.routes[0])
    assert "--hivevar OUT=s3://" in request["jobDriver"]["hive"]["parameters"]
