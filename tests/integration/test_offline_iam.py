"""The offline IAM checker against the deployed stack (moto): functions act as their template roles, the CLI as
docs/operator-policy.json, targets' tags and encryption keys read from the account."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from emr_dispatch.errors import LedgerError
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.cli import app
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline import iam
from emr_dispatch_tools.offline.principals import OPERATOR_POLICY, function_principal, operator_principal
from moto_helpers import launch_classic

REGION = "us-east-1"


def test_jobs_cancel_runs_as_the_operator_and_is_allowed(stack: DeployedStack) -> None:
    # Given a job running on its own cluster
    launched = launch_classic(stack)
    before = iam.LEDGER.by_principal["operator"]
    # When an operator cancels it through the CLI
    result = CliRunner().invoke(app, ["jobs", "cancel", launched.job_id, "--stack", stack.name, "-o", "json"])
    # Then every call of the command was authorized against the operator policy, and all were allowed (a denial
    # would fail this test through the plugin): the cluster's managed-by tag allowed TerminateJobFlows
    assert result.exit_code == 0, result.output
    assert iam.LEDGER.by_principal["operator"] > before
    assert json.loads(result.stdout)["state"] == "CANCELLED"


def test_an_operator_without_the_stack_key_cannot_read_the_ledger(stack: DeployedStack, tmp_path: Any) -> None:
    # Given the operator policy without its key statement
    policy = json.loads(OPERATOR_POLICY.read_text(encoding="utf-8"))
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "UseTheStackKey"]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    # When it reads the ledger (encrypted with the stack's customer-managed key)
    with (
        iam.acting_as(operator_principal(stack, path)),
        iam.denials_expected() as denied,
        pytest.raises(LedgerError, match="kms:Decrypt"),
    ):
        list(ledger.list_jobs())
    # Then DynamoDB's use of the key on its behalf is refused: kms:Decrypt on the stack's key
    assert [(d.action, d.resource.split(":")[2]) for d in denied] == [("kms:Decrypt", "kms")]


def test_a_call_outside_the_role_is_refused_naming_role_action_and_resource(stack: DeployedStack) -> None:
    # Given the tracker's role, which may not start clusters
    emr = boto3.client("emr", region_name=REGION)
    tracker = function_principal(stack, "TrackerFunction")
    # When a call inside its invocation tries
    request: dict[str, Any] = {"Name": "x", "Instances": {}, "Tags": [{"Key": "managed-by", "Value": "emr-dispatch"}]}
    with iam.acting_as(tracker), iam.denials_expected() as denied, pytest.raises(ClientError) as refused:
        emr.run_job_flow(**request)
    # Then it is refused as IAM would, before moto sees it, naming the role, the action and the resource
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    (denial,) = denied
    assert (denial.principal, denial.action, denial.resource) == ("TrackerFunction", "elasticmapreduce:RunJobFlow", "*")
    assert stack.resources["TrackerRole"] in str(refused.value)
    assert "no statement lists this action" in denial.reason


def test_stopping_a_cluster_that_is_not_ours_is_refused(stack: DeployedStack) -> None:
    # Given a cluster someone else started (not tagged managed-by=emr-dispatch)
    emr = boto3.client("emr", region_name=REGION)
    cluster_id = emr.run_job_flow(
        Name="someone-elses",
        ReleaseLabel="emr-7.5.0",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    # When the sweeper's role tries to terminate it
    with (
        iam.acting_as(function_principal(stack, "SweeperFunction")),
        iam.denials_expected() as denied,
        pytest.raises(ClientError),
    ):
        emr.terminate_job_flows(JobFlowIds=[cluster_id])
    # Then IAM refuses it on the resource-tag condition, read from the cluster itself
    (denial,) = denied
    assert denial.resource.endswith(f"cluster/{cluster_id}")
    assert "elasticmapreduce:ResourceTag/managed-by" in denial.reason


def test_tagging_a_version_is_authorized_as_the_version_action_on_the_landing_bucket_only(
    stack: DeployedStack,
) -> None:
    # Given an object version in the landing bucket and one in another bucket of the account
    s3 = boto3.client("s3", region_name=REGION)
    landing = stack.outputs["LandingBucketName"]
    s3.put_bucket_versioning(Bucket=landing, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=landing, Key="orders/a.csv", Body=b"x")["VersionId"]
    s3.create_bucket(Bucket="someone-elses-data")
    tracker = function_principal(stack, "TrackerFunction")
    tag_set: Any = {"TagSet": [{"Key": "emr-dispatch-state", "Value": "SUCCEEDED"}]}

    # When the tracker's role reads and writes the landing version's tags, then another bucket's object's
    with iam.acting_as(tracker):
        s3.get_object_tagging(Bucket=landing, Key="orders/a.csv", VersionId=version)
        s3.put_object_tagging(Bucket=landing, Key="orders/a.csv", VersionId=version, Tagging=tag_set)
    with iam.acting_as(tracker), iam.denials_expected() as denied, pytest.raises(ClientError):
        s3.put_object_tagging(
            Bucket="someone-elses-data", Key="a.csv", VersionId="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", Tagging=tag_set
        )

    # Then the landing bucket's calls were allowed (a denial fails the test through the plugin), and the other was
    # refused as the Version action a request with a VersionId needs (Service Authorization Reference, Amazon S3)
    (denial,) = denied
    assert (denial.action, denial.resource) == ("s3:PutObjectVersionTagging", "arn:aws:s3:::someone-elses-data/a.csv")
    assert s3.get_object_tagging(Bucket=landing, Key="orders/a.csv", VersionId=version)["TagSet"] == tag_set["TagSet"]


def test_the_checker_authorizes_a_versioned_tag_write_as_put_object_version_tagging() -> None:
    # Given a PutObjectTagging request with and without a VersionId / When expanded / Then the IAM actions differ
    params = {"Bucket": "b", "Key": "k", "Tagging": {"TagSet": []}}
    assert iam._expand("s3", "PutObjectTagging", params)[0][0] == "PutObjectTagging"
    assert iam._expand("s3", "PutObjectTagging", {**params, "VersionId": "v"})[0][0] == "PutObjectVersionTagging"
    assert iam._expand("s3", "GetObjectTagging", {"Bucket": "b", "Key": "k", "VersionId": "v"})[0][0] == (
        "GetObjectVersionTagging"
    )
