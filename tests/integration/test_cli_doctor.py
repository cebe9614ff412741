"""emr-dispatch doctor against a stack deployed into moto: what CloudFormation cannot see is said clearly, with
the fix, and the exit code follows the CLI's table (0 healthy, 8 a problem, 6 no such stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto_patches import answer_eventbridge_configuration
from typer.testing import CliRunner

from emr_dispatch import wiring
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.cli import EXIT_NO_STACK, EXIT_UNHEALTHY, app
from emr_dispatch_tools.cli.doctor import EMR_CLEANUP_ROLE, bucket_region

REGION = "us-east-1"
STACK = "emr-dispatch-doctor"
runner = CliRunner()
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture
def account(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("EMR_DISPATCH_STACK", raising=False)
    answer_eventbridge_configuration(monkeypatch)
    with mock_aws():
        wiring.reset()
        try:
            yield
        finally:
            wiring.reset()


def _prepared_account() -> None:
    """What `aws emr create-default-roles` and an account's first cluster leave behind."""
    iam = boto3.client("iam", region_name=REGION)
    for name in ("EMR_DefaultRole", "EMR_EC2_DefaultRole"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST)
    iam.create_instance_profile(InstanceProfileName="EMR_EC2_DefaultRole")
    iam.create_role(
        RoleName=EMR_CLEANUP_ROLE,
        Path="/aws-service-role/elasticmapreduce.amazonaws.com/",
        AssumeRolePolicyDocument=_TRUST,
    )


def _brought_bucket(name: str, region: str, eventbridge: bool) -> None:
    s3 = boto3.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
    if eventbridge:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )


def _doctor() -> tuple[int, dict[str, str], dict[str, dict[str, str]]]:
    result = runner.invoke(app, ["doctor", "--stack", STACK, "--region", REGION, "--output", "json"])
    report = json.loads(result.stdout)
    return (
        result.exit_code,
        {c["name"]: c["status"] for c in report["checks"]},
        {c["name"]: c for c in report["checks"]},
    )


def test_a_prepared_account_with_a_good_brought_bucket_is_healthy(account: None) -> None:
    # Given default EMR roles, EMR's cleanup role, and a brought landing bucket in the stack's Region with
    # EventBridge notifications on
    _prepared_account()
    _brought_bucket("partner-drops", REGION, eventbridge=True)
    moto_stack.deploy(STACK, parameters={"LandingBucketName": "partner-drops"}, region=REGION)
    # When the doctor checks the stack
    code, statuses, checks = _doctor()
    # Then everything it checks is fine and it exits 0
    assert code == 0, checks
    assert "problem" not in statuses.values()
    assert statuses["landing bucket region"] == statuses["landing bucket events"] == "ok"
    assert statuses["EMR cleanup service-linked role"] == "ok"


def test_a_bucket_in_another_region_without_eventbridge_and_missing_roles_are_each_named(account: None) -> None:
    # Given a fresh account (no EMR roles, no cleanup role) and a brought bucket in eu-west-1, EventBridge off
    _brought_bucket("partner-drops-eu", "eu-west-1", eventbridge=False)
    moto_stack.deploy(STACK, parameters={"LandingBucketName": "partner-drops-eu"}, region=REGION)
    # When the doctor checks the stack
    code, statuses, checks = _doctor()
    # Then it exits 9 (EXIT_UNHEALTHY) and names each problem with its fix
    assert code == EXIT_UNHEALTHY
    for name in (
        "landing bucket region",
        "landing bucket events",
        "EMR cleanup service-linked role",
        "EMR service role (RunJobFlow ServiceRole)",
        "EMR instance profile (RunJobFlow JobFlowRole)",
    ):
        assert statuses[name] == "problem", name
    assert "eu-west-1" in checks["landing bucket region"]["message"]
    assert "EventBridgeConfiguration" in checks["landing bucket events"]["fix"]
    assert "create-service-linked-role" in checks["EMR cleanup service-linked role"]["fix"]
    assert "CreateEmrServiceLinkedRole=true" in checks["EMR cleanup service-linked role"]["fix"]


def test_the_table_output_says_problems_in_words(account: None) -> None:
    moto_stack.deploy(STACK, region=REGION)
    result = runner.invoke(app, ["doctor", "--stack", STACK, "--region", REGION])
    assert result.exit_code == EXIT_UNHEALTHY
    assert "PROBLEM" in result.stdout
    assert "fix: aws iam create-service-linked-role" in result.stdout


def test_no_such_stack_exits_6(account: None) -> None:
    result = runner.invoke(app, ["doctor", "--stack", "nope", "--region", REGION])
    assert result.exit_code == EXIT_NO_STACK


@pytest.mark.parametrize(("location", "region"), [({}, "us-east-1"), ({"LocationConstraint": "EU"}, "eu-west-1")])
def test_bucket_locations_read_as_regions(location: dict[str, str], region: str) -> None:
    assert bucket_region(location) == region


def test_the_serverless_applications_are_checked_for_the_type_their_jobs_need(account: None) -> None:
    # Given a stack deployed with a SPARK and a HIVE application, as moto_stack.deploy_with_engines makes
    moto_stack.deploy_with_engines(STACK, region=REGION)
    # When the doctor checks it
    _, statuses, checks = _doctor()
    # Then both applications are found of the right type
    assert statuses["EMR Serverless application"] == "ok", checks["EMR Serverless application"]
    assert statuses["EMR Serverless Hive application"] == "ok", checks["EMR Serverless Hive application"]
    assert "(HIVE)" in checks["EMR Serverless Hive application"]["message"]


def test_a_spark_application_named_as_the_hive_application_is_a_problem_with_its_fix(account: None) -> None:
    # Given a stack whose Hive application parameter names an application of type SPARK
    spark = boto3.client("emr-serverless", region_name=REGION).create_application(
        name="spark-only", releaseLabel="emr-7.5.0", type="SPARK", clientToken="doctor-spark"
    )["applicationId"]
    moto_stack.deploy(STACK, parameters={"EmrServerlessHiveApplicationId": spark}, region=REGION)
    # When the doctor checks it
    code, statuses, checks = _doctor()
    # Then the Hive application is a problem naming the type found and needed, and how to fix it
    assert code == EXIT_UNHEALTHY
    assert statuses["EMR Serverless Hive application"] == "problem"
    # (GetApplication spells types "Spark"/"Hive", CreateApplication takes "SPARK"/"HIVE": compared either way)
    assert "type spark" in checks["EMR Serverless Hive application"]["message"].lower()
    assert "--type HIVE" in checks["EMR Serverless Hive application"]["fix"]
    # And an empty parameter is skipped, not a problem (routes may name their own)
    assert statuses["EMR Serverless application"] == "skipped"
