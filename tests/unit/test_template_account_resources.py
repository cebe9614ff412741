"""What the stack creates in the account beside its own: layer names carry the stack's name (two stacks in
one account never share a layer), and EMR's cleanup service-linked role is created only when asked."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from emr_dispatch_tools.moto_stack import load_sam_template

LONGEST_STACK_NAME = "s" * 128  # CloudFormation: stack names up to 128 characters, [a-zA-Z][-a-zA-Z0-9]*


def _resources() -> dict[str, Any]:
    return dict(load_sam_template()["Resources"])


def _layer_name_rule() -> re.Pattern[str]:
    shape = botocore.session.get_session().get_service_model("lambda").operation_model("PublishLayerVersion")
    pattern = shape.input_shape.members["LayerName"].metadata["pattern"]  # type: ignore[union-attr]
    return re.compile(pattern)


@pytest.mark.parametrize("logical_id", ["EmrDispatchLayer", "RoutesLayer"])
def test_layer_names_are_prefixed_with_the_stack_name_and_fit_lambdas_limit(logical_id: str) -> None:
    # Given the layer's name in template.yaml
    layer = _resources()[logical_id]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    name = layer["Properties"]["LayerName"]["Fn::Sub"]
    # Then it begins with the stack's name ...
    assert name.startswith("${AWS::StackName}-")
    # ... and for the longest stack name it is still a valid Lambda layer name (PublishLayerVersion LayerName)
    rendered = name.replace("${AWS::StackName}", LONGEST_STACK_NAME)
    assert _layer_name_rule().fullmatch(rendered)
    assert len(rendered) <= 140


def test_two_layers_of_one_stack_have_different_names() -> None:
    names = {
        _resources()[logical_id]["Properties"]["LayerName"]["Fn::Sub"]
        for logical_id in ("EmrDispatchLayer", "RoutesLayer")
    }
    assert len(names) == 2


def test_the_emr_cleanup_service_linked_role_is_created_only_on_request_and_kept_on_delete() -> None:
    # Given the template's parameters, conditions and the role resource
    template = load_sam_template()
    role = template["Resources"]["EmrCleanupServiceLinkedRole"]
    parameter = template["Parameters"]["CreateEmrServiceLinkedRole"]
    # Then it is EMR's (elasticmapreduce.amazonaws.com: AWSServiceRoleForEMRCleanup) ...
    assert role["Type"] == "AWS::IAM::ServiceLinkedRole"
    assert role["Properties"]["AWSServiceName"] == "elasticmapreduce.amazonaws.com"
    # ... created only when the parameter says so (creating an existing one fails the deploy), off by default ...
    assert parameter["Default"] == "false"
    assert template["Conditions"][role["Condition"]] == {"Fn::Equals": [{"Ref": "CreateEmrServiceLinkedRole"}, "true"]}
    # ... and never deleted with the stack: it is the account's, used by every EMR cluster
    assert role["DeletionPolicy"] == role["UpdateReplacePolicy"] == "Retain"


def _model_rule(service: str, operation: str, member: str) -> tuple[re.Pattern[str], int]:
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    metadata = shape.members[member].metadata  # type: ignore[union-attr]
    return re.compile(metadata["pattern"]), int(metadata["max"])


@pytest.mark.parametrize(
    ("parameter", "service", "operation", "member", "optional"),
    [
        ("EmrServiceRoleName", "iam", "GetRole", "RoleName", False),
        ("EmrServerlessJobRoleName", "iam", "GetRole", "RoleName", True),
        ("EmrEksJobRoleName", "iam", "GetRole", "RoleName", True),
        ("EmrInstanceProfileName", "iam", "GetInstanceProfile", "InstanceProfileName", False),
        ("EmrServerlessApplicationId", "emr-serverless", "StartJobRun", "applicationId", True),
        ("EmrServerlessHiveApplicationId", "emr-serverless", "StartJobRun", "applicationId", True),
        ("EmrEksVirtualClusterId", "emr-containers", "StartJobRun", "virtualClusterId", True),
    ],
)
def test_parameters_refuse_at_deploy_what_the_api_would_refuse_at_every_start(
    parameter: str, service: str, operation: str, member: str, optional: bool
) -> None:
    # Given the parameter's AllowedPattern and the API member its value becomes
    declared = load_sam_template()["Parameters"][parameter]
    allowed = re.compile(declared["AllowedPattern"])
    model_pattern, model_max = _model_rule(service, operation, member)
    # Then its default passes, and values are judged as the model judges them (empty only where optional)
    assert allowed.fullmatch(declared["Default"])
    for value in ("EMR_DefaultRole", "00fabc123", "x" * model_max, "x" * (model_max + 1), "has space", "a/b", "ABC"):
        api_accepts = bool(model_pattern.fullmatch(value)) and len(value) <= model_max
        assert bool(allowed.fullmatch(value)) == api_accepts, value
    assert bool(allowed.fullmatch("")) == optional
