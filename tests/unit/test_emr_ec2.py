"""EMR on EC2: the RunJobFlow request (pure) and how cluster/step events map to job states."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest

from builders import settings
from emr_dispatch.arrivals import Arrival, parse_s3_event
from emr_dispatch.engines.base import EngineEvent
from emr_dispatch.engines.emr_ec2 import EmrEc2Engine, build_run_job_flow_request, cluster_name
from emr_dispatch.errors import MalformedEventError
from emr_dispatch.inputs import ObjectInput
from emr_dispatch.jobs import Job, JobState, job_id_for
from emr_dispatch.routes import Route, parse_routes
from emr_dispatch.settings import Settings
from sample_events import CLASSIC_DECODED_KEY, EMR_EVENT_FILES, EXAMPLE_CLUSTER_ID, EXAMPLE_STEP_ID, load_event


def _settings(**overrides: Any) -> Settings:
    return settings(
        routes_file="/opt/routes.yaml",
        region="eu-west-1",
        emr_service_role="Custom_EMR_ServiceRole",
        emr_instance_profile="Custom_EMR_EC2_Profile",
        **overrides,
    )


SETTINGS = _settings()


def _route(**emr_ec2: Any) -> Route:
    settings: dict[str, Any] = {
        "release_label": "emr-7.5.0",
        "instances": {"primary": {"instance_type": "m7g.xlarge"}, "core": {"instance_type": "m7g.xlarge", "count": 2}},
        "idle_timeout_seconds": 900,
    }
    settings.update(emr_ec2)
    raw = {
        "routes": [
            {
                "name": "orders-daily",
                "match": {"prefix": "raw/orders/"},
                "engine": "emr-ec2",
                "emr_ec2": settings,
                "job": {
                    "entry_point": "s3://{work_bucket}/jobs/clean_csv.py",
                    "spark_submit_parameters": ["--conf", "spark.sql.shuffle.partitions=8"],
                    "arguments": ["--input={input_uri}", "--key={key}", "{key}", "--job-id={job_id}"],
                },
                "output": "s3://{work_bucket}/output/{route}/{job_id}/",
                "tags": {"team": "data-platform"},
            }
        ]
    }
    return parse_routes(raw).routes[0]


def _job_for(arrival: Arrival, route: Route) -> Job:
    return Job(
        job_id=job_id_for(route.name, arrival.identity()),
        route=route.name,
        engine=route.engine,
        state=JobState.SUBMITTING,
        attempt=1,
        inputs=[ObjectInput.of(arrival)],
        created_at="2026-11-23T08:15:43.000Z",
        updated_at="2026-11-23T08:15:43.000Z",
    )


def _classic_arrival(raw_key: str | None = None) -> Arrival:
    event = load_event("s3-put-classic.json")
    if raw_key is not None:
        event["Records"][0]["s3"]["object"]["key"] = raw_key
    arrival = parse_s3_event(event)[0]
    assert isinstance(arrival, Arrival)
    return arrival


def _request(route: Route | None = None, settings: Settings = SETTINGS) -> tuple[Job, dict[str, Any]]:
    route = route or _route()
    job = _job_for(_classic_arrival(), route)
    return job, build_run_job_flow_request(job, route, settings)


# ---------------------------------------------------------------------------- RunJobFlow
def test_cluster_cannot_outlive_its_work() -> None:
    # Given / When the request for the sample arrival
    _, request = _request()

    # Then every safety net is set: no keep-alive, the step takes the cluster down, idle timeout as configured
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["Instances"]["TerminationProtected"] is False
    assert [step["ActionOnFailure"] for step in request["Steps"]] == ["TERMINATE_CLUSTER"]
    assert request["AutoTerminationPolicy"] == {"IdleTimeout": 900}


def test_cluster_is_tagged_for_iam_conditions_and_orphan_search() -> None:
    # Given / When
    job, request = _request()

    # Then the tags IAM and the sweeper rely on are there, beside the route's own
    tags = {tag["Key"]: tag["Value"] for tag in request["Tags"]}
    assert tags["managed-by"] == "emr-dispatch"
    assert tags["route"] == "orders-daily"
    assert tags["job-id"] == job.job_id
    assert tags["team"] == "data-platform"


def test_roles_log_uri_and_names_come_from_settings_and_job() -> None:
    # Given / When
    job, request = _request()

    # Then
    assert request["ServiceRole"] == "Custom_EMR_ServiceRole"
    assert request["JobFlowRole"] == "Custom_EMR_EC2_Profile"
    assert request["LogUri"] == "s3://work-bucket/emr-logs/"
    assert request["ReleaseLabel"] == "emr-7.5.0"
    assert request["Name"] == cluster_name(job)
    assert request["Name"].startswith("emr-dispatch-")
    assert request["Steps"][0]["Name"].startswith("emr-dispatch-")
    assert request["Steps"][0]["HadoopJarStep"]["Jar"] == "command-runner.jar"


def test_instance_groups_and_subnet() -> None:
    # Given settings with a subnet
    settings = _settings(emr_subnet_id="subnet-0abc")

    # When
    _, request = _request(settings=settings)

    # Then
    instances = request["Instances"]
    assert instances["Ec2SubnetId"] == "subnet-0abc"
    roles = {group["InstanceRole"]: group for group in instances["InstanceGroups"]}
    assert roles["MASTER"]["InstanceCount"] == 1
    assert roles["CORE"]["InstanceCount"] == 2


def test_instance_fleets_fall_back_from_spot_to_on_demand() -> None:
    # Given a route on instance fleets with Spot core capacity
    route = _route(
        instances=None,
        fleets={
            "primary": {"instance_types": ["m7g.xlarge"], "on_demand_capacity": 1},
            "core": {"instance_types": ["m7g.2xlarge", "r7g.xlarge"], "spot_capacity": 2},
        },
    )
    settings = _settings(emr_subnet_id="subnet-0abc")

    # When
    _, request = _request(route, settings)

    # Then Spot that cannot be had switches to on-demand, and the subnet is given as a fleet list
    fleets = {fleet["InstanceFleetType"]: fleet for fleet in request["Instances"]["InstanceFleets"]}
    spot = fleets["CORE"]["LaunchSpecifications"]["SpotSpecification"]
    assert spot["TimeoutAction"] == "SWITCH_TO_ON_DEMAND"
    assert spot["AllocationStrategy"] == "price-capacity-optimized"
    assert fleets["MASTER"]["TargetOnDemandCapacity"] == 1
    assert request["Instances"]["Ec2SubnetIds"] == ["subnet-0abc"]
    assert "InstanceGroups" not in request["Instances"]


def test_step_args_render_the_decoded_key_once() -> None:
    # Given / When the request for the classic sample (key "orders 1+2 café.csv")
    job, request = _request()
    args = request["Steps"][0]["HadoopJarStep"]["Args"]

    # Then the arguments carry the decoded key, exactly
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    assert f"--input=s3://{'emr-dispatch-landing-example'}/{CLASSIC_DECODED_KEY}" in args
    assert f"--key={CLASSIC_DECODED_KEY}" in args
    assert f"--job-id={job.job_id}" in args
    assert not any("%2B" in arg or "caf%C3" in arg for arg in args)


@pytest.mark.parametrize(
    "real_key",
    [
        "raw/orders/--conf spark.driver.extraJavaOptions=-Dx=1.csv",
        "raw/orders/--class org.evil.Main",
        "raw/orders/{work_bucket}{job_id}.csv",
        "raw/orders/$(rm -rf ~); `id`.csv",
    ],
)
def test_key_derived_values_only_follow_the_entry_point(real_key: str) -> None:
    # Given an arrival whose key tries to look like an option, a placeholder or shell
    route = _route()
    arrival = _classic_arrival(quote_plus(real_key, safe="/"))
    assert arrival.key == real_key
    job = _job_for(arrival, route)

    # When the step is built
    args = build_run_job_flow_request(job, route, SETTINGS)["Steps"][0]["HadoopJarStep"]["Args"]

    # Then the entry point comes before every argument that carries the key, and the key stays verbatim
    entry = args.index("s3://work-bucket/jobs/clean_csv.py")
    carrying = [i for i, arg in enumerate(args) if real_key in arg]
    assert carrying, args
    assert min(carrying) > entry
    assert real_key in args  # the bare "{key}" argument: one list element, not split, not expanded
    assert all("orders/" not in arg for arg in args[:entry])


def test_placeholders_in_spark_submit_parameters_are_rendered_before_the_entry_point() -> None:
    # Given / When
    _, request = _request()
    args = request["Steps"][0]["HadoopJarStep"]["Args"]

    # Then the order is spark-submit, its own options, the entry point, then the application's arguments
    entry = args.index("s3://work-bucket/jobs/clean_csv.py")
    assert args[3:entry] == ["--conf", "spark.sql.shuffle.partitions=8"]


# ---------------------------------------------------------------------------- events
ENGINE = EmrEc2Engine(SETTINGS, client=None)


def _job(state: JobState = JobState.SUBMITTED) -> Job:
    return Job(
        job_id="orders-daily-17c3ac63b97f7b66",
        route="orders-daily",
        engine="emr-ec2",
        state=state,
        attempt=1,
        inputs=[],
        created_at="2026-11-23T08:15:43.000Z",
        updated_at="2026-11-23T08:15:43.000Z",
        engine_id=EXAMPLE_CLUSTER_ID,
        engine_details={"log_uri": "s3n://work-bucket/emr-logs/"},
    )


EXPECTED = {
    "emr-cluster-running.json": ("cluster", None, JobState.RUNNING, None),
    "emr-cluster-terminated-completed.json": ("cluster", None, JobState.SUCCEEDED, "ALL_STEPS_COMPLETED"),
    "emr-cluster-terminated-with-errors.json": ("cluster", None, JobState.FAILED, "STEP_FAILURE"),
    "emr-step-completed.json": ("step", EXAMPLE_STEP_ID, JobState.SUCCEEDED, "STEP_COMPLETED"),
    "emr-step-failed.json": ("step", EXAMPLE_STEP_ID, JobState.FAILED, "STEP_FAILED"),
}


def test_every_emr_sample_event_has_an_expectation() -> None:
    # Given / When / Then: a new events/ file must be added here too
    assert set(EXPECTED) == set(EMR_EVENT_FILES)


@pytest.mark.parametrize("name", EMR_EVENT_FILES)
def test_sample_events_parse_and_map_to_job_states(name: str) -> None:
    # Given an EMR event file
    kind, sub_id, state, reason = EXPECTED[name]
    event = load_event(name)

    # When the engine parses and interprets it for a submitted job
    parsed = ENGINE.parse_event(event)
    assert parsed is not None
    update = ENGINE.interpret(parsed, _job())

    # Then
    assert parsed.engine == "emr-ec2"
    assert parsed.engine_id == EXAMPLE_CLUSTER_ID
    assert parsed.kind == kind
    assert parsed.sub_id == sub_id
    assert parsed.time == event["time"]
    assert update is not None
    assert update.state is state
    assert update.reason_code == reason


def test_cluster_running_event_has_no_reason_code() -> None:
    # Given the RUNNING event, whose stateChangeReason is the JSON string {"code":""}
    parsed = ENGINE.parse_event(load_event("emr-cluster-running.json"))

    # When / Then the empty code is no code, and the message falls back to the event's message
    assert parsed is not None
    assert parsed.reason_code is None
    assert parsed.reason_message is not None
    assert "ready for use" in parsed.reason_message


def test_terminated_with_errors_carries_the_reason_message() -> None:
    # Given / When
    parsed = ENGINE.parse_event(load_event("emr-cluster-terminated-with-errors.json"))

    # Then the message comes from the inner JSON
    assert parsed is not None
    assert (parsed.reason_code, parsed.reason_message) == ("STEP_FAILURE", "Shut down as step failed")


def _terminated(reason: Any, *, drop: bool = False) -> dict[str, Any]:
    event = load_event("emr-cluster-terminated-completed.json")
    if drop:
        del event["detail"]["stateChangeReason"]
    else:
        event["detail"]["stateChangeReason"] = reason
    return event


@pytest.mark.parametrize(
    ("event", "code", "state"),
    [
        pytest.param(
            _terminated('{"code":"ALL_STEPS_COMPLETED","message":"Steps completed"}'),
            "ALL_STEPS_COMPLETED",
            JobState.SUCCEEDED,
            id="json-string",
        ),
        pytest.param(
            _terminated({"code": "ALL_STEPS_COMPLETED", "message": "Steps completed"}),
            "ALL_STEPS_COMPLETED",
            JobState.SUCCEEDED,
            id="object",
        ),
        pytest.param(
            _terminated({"Code": "USER_REQUEST", "Message": "Terminated by user"}),
            "USER_REQUEST",
            JobState.CANCELLED,
            id="api-style-object",
        ),
        pytest.param(
            _terminated('{"code":"BOOTSTRAP_FAILURE","message":"bootstrap action 1 failed"}'),
            "BOOTSTRAP_FAILURE",
            JobState.FAILED,
            id="bootstrap-failure",
        ),
        pytest.param(_terminated("not json {"), "TERMINATED", JobState.FAILED, id="garbage-string"),
        pytest.param(_terminated(""), "TERMINATED", JobState.FAILED, id="empty-string"),
        pytest.param(_terminated("[1, 2]"), "TERMINATED", JobState.FAILED, id="json-not-an-object"),
        pytest.param(_terminated(None, drop=True), "TERMINATED", JobState.FAILED, id="missing"),
    ],
)
def test_state_change_reason_in_any_shape(event: dict[str, Any], code: str, state: JobState) -> None:
    # Given a TERMINATED cluster event whose stateChangeReason has this shape
    # When it is parsed and interpreted
    parsed = ENGINE.parse_event(event)
    assert parsed is not None
    update = ENGINE.interpret(parsed, _job(JobState.RUNNING))

    # Then nothing crashes; without a readable reason a termination is a failure, never a success
    assert update is not None
    assert update.reason_code == code
    assert update.state is state


def test_garbage_reason_is_kept_as_the_message() -> None:
    # Given / When
    parsed = ENGINE.parse_event(_terminated("cluster went away"))

    # Then what EMR said is not lost
    assert parsed is not None
    assert parsed.reason_message == "cluster went away"


@pytest.mark.parametrize(
    ("kind_file", "state", "expected"),
    [
        ("emr-cluster-running.json", "STARTING", None),
        ("emr-cluster-running.json", "BOOTSTRAPPING", None),
        ("emr-cluster-running.json", "WAITING", JobState.RUNNING),
        ("emr-cluster-running.json", "TERMINATING", None),
        ("emr-step-completed.json", "PENDING", None),
        ("emr-step-completed.json", "RUNNING", JobState.RUNNING),
        ("emr-step-completed.json", "CANCEL_PENDING", None),
        ("emr-step-completed.json", "CANCELLED", None),  # the cluster's end decides (bootstrap failure, cancel)
        ("emr-step-completed.json", "INTERRUPTED", JobState.FAILED),
    ],
)
def test_other_states(kind_file: str, state: str, expected: JobState | None) -> None:
    # Given an event of another state / When interpreted / Then only states that tell something move the job
    event = load_event(kind_file)
    event["detail"]["state"] = state
    if "stateChangeReason" in event["detail"]:
        event["detail"]["stateChangeReason"] = json.dumps({"code": ""})
    parsed = ENGINE.parse_event(event)
    assert parsed is not None
    update = ENGINE.interpret(parsed, _job())
    assert (update.state if update else None) is expected


def test_untracked_detail_type_is_not_parsed() -> None:
    # Given an EMR event of a kind the tracker does not follow
    event = load_event("emr-cluster-running.json")
    event["detail-type"] = "EMR Instance Group State Change"

    # When / Then
    assert ENGINE.parse_event(event) is None


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("emr-cluster-running.json", lambda d: d.pop("clusterId")),
        ("emr-cluster-running.json", lambda d: d.update(clusterId="")),
        ("emr-cluster-running.json", lambda d: d.update(state=None)),
        ("emr-step-failed.json", lambda d: d.pop("stepId")),
        ("emr-step-failed.json", lambda d: d.update(clusterId=12)),
    ],
)
def test_malformed_emr_events_raise(name: str, mutate: Any) -> None:
    # Given an event missing what the tracker needs
    event = load_event(name)
    mutate(event["detail"])

    # When / Then
    with pytest.raises(MalformedEventError):
        ENGINE.parse_event(event)


def test_event_without_detail_object_raises() -> None:
    # Given / When / Then
    event = load_event("emr-step-failed.json")
    event["detail"] = "oops"
    with pytest.raises(MalformedEventError):
        ENGINE.parse_event(event)


def test_console_link_and_log_locations_need_no_aws_call() -> None:
    # Given a submitted job / When / Then
    job = _job()
    assert ENGINE.console_link(job).endswith(f"#/clusterDetails/{EXAMPLE_CLUSTER_ID}")
    assert "eu-west-1" in ENGINE.console_link(job)
    assert ENGINE.log_locations(job) == [f"s3://work-bucket/emr-logs/{EXAMPLE_CLUSTER_ID}/"]


def test_engine_event_is_a_value() -> None:
    # Given two parses of the same file / When / Then they are equal (safe to compare and log)
    first = ENGINE.parse_event(load_event("emr-step-failed.json"))
    second = ENGINE.parse_event(load_event("emr-step-failed.json"))
    assert isinstance(first, EngineEvent)
    assert first == second
