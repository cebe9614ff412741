"""Least privilege, read from template.yaml: each function's role, the key, and the resource policies.

The checks are plain functions over policy statements, so a test also proves they catch what they must
(a wildcard action, an unconditioned PassRole, a stop without a tag condition)."""

from __future__ import annotations

from typing import Any

import pytest

from builders import job, route, settings
from emr_dispatch import MANAGED_BY
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch_tools.moto_stack import load_sam_template

STOP_ACTIONS = frozenset(
    {
        "elasticmapreduce:TerminateJobFlows",
        "emr-serverless:CancelJobRun",
        "emr-serverless:StopApplication",
        "emr-containers:CancelJobRun",
    }
)
"""Actions that end work: allowed only on resources tagged managed-by=emr-dispatch."""

UNSCOPABLE_ACTIONS = frozenset({"elasticmapreduce:ListClusters"})
"""Actions AWS authorises on no resource narrower than "*" (Service Authorization Reference)."""

TAG_KEYS = {
    "elasticmapreduce:TerminateJobFlows": "elasticmapreduce:ResourceTag/managed-by",
    "elasticmapreduce:RunJobFlow": "elasticmapreduce:RequestTag/managed-by",
}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return dict(load_sam_template()["Resources"])


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements, with both branches of every Fn::If (NoValue dropped)."""
    found: list[dict[str, Any]] = []
    for statement in _listed(document["Statement"]):
        if "Fn::If" in statement:
            found.extend(branch for branch in statement["Fn::If"][1:] if branch != {"Ref": "AWS::NoValue"})
        else:
            found.append(statement)
    return found


def policy_problems(statements: list[dict[str, Any]]) -> list[str]:
    """Every way these Allow statements break emr-dispatch's least-privilege rules, in words."""
    problems = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "?")
        actions = [str(action) for action in _listed(statement["Action"])]
        condition = statement.get("Condition", {})
        equals = condition.get("StringEquals", {})
        problems += [f"{sid}: wildcard action {action}" for action in actions if "*" in action]
        if statement.get("Resource") == "*" and set(actions) - UNSCOPABLE_ACTIONS:
            problems.append(f"{sid}: Resource * for {sorted(set(actions) - UNSCOPABLE_ACTIONS)}")
        if "iam:PassRole" in actions:
            if not equals.get("iam:PassedToService"):
                problems.append(f"{sid}: iam:PassRole without iam:PassedToService")
            if any(resource == "*" or "*" in str(resource) for resource in _listed(statement["Resource"])):
                problems.append(f"{sid}: iam:PassRole on a wildcard resource")
        if "emr-containers:StartJobRun" in actions and not condition.get("ArnEquals", {}).get(
            "emr-containers:ExecutionRoleArn"
        ):
            # EMR on EKS takes the execution role without PassRole: only this condition limits it.
            problems.append(f"{sid}: emr-containers:StartJobRun without emr-containers:ExecutionRoleArn")
        for action in actions:
            if action in STOP_ACTIONS or action == "elasticmapreduce:RunJobFlow":
                tag_key = TAG_KEYS.get(action, "aws:ResourceTag/managed-by")
                if equals.get(tag_key) != MANAGED_BY:
                    problems.append(f"{sid}: {action} without {tag_key} = {MANAGED_BY}")
    return problems


def _function_roles(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    roles = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            role_ref = resource["Properties"]["Role"]["Fn::GetAtt"]
            roles[name] = resources[role_ref[0] if isinstance(role_ref, list) else role_ref.split(".")[0]]
    return roles


# ------------------------------------------------------------------ the checks catch what they must
@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:x"}, "wildcard action s3:*"),
        ({"Sid": "B", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}, "Resource *"),
        ({"Sid": "C", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:role"}, "without iam:Passed"),
        (
            {"Sid": "D", "Effect": "Allow", "Action": "elasticmapreduce:TerminateJobFlows", "Resource": "arn:c"},
            "TerminateJobFlows without elasticmapreduce:ResourceTag/managed-by",
        ),
        (
            {"Sid": "E", "Effect": "Allow", "Action": ["emr-serverless:StopApplication"], "Resource": "arn:a"},
            "StopApplication without aws:ResourceTag/managed-by",
        ),
        (
            {
                "Sid": "F",
                "Effect": "Allow",
                "Action": "emr-containers:CancelJobRun",
                "Resource": "arn:j",
                "Condition": {"StringEquals": {"aws:ResourceTag/managed-by": "someone-else"}},
            },
            "CancelJobRun without aws:ResourceTag/managed-by",
        ),
        ({"Sid": "G", "Effect": "Allow", "Action": "elasticmapreduce:RunJobFlow", "Resource": "arn:c"}, "RequestTag"),
        ({"Sid": "H", "Effect": "Allow", "Action": "emr-containers:StartJobRun", "Resource": "arn:v"}, "ExecutionRole"),
    ],
)
def test_policy_check_catches_each_forbidden_grant(statement: dict[str, Any], expected: str) -> None:
    # Given one statement that breaks a rule
    # When it is checked
    problems = policy_problems([statement])
    # Then the check names the problem (so the template tests below would fail on it)
    assert any(expected in problem for problem in problems), problems


# ------------------------------------------------------------------ the template's roles
def test_every_function_has_its_own_role_and_no_managed_policies(resources: dict[str, Any]) -> None:
    # Given each function of the template
    roles = _function_roles(resources)
    assert set(roles) == {"LauncherFunction", "TrackerFunction", "SweeperFunction"}
    # Then each names its own explicit role: no SAM-generated role with AWS-managed ("*") policies
    assert len({id(role) for role in roles.values()}) == 3
    for name, role in roles.items():
        assert "Policies" not in resources[name]["Properties"], name
        assert not role["Properties"].get("ManagedPolicyArns"), name
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "lambda.amazonaws.com"
        }


def test_no_role_has_a_wildcard_action_unconditioned_passrole_or_untagged_stop(resources: dict[str, Any]) -> None:
    # Given every statement of every function role (both sides of every condition)
    for name, role in _function_roles(resources).items():
        statements = [s for policy in role["Properties"]["Policies"] for s in statements_of(policy["PolicyDocument"])]
        # Then none breaks a rule
        assert policy_problems(statements) == [], name


def _actions(role: dict[str, Any]) -> set[str]:
    return {
        str(action)
        for policy in role["Properties"]["Policies"]
        for statement in statements_of(policy["PolicyDocument"])
        for action in _listed(statement["Action"])
    }


def test_only_the_launcher_starts_work_and_passes_roles(resources: dict[str, Any]) -> None:
    # Given the three roles
    roles = _function_roles(resources)
    starting = {"elasticmapreduce:RunJobFlow", "emr-serverless:StartJobRun", "emr-containers:StartJobRun"}
    # Then only the launcher may start engines or pass roles; the tracker and sweeper only look and stop
    assert starting <= _actions(roles["LauncherFunction"])
    assert "iam:PassRole" in _actions(roles["LauncherFunction"])
    for name in ("TrackerFunction", "SweeperFunction"):
        assert not (starting | {"iam:PassRole"}) & _actions(roles[name]), name
    # And the launcher stops nothing
    assert not STOP_ACTIONS & _actions(roles["LauncherFunction"])


def test_passrole_names_only_the_parameter_roles(resources: dict[str, Any]) -> None:
    # Given the launcher's PassRole statements
    role = _function_roles(resources)["LauncherFunction"]
    passing = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in statements_of(policy["PolicyDocument"])
        if "iam:PassRole" in _listed(statement["Action"])
    ]
    # Then each resource is a role named by a stack parameter, never a pattern
    parameters = set(load_sam_template()["Parameters"])
    for statement in passing:
        for resource in _listed(statement["Resource"]):
            text = resource["Fn::Sub"]
            assert text.startswith("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${")
            assert text.rsplit("${", 1)[1].rstrip("}") in parameters


# ------------------------------------------------------------------ encryption and transport
def test_state_is_encrypted_with_the_stacks_rotated_key(resources: dict[str, Any]) -> None:
    # Given the key and everything that stores messages, records or logs
    key = resources["DataKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    by_ref = {"Ref": "DataKey"}
    # Then queues, topic, table and log groups all use it
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
            assert properties["KmsMasterKeyId"] == by_ref, name
        elif resource["Type"] == "AWS::DynamoDB::Table":
            assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": by_ref}
        elif resource["Type"] == "AWS::Logs::LogGroup":
            assert properties["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}, name


def test_key_policy_lets_the_delivering_services_use_the_key_and_nobody_else(resources: dict[str, Any]) -> None:
    # Given the key policy
    statements = resources["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    services = {
        str(statement["Principal"]["Service"]) for statement in statements if "Service" in statement["Principal"]
    }
    # Then EventBridge (rule -> queue, dead letters), S3 notifications, CloudWatch alarms (-> topic) and
    # CloudWatch Logs may use it, and no statement names every principal
    assert {"events.amazonaws.com", "s3.amazonaws.com", "cloudwatch.amazonaws.com"} <= services
    assert any("logs." in service for service in services)
    assert all(statement["Principal"] != "*" and statement["Principal"] != {"AWS": "*"} for statement in statements)


def _tls_denied(policy: dict[str, Any]) -> list[Any]:
    return [
        resource
        for statement in policy["Statement"]
        if statement["Effect"] == "Deny" and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for resource in _listed(statement["Resource"])
    ]


def test_queues_topic_and_buckets_refuse_plain_http(resources: dict[str, Any]) -> None:
    # Given every resource policy of the template
    covered: set[str] = set()
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"):
            for denied in _tls_denied(properties["PolicyDocument"]):
                target = denied.get("Fn::GetAtt") or denied.get("Ref") or denied.get("Fn::Sub", "").split(".")[0]
                covered.add((target[0] if isinstance(target, list) else target).lstrip("${"))
    # Then each queue, the topic and each bucket denies requests that are not TLS
    stored = {
        name
        for name, resource in resources.items()
        if resource["Type"] in ("AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket")
    }
    assert stored <= covered, stored - covered


# ------------------------------------------------------------------ what IAM cannot see: the requests
def _managed_by_condition(resources: dict[str, Any], sid: str) -> str:
    role = _function_roles(resources)["LauncherFunction"]
    statement = next(
        s for p in role["Properties"]["Policies"] for s in statements_of(p["PolicyDocument"]) if s.get("Sid") == sid
    )
    return str(statement["Condition"]["StringEquals"]["elasticmapreduce:RequestTag/managed-by"])


@pytest.mark.parametrize("route_tags", [{}, {"team": "data-platform", "cost-center": "42"}])
def test_run_job_flow_request_always_carries_the_tag_iam_requires(
    resources: dict[str, Any], route_tags: dict[str, str]
) -> None:
    # Given the tag value the launcher's RunJobFlow permission requires, and routes with or without tags
    required = _managed_by_condition(resources, "StartTaggedClusters")
    ec2_route = route(tags=route_tags)
    # When the request of a job is built
    request = build_run_job_flow_request(job(), ec2_route, settings())
    # Then it carries managed-by with exactly that value, once, beside the route's own tags
    tags = [(tag["Key"], tag["Value"]) for tag in request["Tags"]]
    assert tags.count(("managed-by", required)) == 1
    assert [key for key, _ in tags].count("managed-by") == 1
    assert set(route_tags.items()) <= set(tags)


def test_a_route_cannot_override_the_managed_by_tag() -> None:
    # Given a route that tries to set the tag IAM conditions rely on
    from emr_dispatch.errors import RoutesError

    # Then the routes file is refused at load, naming the reserved key
    with pytest.raises(RoutesError, match="reserved keys: managed-by"):
        route(tags={"managed-by": "someone-else"})


def test_job_runs_are_tagged_so_cancel_conditions_let_emr_dispatch_stop_them() -> None:
    # Given the requests of both job-run engines
    serverless = EmrServerlessEngine(settings(), active_jobs=_NoActive()).build_start_job_run_request(
        job(engine="emr-serverless"), route("emr-serverless")
    )
    eks = EmrEksEngine(settings()).build_start_job_run_request(job(engine="emr-eks"), route("emr-eks"))
    # Then each job run carries managed-by=emr-dispatch, which CancelJobRun's resource-tag condition needs
    assert serverless["tags"]["managed-by"] == MANAGED_BY
    assert eks["tags"]["managed-by"] == MANAGED_BY


class _NoActive:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False
