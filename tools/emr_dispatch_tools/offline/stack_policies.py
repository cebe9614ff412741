"""The IAM policies of a deployed stack's roles, as CloudFormation resolves them: template.yaml translated by
samtranslator (as moto_stack deploys it), conditions evaluated from the stack's parameters, and Ref / Fn::Sub /
Fn::GetAtt / Fn::If / Fn::Join / AWS::NoValue resolved against the stack's physical resources.

Only the attributes the template's policies use are resolved (an ARN per resource type, as CloudFormation
documents each type's return values); anything else raises, so a policy is never checked half-resolved.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
"""moto's default account, the one the offline stack is deployed into."""

_NO_VALUE = object()


class UnresolvableError(ValueError):
    """An intrinsic function or attribute this resolver does not know: the policy cannot be checked."""


@dataclass(frozen=True)
class StackFacts:
    """What CloudFormation knows when it resolves a template: parameters, pseudo parameters, the physical id
    of every resource."""

    name: str
    region: str
    parameters: dict[str, str]
    physical_ids: dict[str, str]
    types: dict[str, str]
    conditions: dict[str, bool]
    partition: str = "aws"
    account: str = ACCOUNT

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name not in values:
            raise UnresolvableError(f"pseudo parameter {name}")
        return values[name]

    def arn_of(self, logical_id: str) -> str:
        """Fn::GetAtt <logical id>.Arn, per resource type (CloudFormation's documented return values)."""
        kind = self.types.get(logical_id)
        physical = self.physical_ids.get(logical_id)
        if kind is None or physical is None:
            raise UnresolvableError(f"{logical_id} is not a resource of stack {self.name}")
        p, r, a = self.partition, self.region, self.account
        arns = {
            "AWS::SQS::Queue": lambda: f"arn:{p}:sqs:{r}:{a}:{physical.rsplit('/', 1)[-1]}",
            "AWS::DynamoDB::Table": lambda: f"arn:{p}:dynamodb:{r}:{a}:table/{physical}",
            "AWS::KMS::Key": lambda: f"arn:{p}:kms:{r}:{a}:key/{physical}",
            "AWS::Logs::LogGroup": lambda: f"arn:{p}:logs:{r}:{a}:log-group:{physical}:*",
            "AWS::S3::Bucket": lambda: f"arn:{p}:s3:::{physical}",
            "AWS::IAM::Role": lambda: f"arn:{p}:iam::{a}:role/{physical}",
            "AWS::SNS::Topic": lambda: physical,
            "AWS::Lambda::Function": lambda: f"arn:{p}:lambda:{r}:{a}:function:{physical}",
            "AWS::Events::Rule": lambda: f"arn:{p}:events:{r}:{a}:rule/{physical}",
        }
        if kind not in arns:
            raise UnresolvableError(f"Fn::GetAtt {logical_id}.Arn of a {kind}")
        return arns[kind]()

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name.startswith("AWS::"):
            return self.pseudo(name)
        kind = self.types.get(name)
        if kind is None:
            raise UnresolvableError(f"Ref {name}")
        return self.physical_ids[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn_of(logical_id)
        if attribute == "QueueName" and self.types.get(logical_id) == "AWS::SQS::Queue":
            return self.physical_ids[logical_id].rsplit("/", 1)[-1]
        if attribute == "QueueUrl" and self.types.get(logical_id) == "AWS::SQS::Queue":
            return self.physical_ids[logical_id]
        if attribute == "TopicArn" and self.types.get(logical_id) == "AWS::SNS::Topic":
            return self.physical_ids[logical_id]
        raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}")


def resolve(value: Any, facts: StackFacts) -> Any:
    """`value` with every intrinsic function resolved; AWS::NoValue drops the list item / key holding it."""
    resolved = _resolve(value, facts)
    return None if resolved is _NO_VALUE else resolved


def _resolve(value: Any, facts: StackFacts) -> Any:
    if isinstance(value, list):
        items = [_resolve(item, facts) for item in value]
        return [item for item in items if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return _NO_VALUE if argument == "AWS::NoValue" else facts.ref(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return facts.get_att(logical_id, attribute)
        if key == "Fn::Sub":
            return _sub(argument, facts)
        if key == "Fn::If":
            name, when_true, when_false = argument
            if name not in facts.conditions:
                raise UnresolvableError(f"Fn::If on unknown condition {name}")
            return _resolve(when_true if facts.conditions[name] else when_false, facts)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in _resolve(items, facts))
        if key == "Fn::Select":
            index, items = argument
            return _resolve(items, facts)[int(_resolve(index, facts))]
        if key == "Fn::Split":
            separator, text = argument
            return str(_resolve(text, facts)).split(separator)
        if key.startswith("Fn::") or key == "Condition":
            raise UnresolvableError(f"{key} in a policy")
    resolved = {name: _resolve(item, facts) for name, item in value.items()}
    return {name: item for name, item in resolved.items() if item is not _NO_VALUE}


def _sub(argument: Any, facts: StackFacts) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
    extra = {name: _resolve(item, facts) for name, item in variables.items()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in extra:
            return str(extra[name])
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return facts.get_att(logical_id, attribute)
        return facts.ref(name)

    return re.sub(r"\$\{([^}]+)\}", replace, text)


def evaluate_conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    definitions = template.get("Conditions", {})
    results: dict[str, bool] = {}

    def value_of(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                if argument not in parameters:
                    raise UnresolvableError(f"condition refers to {argument}")
                return parameters[argument]
            if key == "Condition":
                return condition(argument)
            if key == "Fn::Equals":
                return str(value_of(argument[0])) == str(value_of(argument[1]))
            if key == "Fn::Not":
                return not value_of(argument[0])
            if key == "Fn::And":
                return all(value_of(item) for item in argument)
            if key == "Fn::Or":
                return any(value_of(item) for item in argument)
            raise UnresolvableError(f"{key} in a condition")
        return node

    def condition(name: str) -> bool:
        if name not in results:
            results[name] = bool(value_of(definitions[name]))
        return results[name]

    for name in definitions:
        condition(name)
    return results


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update(given)
    return values


@cache
def _translated(template_path: Path, parameters_json: str) -> dict[str, Any]:
    from emr_dispatch_tools import moto_stack

    sam_template = moto_stack.load_sam_template(template_path)
    for logical_id, resource in sam_template["Resources"].items():
        properties = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri"):  # only the roles are read: code locations just need to be S3 URIs
            if isinstance(properties.get(name), str):
                properties[name] = f"s3://offline-policies/{logical_id}.zip"
    # samtranslator reads the Region from a boto3 session (no call is made): give it one where none is set.
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = saved or "us-east-1"
    try:
        translated: dict[str, Any] = moto_stack.translate(sam_template, json.loads(parameters_json))
    finally:
        if saved is None:
            del os.environ["AWS_DEFAULT_REGION"]
    return translated


def translated_template(template_path: Path, parameters: dict[str, str]) -> dict[str, Any]:
    """template.yaml as samtranslator turns it into CloudFormation (cached per parameters; do not mutate)."""
    return _translated(template_path, json.dumps(parameters, sort_keys=True))


def stack_facts(
    template: dict[str, Any], name: str, region: str, given: dict[str, str], physical_ids: dict[str, str]
) -> StackFacts:
    parameters = parameter_values(template, given)
    types = {logical_id: resource["Type"] for logical_id, resource in template["Resources"].items()}
    return StackFacts(name, region, parameters, physical_ids, types, evaluate_conditions(template, parameters))


def function_role_policies(template: dict[str, Any], facts: StackFacts, function: str) -> tuple[str, list[Any]]:
    """(role name, resolved statements) of a function's execution role, in the translated template."""
    resources = template["Resources"]
    role = resources[function]["Properties"]["Role"]
    if not (isinstance(role, dict) and "Fn::GetAtt" in role):
        raise UnresolvableError(f"{function}'s Role is not a role of the stack: {role}")
    target = role["Fn::GetAtt"]
    role_id = target[0] if isinstance(target, list) else target.split(".")[0]
    properties = resources[role_id]["Properties"]
    if properties.get("ManagedPolicyArns"):
        raise UnresolvableError(f"{role_id} has managed policies, which this checker cannot read offline")
    statements: list[Any] = []
    for policy in properties.get("Policies", []):
        document = resolve(policy["PolicyDocument"], facts)
        found = document["Statement"]
        statements += found if isinstance(found, list) else [found]
    return facts.physical_ids.get(role_id) or role_id, statements


def synthetic_facts(
    template: dict[str, Any], parameters: dict[str, str], name: str = "emr-dispatch", region: str = "us-east-1"
) -> StackFacts:
    """Facts of a stack that is not deployed (unit tests, static checks): each resource gets the physical id
    CloudFormation would give it in form (queue URL, topic ARN, names from the logical id)."""
    physical: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        generated = f"{name}-{logical_id}-OFFLINE"
        if kind == "AWS::SQS::Queue":
            physical[logical_id] = f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{generated}"
        elif kind == "AWS::SNS::Topic":
            physical[logical_id] = f"arn:aws:sns:{region}:{ACCOUNT}:{generated}"
        elif kind == "AWS::KMS::Key":
            physical[logical_id] = "0f0f0f0f-0000-4000-8000-000000000000"
        elif kind == "AWS::S3::Bucket":
            physical[logical_id] = generated.lower()
        else:
            physical[logical_id] = generated
    return stack_facts(template, name, region, parameters, physical)


def role_statements(template: dict[str, Any], role_id: str, facts: StackFacts) -> list[Any]:
    """The resolved statements of one AWS::IAM::Role of the template."""
    statements: list[Any] = []
    for policy in template["Resources"][role_id]["Properties"].get("Policies", []):
        found = resolve(policy["PolicyDocument"], facts)["Statement"]
        statements += found if isinstance(found, list) else [found]
    return statements
