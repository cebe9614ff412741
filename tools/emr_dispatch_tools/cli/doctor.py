"""emr-dispatch doctor: check a deployed stack against what AWS needs of the account around it.

What CloudFormation cannot check for the stack, because it is not the stack's: a brought landing bucket in the
stack's Region with EventBridge notifications on (else nothing ever arrives, silently), the roles its parameters
name, EMR's cleanup service-linked role (a fresh account's first cluster fails without it), the EMR Serverless
application and EMR on EKS virtual cluster its parameters name. Read-only: it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import typer
from botocore.exceptions import ClientError

from emr_dispatch_tools.cli.common import (
    EXIT_UNHEALTHY,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    StackOption,
    command,
    console,
    print_json,
)

EMR_CLEANUP_ROLE = "AWSServiceRoleForEMRCleanup"
"""EMR's cleanup service-linked role (elasticmapreduce.amazonaws.com), made on an account's first cluster by a
caller allowed iam:CreateServiceLinkedRole (Amazon EMR Management Guide, "Using service-linked roles for cleanup")."""

OK, PROBLEM, SKIPPED = "ok", "problem", "skipped"
_DEFAULT_ROLES_HINT = ": `aws emr create-default-roles` makes EMR_DefaultRole"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | problem | skipped
    message: str
    fix: str = ""


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchEntity", "NoSuchBucket", "ResourceNotFoundException", "404", "NotFound")


def bucket_region(location: dict[str, Any]) -> str:
    """GetBucketLocation's answer as a Region: no constraint is us-east-1, and the legacy "EU" is eu-west-1."""
    constraint = location.get("LocationConstraint") or "us-east-1"
    return {"EU": "eu-west-1"}.get(str(constraint), str(constraint))


class Doctor:
    """The checks, over one deployment's clients (a moto account in tests)."""

    def __init__(self, client: Callable[[str], Any], region: str, parameters: dict[str, str], outputs: dict[str, str]):
        self._client = client
        self._region = region
        self._parameters = parameters
        self._outputs = outputs

    def run(self) -> list[Check]:
        return [
            *self.landing_bucket(),
            self.emr_cleanup_role(),
            self.role("EmrServiceRoleName", "EMR service role (RunJobFlow ServiceRole)"),
            self.instance_profile(),
            self.role("EmrServerlessJobRoleName", "EMR Serverless job role"),
            self.role("EmrEksJobRoleName", "EMR on EKS job role"),
            self.serverless_application(),
            self.serverless_hive_application(),
            self.virtual_cluster(),
        ]

    # ------------------------------------------------------------------ landing bucket
    def landing_bucket(self) -> list[Check]:
        brought = self._parameters.get("LandingBucketName", "")
        bucket = brought or self._outputs.get("LandingBucketName", "")
        whose = "brought" if brought else "stack's"
        if not bucket:
            return [Check("landing bucket", PROBLEM, "the stack names no landing bucket: is it an emr-dispatch stack?")]
        s3 = self._client("s3")
        try:
            region = bucket_region(s3.get_bucket_location(Bucket=bucket))
        except ClientError as exc:
            if not _missing(exc):
                raise
            return [
                Check(
                    "landing bucket",
                    PROBLEM,
                    f"{whose} landing bucket {bucket} does not exist (or is not this account's)",
                    "create it, or redeploy with LandingBucketName set to an existing bucket",
                )
            ]
        checks = []
        if region != self._region:
            checks.append(
                Check(
                    "landing bucket region",
                    PROBLEM,
                    f"{whose} landing bucket {bucket} is in {region}, the stack in {self._region}: S3 sends its"
                    " EventBridge events only to the bucket's own Region, so no arrival would ever reach the stack",
                    f"deploy the stack in {region}, or land files in a bucket of {self._region}",
                )
            )
        else:
            checks.append(Check("landing bucket region", OK, f"{bucket} is in {region}, like the stack"))
        notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
        if "EventBridgeConfiguration" in notifications:
            checks.append(Check("landing bucket events", OK, f"{bucket} sends its events to EventBridge"))
        else:
            checks.append(
                Check(
                    "landing bucket events",
                    PROBLEM,
                    f"{bucket} has EventBridge notifications off: no arrival reaches the stack",
                    f"aws s3api put-bucket-notification-configuration --bucket {bucket} --notification-configuration"
                    " '{\"EventBridgeConfiguration\": {}}' (keeps no other configuration: merge with"
                    " get-bucket-notification-configuration's if the bucket has some)",
                )
            )
        return checks

    # ------------------------------------------------------------------ roles
    def emr_cleanup_role(self) -> Check:
        name = "EMR cleanup service-linked role"
        try:
            self._client("iam").get_role(RoleName=EMR_CLEANUP_ROLE)
        except ClientError as exc:
            if not _missing(exc):
                raise
            return Check(
                name,
                PROBLEM,
                f"{EMR_CLEANUP_ROLE} does not exist: EMR creates it at an account's first cluster only for a caller"
                " allowed iam:CreateServiceLinkedRole, which the launcher is not, so EMR on EC2 starts would fail",
                "aws iam create-service-linked-role --aws-service-name elasticmapreduce.amazonaws.com"
                " (once per account), or redeploy with CreateEmrServiceLinkedRole=true",
            )
        return Check(name, OK, f"{EMR_CLEANUP_ROLE} exists")

    def role(self, parameter: str, what: str) -> Check:
        role_name = self._parameters.get(parameter, "")
        if not role_name:
            return Check(what, SKIPPED, f"{parameter} is empty: routes of that engine cannot start")
        try:
            self._client("iam").get_role(RoleName=role_name)
        except ClientError as exc:
            if not _missing(exc):
                raise
            return Check(
                what,
                PROBLEM,
                f"role {role_name} ({parameter}) does not exist: every start of that engine would be refused",
                "create it (docs/SECURITY.md lists what it needs) or redeploy naming an existing role"
                + (
                    ": `aws emr create-default-roles` makes EMR_DefaultRole"
                    if parameter == "EmrServiceRoleName"
                    else ""
                ),
            )
        return Check(what, OK, f"role {role_name} exists")

    def instance_profile(self) -> Check:
        what = "EMR instance profile (RunJobFlow JobFlowRole)"
        name = self._parameters.get("EmrInstanceProfileName", "")
        if not name:
            return Check(what, SKIPPED, "EmrInstanceProfileName is empty")
        try:
            self._client("iam").get_instance_profile(InstanceProfileName=name)
        except ClientError as exc:
            if not _missing(exc):
                raise
            return Check(
                what,
                PROBLEM,
                f"instance profile {name} does not exist: EMR on EC2 clusters could not start",
                "`aws emr create-default-roles` makes EMR_EC2_DefaultRole, or redeploy naming an existing one",
            )
        return Check(what, OK, f"instance profile {name} exists")

    # ------------------------------------------------------------------ engines
    def serverless_application(self) -> Check:
        return self._serverless_application("EMR Serverless application", "EmrServerlessApplicationId", "SPARK")

    def serverless_hive_application(self) -> Check:
        return self._serverless_application("EMR Serverless Hive application", "EmrServerlessHiveApplicationId", "HIVE")

    def _serverless_application(self, what: str, parameter: str, kind: str) -> Check:
        """The application a stack parameter names: it exists, can still run jobs, and is of the type its jobs
        need (a Hive job runs only on an application of type HIVE, a Spark job on SPARK: EMR Serverless User
        Guide; StartJobRun on the wrong type is refused at every start)."""
        application_id = self._parameters.get(parameter, "")
        if not application_id:
            return Check(what, SKIPPED, f"{parameter} is empty (routes may name their own)")
        try:
            application = self._client("emr-serverless").get_application(applicationId=application_id)["application"]
        except ClientError as exc:
            if not _missing(exc):
                raise
            return Check(what, PROBLEM, f"application {application_id} does not exist in {self._region}")
        state = application.get("state", "?")
        if state == "TERMINATED":
            return Check(what, PROBLEM, f"application {application_id} is TERMINATED: no job can run on it")
        found = str(application.get("type", "?"))
        if found.upper() != kind:
            return Check(
                what,
                PROBLEM,
                f"application {application_id} is of type {found}: {parameter} needs one of type {kind}",
                f"create an application with --type {kind} and redeploy with {parameter} set to its id",
            )
        return Check(what, OK, f"application {application_id} ({kind}) is {state}")

    def virtual_cluster(self) -> Check:
        what = "EMR on EKS virtual cluster"
        cluster_id = self._parameters.get("EmrEksVirtualClusterId", "")
        if not cluster_id:
            return Check(what, SKIPPED, "EmrEksVirtualClusterId is empty (routes may name their own)")
        try:
            cluster = self._client("emr-containers").describe_virtual_cluster(id=cluster_id)["virtualCluster"]
        except ClientError as exc:
            if not _missing(exc):
                raise
            return Check(what, PROBLEM, f"virtual cluster {cluster_id} does not exist in {self._region}")
        state = cluster.get("state", "?")
        if state != "RUNNING":
            return Check(what, PROBLEM, f"virtual cluster {cluster_id} is {state}: job runs need it RUNNING")
        return Check(what, OK, f"virtual cluster {cluster_id} is RUNNING")


def stack_parameters(deployment: Deployment) -> dict[str, str]:
    stacks = deployment.client("cloudformation").describe_stacks(StackName=deployment.stack)["Stacks"]
    return {item["ParameterKey"]: item.get("ParameterValue", "") for item in stacks[0].get("Parameters", [])}


_MARKS = {OK: "[green]ok[/]     ", PROBLEM: "[bold red]PROBLEM[/]", SKIPPED: "[dim]skipped[/]"}


@command
def doctor(
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Check a deployed stack's surroundings: the landing bucket's Region and EventBridge notifications, the
    roles its parameters name, EMR's service-linked role, the engines it points at. Read-only; exits 9 when
    something needs fixing."""
    deployment = Deployment.connect(stack, region, profile)
    outputs = deployment.outputs  # also says "no such stack" (exit 6) before anything else
    doctor_ = Doctor(deployment.client, deployment.region, stack_parameters(deployment), outputs)
    checks = doctor_.run()
    problems = [check for check in checks if check.status == PROBLEM]
    if output is Output.json:
        print_json({"stack": deployment.stack, "healthy": not problems, "checks": [asdict(c) for c in checks]})
    else:
        for check in checks:
            console.print(f"{_MARKS[check.status]}  {check.name}: ", end="", highlight=False)
            console.print(check.message, markup=False, highlight=False)
            if check.fix and check.status == PROBLEM:
                console.print(f"           fix: {check.fix}", markup=False, highlight=False)
        console.print(
            f"{deployment.stack}: {len(problems)} problem(s)" if problems else f"{deployment.stack}: healthy",
            highlight=False,
            markup=False,
        )
    if problems:
        raise typer.Exit(EXIT_UNHEALTHY)
