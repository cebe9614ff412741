"""Who is calling, offline: a deployed function's execution role (its statements resolved from template.yaml as
the deployed stack resolves them), or the operator running the CLI (docs/operator-policy.json)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emr_dispatch_tools.offline import iam_requests, stack_policies
from emr_dispatch_tools.offline.checks import suspended
from emr_dispatch_tools.offline.iam import Principal

if TYPE_CHECKING:
    from emr_dispatch_tools.moto_stack import DeployedStack

OPERATOR_POLICY = Path(__file__).resolve().parents[3] / "docs" / "operator-policy.json"

_cache: dict[tuple[Any, ...], Principal] = {}


def _facts(stack: DeployedStack, template: dict[str, Any]) -> stack_policies.StackFacts:
    return stack_policies.stack_facts(template, stack.name, stack.region, stack.parameters, stack.resources)


def function_principal(stack: DeployedStack, logical_id: str) -> Principal:
    """The execution role of one of the stack's functions, as a Principal (cached per deployment)."""
    key = (
        "function",
        stack.name,
        stack.region,
        logical_id,
        frozenset(stack.parameters.items()),
        frozenset(stack.resources.items()),
        stack.template_path,
    )
    if key not in _cache:
        template = stack_policies.translated_template(stack.template_path, stack.parameters)
        facts = _facts(stack, template)
        role, statements = stack_policies.function_role_policies(template, facts, logical_id)
        _cache[key] = Principal(logical_id, role, tuple(statements), stack.region, facts.account, facts.partition)
    return _cache[key]


def operator_principal(stack: DeployedStack, policy_path: Path = OPERATOR_POLICY) -> Principal:
    """The operator policy docs/SECURITY.md documents, its ${...} placeholders resolved against the stack
    (Fn::Sub syntax: ${AWS::Region}, ${LedgerTable.Arn}, ${AlertsTopic}, ...)."""
    key = (
        "operator",
        stack.name,
        stack.region,
        frozenset(stack.parameters.items()),
        frozenset(stack.resources.items()),
        stack.template_path,
        policy_path,
    )
    if key not in _cache:
        template = stack_policies.translated_template(stack.template_path, stack.parameters)
        facts = _facts(stack, template)
        document = json.loads(policy_path.read_text(encoding="utf-8"))
        resolved = stack_policies.resolve(_as_sub(document, stack.outputs), facts)
        _cache[key] = Principal(
            "operator",
            "emr-dispatch-operator",
            tuple(resolved["Statement"]),
            stack.region,
            facts.account,
            facts.partition,
        )
    cached = _cache[key]
    # Not cached: buckets are set up to notify the queue while the stack lives.
    extra = _other_notifying_buckets(stack, cached.partition, cached.account)
    return replace(cached, statements=(*cached.statements, *extra)) if extra else cached


def _as_sub(value: Any, outputs: dict[str, str]) -> Any:
    """Every string holding ${...} becomes an Fn::Sub, so the stack's values fill it (the stack's outputs too:
    ${LandingBucketName} is the bucket the stack made or was given)."""
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": [value, dict(outputs)]}
    if isinstance(value, list):
        return [_as_sub(item, outputs) for item in value]
    if isinstance(value, dict):
        return {key: _as_sub(item, outputs) for key, item in value.items()}
    return value


def operator_for_stack(stack_name: str | None, region: str) -> Principal | None:
    """The operator principal for a stack deployed in this account (moto), or None when there is no such stack
    (the CLI then fails on its own: nothing to authorize against)."""
    if not stack_name:
        return None
    import boto3
    from botocore.exceptions import ClientError

    from emr_dispatch_tools import moto_stack

    with suspended():
        try:
            described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)
        except ClientError:
            return None
        given = {item["ParameterKey"]: item["ParameterValue"] for item in described["Stacks"][0].get("Parameters", [])}
        stack = moto_stack.attach(stack_name, region, parameters=given)
    return operator_principal(stack)


def _other_notifying_buckets(stack: DeployedStack, partition: str, account: str) -> list[dict[str, Any]]:
    """docs/SECURITY.md tells operators to grant `replay` the same read on every other bucket that notifies the
    arrivals queue: those buckets, read from the account."""
    queue_url = stack.outputs.get("ArrivalsQueueUrl", "")
    queue_arn = f"arn:{partition}:sqs:{stack.region}:{account}:{queue_url.rsplit('/', 1)[-1]}"
    buckets = []
    with suspended():
        s3 = iam_requests.harness_client("s3", stack.region)
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            configuration = s3.get_bucket_notification_configuration(Bucket=name)
            if name != stack.outputs.get("LandingBucketName") and any(
                queue.get("QueueArn") == queue_arn for queue in configuration.get("QueueConfigurations", [])
            ):
                buckets.append(name)
    if not buckets:
        return []
    resources = [f"arn:{partition}:s3:::{name}{suffix}" for name in buckets for suffix in ("", "/*")]
    return [
        {
            "Sid": "ReplayFromOtherNotifyingBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetObject"],
            "Resource": resources,
        }
    ]
