"""The offline IAM authorizer, decided as IAM decides for identity-based policies: each call becomes the requests
IAM evaluates (action, resource ARN from the Service Authorization Reference's ARN formats, request context),
and the function's role from template.yaml (resolved as the deployed stack resolves it) allows or denies.
No AWS and no moto here: requests are built from botocore's models and the product's own request builders."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import ServiceModel
from botocore.session import get_session

from builders import job, route, settings
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine
from emr_dispatch_tools.moto_stack import TEMPLATE
from emr_dispatch_tools.offline import iam, iam_requests, sar, stack_policies

ACCOUNT = stack_policies.ACCOUNT
PARAMETERS = {"EmrServerlessJobRoleName": "serverless-job", "EmrEksJobRoleName": "eks-job"}


def model(service: str) -> ServiceModel:
    return get_session().get_service_model(service)


def principal(function: str, parameters: dict[str, str] | None = None, partition: str = "aws") -> iam.Principal:
    parameters = PARAMETERS if parameters is None else parameters
    template = stack_policies.translated_template(TEMPLATE, parameters)
    facts = stack_policies.synthetic_facts(template, parameters)
    facts = stack_policies.StackFacts(
        facts.name, facts.region, facts.parameters, facts.physical_ids, facts.types, facts.conditions, partition
    )
    role, statements = stack_policies.function_role_policies(template, facts, function)
    return iam.Principal(function, role, tuple(statements), facts.region, ACCOUNT, partition)


def facts() -> stack_policies.StackFacts:
    template = stack_policies.translated_template(TEMPLATE, PARAMETERS)
    return stack_policies.synthetic_facts(template, PARAMETERS)


@pytest.fixture(autouse=True)
def _stack_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No account here: the queues, topic and table of the stack are encrypted with its key, as template.yaml says
    (the integration tests read the key from the deployed resources)."""
    stack = facts()
    key = stack.arn_of("DataKey")
    ours = {stack.arn_of(name) for name in ("ArrivalsQueue", "AlertsTopic", "LedgerTable", "TrackerFailuresQueue")}

    def encryption_key(service: str, arn: str, region: str) -> str | None:
        return key if arn.split("/index/")[0] in ours else None

    monkeypatch.setattr(iam_requests, "_encryption_key", encryption_key)


def denials(who: iam.Principal, service: str, operation: str, params: dict[str, Any]) -> list[str]:
    return [str(denial) for denial in iam.authorize(who, model(service), operation, params, "us-east-1")]


def _settings() -> Any:
    return settings(
        emr_serverless_job_role_arn=f"arn:aws:iam::{ACCOUNT}:role/serverless-job",
        emr_eks_job_role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks-job",
    )


class _NoActive:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


# ------------------------------------------------------------------ the launcher's starts
def test_launcher_may_start_a_cluster_with_the_request_it_builds() -> None:
    # Given the RunJobFlow request the launcher builds for a job
    request = build_run_job_flow_request(job(), route(tags={"team": "data"}), _settings())
    # When IAM decides it for the launcher's role: RunJobFlow on "*" with its request tags, and PassRole of
    # the service role (to EMR) and the instance profile's role (to EC2)
    found = denials(principal("LauncherFunction"), "emr", "RunJobFlow", request)
    # Then every part is allowed
    assert found == []


def test_a_cluster_without_the_managed_by_tag_is_refused() -> None:
    # Given a RunJobFlow request without the managed-by tag
    request = build_run_job_flow_request(job(), route(), _settings())
    request["Tags"] = [tag for tag in request["Tags"] if tag["Key"] != "managed-by"]
    # Then IAM refuses it, naming the statement that came closest and the condition that did not hold
    (found,) = denials(principal("LauncherFunction"), "emr", "RunJobFlow", request)
    assert "elasticmapreduce:RunJobFlow on *" in found
    assert "StartTaggedClusters" in found
    assert "elasticmapreduce:RequestTag/managed-by" in found


def test_passing_another_role_is_refused() -> None:
    # Given a RunJobFlow request that passes a service role the stack was not given
    request = build_run_job_flow_request(job(), route(), _settings())
    request["ServiceRole"] = "AdminRole"
    # Then IAM refuses the PassRole, on that role's ARN
    (found,) = denials(principal("LauncherFunction"), "emr", "RunJobFlow", request)
    assert f"iam:PassRole on arn:aws:iam::{ACCOUNT}:role/AdminRole" in found


def test_passed_to_service_matches_in_other_partitions() -> None:
    # Given the launcher in the China partition, where service principals end in amazonaws.com.cn
    launcher = principal("LauncherFunction", partition="aws-cn")
    request = iam.AuthorizationRequest(
        sar.action("iam:PassRole"),
        f"arn:aws-cn:iam::{ACCOUNT}:role/EMR_DefaultRole",
        None,
        None,
        {"iam:passedtoservice": ["elasticmapreduce.amazonaws.com.cn"]},
    )
    # Then passing the EMR service role to EMR there is allowed too
    assert iam.decide(launcher, request, "cn-north-1").allowed


def test_launcher_may_start_serverless_and_eks_job_runs_as_their_job_roles() -> None:
    launcher = principal("LauncherFunction")
    # Given the StartJobRun requests of both job-run engines
    serverless = EmrServerlessEngine(_settings(), active_jobs=_NoActive()).build_start_job_run_request(
        job(engine="emr-serverless"), route("emr-serverless")
    )
    eks = EmrEksEngine(_settings()).build_start_job_run_request(job(engine="emr-eks"), route("emr-eks"))
    # Then IAM allows both (EMR Serverless with PassRole of its job role; EMR on EKS by ExecutionRoleArn)
    assert denials(launcher, "emr-serverless", "StartJobRun", serverless) == []
    assert denials(launcher, "emr-containers", "StartJobRun", eks) == []
    # And an EKS run as any other role is refused
    other = {**eks, "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}
    (found,) = denials(launcher, "emr-containers", "StartJobRun", other)
    assert "emr-containers:ExecutionRoleArn" in found


def test_launcher_publishes_alerts_only_to_the_alerts_topic() -> None:
    launcher = principal("LauncherFunction")
    topic = facts().physical_ids["AlertsTopic"]
    # Then publishing to the stack's topic is allowed (with the stack's key, which SNS uses on its behalf), to any
    # other topic refused
    assert denials(launcher, "sns", "Publish", {"TopicArn": topic, "Message": "m"}) == []
    other = f"arn:aws:sns:us-east-1:{ACCOUNT}:someone-elses"
    assert denials(launcher, "sns", "Publish", {"TopicArn": other, "Message": "m"}) != []


# ------------------------------------------------------------------ evaluation rules
def _terminate(tags: dict[str, str] | None) -> iam.AuthorizationRequest:
    action = sar.action("elasticmapreduce:TerminateJobFlows")
    arn = f"arn:aws:elasticmapreduce:us-east-1:{ACCOUNT}:cluster/j-1"
    return iam.AuthorizationRequest(action, arn, action.resource_types[0], None, {}, lambda: tags)


@pytest.mark.parametrize("function", ["TrackerFunction", "SweeperFunction"])
def test_clusters_are_terminated_only_when_tagged_ours(function: str) -> None:
    who = principal(function)
    # Then a cluster tagged managed-by=emr-dispatch may be terminated; another, or an untagged one, not
    assert iam.decide(who, _terminate({"managed-by": "emr-dispatch"}), "us-east-1").allowed
    assert not iam.decide(who, _terminate({"managed-by": "someone"}), "us-east-1").allowed
    assert not iam.decide(who, _terminate(None), "us-east-1").allowed


def test_explicit_deny_wins_and_unknown_operators_fail_closed() -> None:
    action = sar.action("sqs:SendMessage")
    request = iam.AuthorizationRequest(action, f"arn:aws:sqs:us-east-1:{ACCOUNT}:q", action.resource_types[0], None)
    allow = {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    deny = {"Sid": "NoQ", "Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:*:*:q"}
    # Given an Allow and a matching Deny
    decision = iam.decide(iam.Principal("p", "r", (allow, deny)), request, "us-east-1")
    # Then the Deny wins
    assert not decision.allowed
    assert "NoQ" in decision.reason
    # And an operator the checker cannot evaluate is a denial, never a pass
    odd = {**allow, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}
    with pytest.raises(iam.CannotEvaluateError):
        iam.decide(iam.Principal("p", "r", (odd,)), request, "us-east-1")


def test_unmapped_actions_and_unbuildable_arns_fail_closed() -> None:
    launcher = principal("LauncherFunction")
    # Given a call whose resource ARN cannot be built from the request (no QueueUrl)
    (found,) = denials(launcher, "sqs", "SendMessage", {"MessageBody": "b"})
    # Then it is denied, saying why
    assert "cannot be evaluated, failing closed" in found
    assert "no ARN of its resource types" in found


def test_calls_iam_does_not_authorize_are_allowed() -> None:
    # Given STS GetCallerIdentity, which needs no permission (STS API reference)
    # Then nobody is refused it
    assert denials(principal("TrackerFunction"), "sts", "GetCallerIdentity", {}) == []


def test_transactions_are_authorized_item_by_item() -> None:
    table = facts().physical_ids["LedgerTable"]
    items = [
        {"Put": {"TableName": table, "Item": {}}},
        {"Update": {"TableName": table, "Key": {}, "UpdateExpression": "SET a = :a"}},
    ]
    # Then the launcher's transaction is allowed as PutItem and UpdateItem on the table, and the tracker's
    # (no PutItem) is refused naming PutItem
    assert denials(principal("LauncherFunction"), "dynamodb", "TransactWriteItems", {"TransactItems": items}) == []
    (found,) = denials(principal("TrackerFunction"), "dynamodb", "TransactWriteItems", {"TransactItems": items})
    assert "dynamodb:PutItem" in found


def test_a_role_without_the_stack_key_cannot_send_to_its_encrypted_queue() -> None:
    # Given the launcher's role without its key statement
    launcher = principal("LauncherFunction")
    keyless = iam.Principal(
        launcher.name, launcher.role, tuple(s for s in launcher.statements if s.get("Sid") != "UseDataKey")
    )
    queue = facts().physical_ids["ArrivalsQueue"]
    # When it sends to the arrivals queue (encrypted with the stack's key)
    found = denials(keyless, "sqs", "SendMessage", {"QueueUrl": queue, "MessageBody": "b"})
    # Then SQS's use of the key on its behalf is refused: GenerateDataKey and Decrypt on the key
    assert [line.split(" may not call ")[1].split(" on ")[0] for line in found] == [
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
