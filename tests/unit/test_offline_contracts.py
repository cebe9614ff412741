"""The strict request contracts, checked against botocore's own service models (the constraints AWS enforces and
botocore's client does not): each rule kind is proven to be caught, with the operation, member path and rule
named, and a valid request is proven to pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ServiceModel
from botocore.session import get_session
from botocore.stub import Stubber

from emr_dispatch_tools.offline import contracts
from emr_dispatch_tools.offline.java_regex import UntranslatablePatternError, compile_java


def model(service: str) -> ServiceModel:
    return get_session().get_service_model(service)


def violations(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    return [str(found) for found in contracts.check_request(model(service), operation, params)]


EKS_RUN: dict[str, Any] = {
    "virtualClusterId": "vc123",
    "clientToken": "job-1-a1",
    "executionRoleArn": "arn:aws:iam::123456789012:role/eks-job",
    "releaseLabel": "emr-7.5.0-latest",
    "jobDriver": {"sparkSubmitJobDriver": {"entryPoint": "s3://bucket/job.py", "entryPointArguments": ["--x"]}},
    "name": "emr-dispatch-orders-a1",
}


def test_a_valid_request_breaks_nothing() -> None:
    # Given a StartJobRun request within every limit of the EMR on EKS model
    # Then the checker finds nothing
    assert violations("emr-containers", "StartJobRun", EKS_RUN) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "n" * 65}, "emr-containers.StartJobRun: name breaks max 64 characters"),
        ({"name": "has space"}, "emr-containers.StartJobRun: name breaks pattern"),
        (
            {"jobDriver": {"sparkSubmitJobDriver": {"entryPoint": "s3://b/j.py", "entryPointArguments": [""]}}},
            "jobDriver.sparkSubmitJobDriver.entryPointArguments[0] breaks min 1 characters",
        ),
        (
            {"jobDriver": {"sparkSubmitJobDriver": {"entryPoint": "s3://b/j.py", "entryPointArguments": [" "]}}},
            "jobDriver.sparkSubmitJobDriver.entryPointArguments[0] breaks pattern",
        ),
        ({"tags": {"team": ""}}, "tags['team'] breaks"),
        ({"tags": {f"k{i}": "v" for i in range(51)}}, "tags breaks max 50 entries"),
        ({"virtualClusterId": None, "clientToken": "t"}, "virtualClusterId breaks required"),
        ({"unknown": 1}, "unknown breaks unknown member"),
    ],
)
def test_each_kind_of_rule_is_caught_and_named(change: dict[str, Any], expected: str) -> None:
    # Given a request that breaks one rule of the EMR on EKS model
    request = {**EKS_RUN, **change}
    # When it is checked
    found = violations("emr-containers", "StartJobRun", request)
    # Then the violation names the operation, the member path and the rule
    assert any(expected in line for line in found), found


def test_enums_numeric_ranges_and_list_sizes_are_caught() -> None:
    # Given requests that break an enum, a numeric range and a list size of their models
    found = violations("emr", "RunJobFlow", {"Name": "c", "Instances": {}, "ScaleDownBehavior": "WHENEVER"})
    found += violations("emr-serverless", "ListJobRuns", {"applicationId": "a", "maxResults": 51})
    found += violations("dynamodb", "BatchGetItem", {"RequestItems": {f"t{i}": {"Keys": [{}]} for i in range(101)}})
    # Then each is named
    assert any("ScaleDownBehavior breaks enum" in line for line in found), found
    assert any("maxResults breaks max 50" in line for line in found), found
    assert any("RequestItems breaks max 100 entries" in line for line in found), found


def test_serverless_tag_values_follow_their_pattern() -> None:
    # Given an EMR Serverless job run tagged team=R&D (the model's tag values are [A-Za-z0-9 /_.:=+@-]*)
    request = {
        "applicationId": "00abc",
        "clientToken": "t",
        "executionRoleArn": "arn:aws:iam::123456789012:role/r",
        "tags": {"team": "R&D"},
    }
    # Then the value is refused, matched against the whole value as the service's validator does
    assert any("tags['team'] breaks pattern" in line for line in violations("emr-serverless", "StartJobRun", request))


@pytest.fixture
def serverless() -> Iterator[Any]:
    """An EMR Serverless client whose every call would fail if it were sent (a Stubber with no responses)."""
    contracts.install()
    client = boto3.client("emr-serverless", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client):
        yield client


def test_a_violation_is_refused_as_aws_would_and_recorded(serverless: Any) -> None:
    # Given a call the service would refuse (maxResults above 50)
    # When it is made, expecting the refusal
    with contracts.refusals_expected() as seen, pytest.raises(ClientError) as refused:
        serverless.list_job_runs(applicationId="00abc", maxResults=51)
    # Then it answers ValidationException naming the rule, before anything is sent, and is recorded
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "emr-serverless.ListJobRuns: maxResults breaks max 50" in str(refused.value)
    assert [violation.path for violation in seen] == ["maxResults"]


def test_a_client_side_violation_is_refused_as_botocore_would(serverless: Any) -> None:
    # Given a call missing a required member, expecting the refusal
    # Then it is refused as botocore's client refuses it
    with contracts.refusals_expected(), pytest.raises(ParamValidationError, match="applicationId breaks required"):
        serverless.list_job_runs()


@pytest.mark.parametrize(
    ("pattern", "valid", "invalid"),
    [
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", "héllo wörld_1", "R&D"),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*", "ok \U0001f600", "\x01"),
        (r"\p{Print}+", "abc ~", "é"),
        (r"[\w-_]*", "a-b_c", "a.b"),
        (r"\Qa.b\E", "a.b", "axb"),
    ],
)
def test_java_patterns_are_translated_faithfully(pattern: str, valid: str, invalid: str) -> None:
    # Given a Java pattern botocore's models use
    compiled = compile_java(pattern)
    # Then it accepts and refuses what java.util.regex would
    assert compiled.fullmatch(valid)
    assert not compiled.fullmatch(invalid)


@pytest.mark.parametrize("pattern", [r"[a-z&&[^b]]", r"\R", r"\p{IsNoSuchScript}"])
def test_untranslatable_patterns_fail_closed(pattern: str) -> None:
    # Given Java constructs Python's re cannot express exactly
    # Then the translation refuses them (a value is then reported as uncheckable, never passed)
    with pytest.raises(UntranslatablePatternError):
        compile_java(pattern)


def test_every_pattern_of_the_services_emr_dispatch_calls_is_translatable() -> None:
    # Given every pattern of the models of the services the product and its tools call
    services = [
        "emr",
        "emr-serverless",
        "emr-containers",
        "dynamodb",
        "sqs",
        "sns",
        "s3",
        "cloudformation",
        "lambda",
        "sts",
        "events",
        "iam",
    ]
    untranslatable = []
    for service in services:
        for shape in get_session().get_service_data(service)["shapes"].values():
            if "pattern" in shape:
                try:
                    compile_java(shape["pattern"])
                except UntranslatablePatternError as exc:
                    untranslatable.append((service, shape["pattern"], str(exc)))
    # Then each one translates (none would make its calls fail closed)
    assert untranslatable == []
