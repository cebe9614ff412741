"""Every value emr-dispatch derives from route names, keys and tags stays inside the engines' API contracts.

The limits are read from botocore's installed service models (botocore itself checks only types, required
members and minimums; moto checks nothing), so these tests say what AWS would refuse.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.model import Shape

from builders import job, route, settings
from emr_dispatch.engines import ENTRY_POINT_MAX, NAME_MAX, TAG_RULES
from emr_dispatch.engines.base import INVALID_REQUEST, client_token, job_id_candidates, resource_name, start_error
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch.errors import EngineError
from emr_dispatch.limits import CLIENT_TOKEN_MAX

_SESSION = botocore.session.get_session()
LONGEST_ROUTE = "r" * 40  # routes.RouteName: [a-z0-9][a-z0-9-]{0,39}


def _input(service: str, operation: str) -> Shape:
    shape = _SESSION.get_service_model(service).operation_model(operation).input_shape
    assert shape is not None
    return shape


def _member(shape: Shape, path: str) -> Shape:
    for part in path.split("."):
        if part == "[]":
            shape = shape.member  # type: ignore[attr-defined]
        elif part in ("{k}", "{v}"):
            shape = shape.key if part == "{k}" else shape.value  # type: ignore[attr-defined]
        else:
            shape = shape.members[part]  # type: ignore[attr-defined]
    return shape


def contract_violations(shape: Shape, value: Any, path: str = "") -> list[str]:
    """What AWS's model says about ``value`` that botocore does not check: max lengths, patterns, enums,
    list and map sizes, recursively (the rules a request of emr-dispatch must satisfy in full)."""
    found: list[str] = []
    meta = shape.metadata
    if shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: {len(value)} > max {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            found.append(f"{path}: {len(value)} < min {meta['min']}")
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            found.append(f"{path}: {value!r} does not match {meta['pattern']}")
        enum = meta.get("enum")
        if enum and value not in enum:
            found.append(f"{path}: {value!r} not in {enum}")
    elif shape.type_name in ("integer", "long"):
        if "max" in meta and value > meta["max"]:
            found.append(f"{path}: {value} > max {meta['max']}")
    elif shape.type_name == "structure":
        for name, member_value in value.items():
            found += contract_violations(shape.members[name], member_value, f"{path}.{name}")  # type: ignore[attr-defined]
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: {len(value)} items > max {meta['max']}")
        for index, item in enumerate(value):
            found += contract_violations(shape.member, item, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: {len(value)} entries > max {meta['max']}")
        for key, item in value.items():
            found += contract_violations(shape.key, key, f"{path}{{{key}}}")  # type: ignore[attr-defined]
            found += contract_violations(shape.value, item, f"{path}.{key}")  # type: ignore[attr-defined]
    return found


_SURROGATE_PAIRS = re.compile(r"\\uD800\\uDC00-\\uDBFF\\uDFFF|\\uD800\\uDBFF-\\uDC00\\uDFFF")


def _pattern(java: str) -> re.Pattern[str]:
    """A model's (Java) pattern in Python: \\uXXXX escapes; a surrogate-pair range means any supplementary
    character (Python strings hold those as one character)."""
    python = _SURROGATE_PAIRS.sub(lambda _: "\U00010000-\U0010ffff", java)
    return re.compile(python, re.DOTALL)


class _NoActiveJobs:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def _most_tags(engine: str) -> dict[str, str]:
    """As many route tags as the engine allows next to emr-dispatch's own."""
    return {f"tag-{index}": f"value {index}" for index in range(TAG_RULES[engine].max_tags - 4)}


# ------------------------------------------------------------------ the limits are the models'
@pytest.mark.parametrize(
    ("service", "operation", "path", "expected"),
    [
        ("emr-containers", "StartJobRun", "name", {"max": NAME_MAX["emr-eks"], "pattern": r"[\.\-_/#A-Za-z0-9]+"}),
        ("emr-serverless", "StartJobRun", "name", {"max": NAME_MAX["emr-serverless"]}),
        ("emr", "RunJobFlow", "Name", {"max": NAME_MAX["emr-ec2"]}),
        ("emr-serverless", "StartJobRun", "clientToken", {"max": CLIENT_TOKEN_MAX, "pattern": "[A-Za-z0-9._-]+"}),
        ("emr-containers", "StartJobRun", "clientToken", {"max": CLIENT_TOKEN_MAX}),
        ("emr-containers", "StartJobRun", "jobDriver.sparkSubmitJobDriver.entryPoint", {"max": 256}),
        ("emr-serverless", "StartJobRun", "jobDriver.sparkSubmit.entryPoint", {"max": 4096}),
        ("emr-serverless", "StartJobRun", "tags.{v}", {"pattern": "[A-Za-z0-9 /_.:=+@-]*", "max": 256}),
        ("emr-serverless", "StartJobRun", "tags.{k}", {"pattern": "[A-Za-z0-9 /_.:=+@-]+", "max": 128}),
        ("emr-containers", "StartJobRun", "tags", {"max": TAG_RULES["emr-eks"].max_tags}),
        ("emr-containers", "StartJobRun", "tags.{v}", {"pattern": r".*\S.*", "max": 256}),
        ("emr-containers", "StartJobRun", "jobDriver.sparkSubmitJobDriver.entryPointArguments.[]", {"min": 1}),
    ],
)
def test_emr_dispatch_limits_are_the_ones_in_botocores_service_models(
    service: str, operation: str, path: str, expected: dict[str, Any]
) -> None:
    # Given the member of the installed service model
    metadata = _member(_input(service, operation), path).metadata
    # Then emr-dispatch's limit is the model's
    assert {key: metadata.get(key) for key in expected} == expected
    assert (
        ENTRY_POINT_MAX["emr-eks"]
        == _member(_input("emr-containers", "StartJobRun"), "jobDriver.sparkSubmitJobDriver.entryPoint").metadata["max"]
    )


def test_serverless_tag_rules_are_at_least_as_strict_as_the_model() -> None:
    # Given the model's limits and emr-dispatch's rules for EMR Serverless tags
    model_max = _member(_input("emr-serverless", "StartJobRun"), "tags").metadata["max"]
    rules = TAG_RULES["emr-serverless"]
    # Then the rules allow no more tags than the model (the User Guide's 50 is the stricter) and the same text
    assert rules.max_tags <= model_max
    assert (
        rules.value_pattern.pattern == _member(_input("emr-serverless", "StartJobRun"), "tags.{v}").metadata["pattern"]
    )


# ------------------------------------------------------------------ names and tokens
@pytest.mark.parametrize("attempt", [1, 9, 10, 99, 1000, 123456])
def test_eks_job_run_name_fits_the_api_for_the_longest_route_name_at_any_attempt(attempt: int) -> None:
    # Given a job of the longest route name the routes file allows, at this attempt
    request = EmrEksEngine(settings()).build_start_job_run_request(
        job(route_name=LONGEST_ROUTE, engine="emr-eks", attempt=attempt), route("emr-eks", name=LONGEST_ROUTE)
    )
    # Then its job-run name and client token are within EMR on EKS's limits
    shape = _input("emr-containers", "StartJobRun")
    assert contract_violations(_member(shape, "name"), request["name"], "name") == []
    assert contract_violations(_member(shape, "clientToken"), request["clientToken"], "clientToken") == []


def test_a_short_route_keeps_its_full_readable_name() -> None:
    # Given a job of a short route
    name = resource_name(job(route_name="orders", engine="emr-eks"), NAME_MAX["emr-eks"])
    # Then nothing is cut
    assert name == "emr-dispatch-orders-0123456789abcdef-a1"


def test_a_shortened_name_stays_unique_and_finds_its_job_again() -> None:
    # Given two long routes that share their first characters, each with a job of the same digest
    first, second = "a" * 30 + "-first-route", "a" * 30 + "-other-route"
    names = [resource_name(job(route_name=name, engine="emr-eks"), NAME_MAX["emr-eks"]) for name in (first, second)]
    # Then both names fit, are deterministic, and the sweeper's lookup names both candidate jobs
    assert all(len(name) <= 64 for name in names)
    assert names[0] == resource_name(job(route_name=first, engine="emr-eks"), NAME_MAX["emr-eks"])
    from emr_dispatch.engines.base import RunningResource

    parsed = RunningResource("emr-eks", "vc/run", names[0]).job_id_and_attempt
    assert parsed is not None
    assert parsed[1] == 1
    candidates = job_id_candidates(parsed[0], [first, second, "orders"])
    assert f"{first}-0123456789abcdef" in candidates
    assert f"{second}-0123456789abcdef" in candidates
    assert "orders-0123456789abcdef" not in candidates


@pytest.mark.parametrize("attempt", [1, 99999, 100000, 10**9])
def test_client_token_fits_both_job_run_apis_at_any_attempt(attempt: int) -> None:
    # Given the longest job id at a very high attempt (operators' retries have no upper bound)
    token = client_token(job(route_name=LONGEST_ROUTE, attempt=attempt))
    # Then it is valid for EMR Serverless and EMR on EKS, and differs from the next attempt's
    for service in ("emr-serverless", "emr-containers"):
        shape = _member(_input(service, "StartJobRun"), "clientToken")
        assert contract_violations(shape, token, "clientToken") == []
    assert token != client_token(job(route_name=LONGEST_ROUTE, attempt=attempt + 1))


# ------------------------------------------------------------------ whole requests
@pytest.mark.parametrize("attempt", [1, 1000])
def test_every_request_field_fits_for_the_longest_route_and_most_tags(attempt: int) -> None:
    # Given the longest route name with as many tags as each engine allows, and a long object key
    key = "raw/" + "k" * 900 + ".csv"
    for engine, service, operation in (
        ("emr-serverless", "emr-serverless", "StartJobRun"),
        ("emr-eks", "emr-containers", "StartJobRun"),
        ("emr-ec2", "emr", "RunJobFlow"),
    ):
        the_job = job(route_name=LONGEST_ROUTE, engine=engine, key=key, attempt=attempt)
        the_route = route(engine, name=LONGEST_ROUTE, tags=_most_tags(engine), output="s3://{work_bucket}/out/")
        if engine == "emr-serverless":
            request = EmrServerlessEngine(settings(), _NoActiveJobs()).build_request(the_job, the_route)
        elif engine == "emr-eks":
            request = EmrEksEngine(settings()).build_request(the_job, the_route)
        else:
            request = build_run_job_flow_request(the_job, the_route, settings())
        # Then no member breaks the model's length, pattern, enum or size rules
        assert contract_violations(_input(service, operation), request) == [], engine


# ------------------------------------------------------------------ empty arguments at run time
@pytest.mark.parametrize("engine", ["emr-ec2", "emr-serverless", "emr-eks"])
def test_an_argument_that_renders_empty_is_refused_before_any_engine_call(engine: str) -> None:
    # Given a route that reached the launcher with {output_uri} alone and no output (a routes layer built
    # before `routes check` refused it: model_copy skips validation as an older release's load did)
    checked = route(engine)
    assert checked.job is not None
    unchecked = checked.model_copy(
        update={
            "output": None,
            "job": checked.job.model_copy(update={"arguments": ["--in={input_uri}", "{output_uri}"]}),
        }
    )
    engines = {
        "emr-ec2": lambda: build_run_job_flow_request(job(engine=engine), unchecked, settings()),
        "emr-serverless": lambda: EmrServerlessEngine(settings(), _NoActiveJobs()).build_request(
            job(engine=engine), unchecked
        ),
        "emr-eks": lambda: EmrEksEngine(settings()).build_request(job(engine=engine), unchecked),
    }
    # When the engine builds its start request
    with pytest.raises(EngineError) as refused:
        engines[engine]()
    # Then it is refused as an invalid request (final: no retry), naming the argument
    assert refused.value.code == INVALID_REQUEST
    assert "arguments[1]" in str(refused.value)


def test_botocores_own_validation_error_is_a_final_refusal() -> None:
    # Given the error botocore raises for a request it will not send (executionRoleArn shorter than 20)
    error = ParamValidationError(report="Invalid length for parameter executionRoleArn, value: 0, valid min length: 20")
    # Then the start is refused for good, not left to SQS redelivery
    refused = start_error(error, "StartJobRun", job())
    assert isinstance(refused, EngineError)
    assert refused.code == INVALID_REQUEST
    assert "executionRoleArn" in str(refused)
