"""What `make e2e` creates in the account beside the stack, each paired with its removal at the moment it is made.

Cleanup runs in reverse order whatever happened before it (an assertion, an error, Ctrl-C); a removal that fails
is reported with what was left behind, and the run fails, but the other removals still run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from emr_dispatch_tools.e2e import plan

Say = Callable[[str], None]


@dataclass
class Cleanup:
    """Removals, run newest first."""

    say: Say
    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)

    def add(self, what: str, remove: Callable[[], None]) -> None:
        self.steps.append((what, remove))

    def run(self) -> list[str]:
        while self.steps:
            what, remove = self.steps.pop()
            try:
                remove()
                self.say(f"removed {what}")
            except Exception as exc:  # noqa: BLE001 - every removal is attempted; each failure is reported
                self.left_behind.append(f"{what}: {exc}")
                self.say(f"could not remove {what}: {exc}")
        return self.left_behind


class Account:
    """The account's clients and the test's own resources (role, application, queues, rule, buckets)."""

    def __init__(self, client: Callable[[str], Any], region: str, account_id: str, cleanup: Cleanup, say: Say):
        self.client: Callable[[str], Any] = functools.cache(client)  # one client per service for the whole run
        self.region = region
        self.account_id = account_id
        self.cleanup = cleanup
        self.say = say
        self.sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ buckets
    def create_bucket(self, name: str) -> None:
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        self.cleanup.add(f"bucket {name}", lambda: self.delete_bucket(name))

    def empty_bucket(self, name: str) -> None:
        """Every object version and delete marker (the stack's landing bucket is versioned)."""
        s3 = self.client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            doomed = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for kind in ("Versions", "DeleteMarkers")
                for item in page.get(kind, [])
            ]
            if doomed:
                s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})

    def delete_bucket(self, name: str) -> None:
        try:
            self.empty_bucket(name)
            self.client("s3").delete_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise

    # ------------------------------------------------------------------ job role
    def create_job_role(self, name: str) -> str:
        iam = self.client("iam")
        arn = str(
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(plan.job_role_trust(self.account_id)),
                Description="emr-dispatch make e2e: EMR Serverless job runtime role (deleted at the end)",
            )["Role"]["Arn"]
        )
        self.cleanup.add(f"IAM role {name}", lambda: self.delete_role(name))
        return arn

    def grant_job_role(self, name: str, policy: dict[str, Any]) -> None:
        self.client("iam").put_role_policy(RoleName=name, PolicyName="documented", PolicyDocument=json.dumps(policy))

    def delete_role(self, name: str) -> None:
        iam = self.client("iam")
        for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)

    # ------------------------------------------------------------------ EMR Serverless application
    def create_application(self, name: str) -> str:
        """A small Spark application, stopped until emr-dispatch starts it, tagged for emr-dispatch to stop it."""
        serverless = self.client("emr-serverless")
        application_id = str(
            serverless.create_application(
                name=name,
                releaseLabel=plan.RELEASE_LABEL,
                type="SPARK",
                maximumCapacity={"cpu": "8 vCPU", "memory": "32 GB"},
                autoStartConfiguration={"enabled": True},
                autoStopConfiguration={"enabled": True, "idleTimeoutMinutes": 15},
                tags={"managed-by": "emr-dispatch"},
            )["applicationId"]
        )
        self.cleanup.add(
            f"EMR Serverless application {application_id}", lambda: self.delete_application(application_id)
        )
        return application_id

    def application_state(self, application_id: str) -> str:
        return str(self.client("emr-serverless").get_application(applicationId=application_id)["application"]["state"])

    def delete_application(self, application_id: str, patience_seconds: float = 600) -> None:
        serverless = self.client("emr-serverless")
        deadline = time.monotonic() + patience_seconds
        while (state := self.application_state(application_id)) not in ("CREATED", "STOPPED", "TERMINATED"):
            if state == "STARTED":
                with contextlib.suppress(ClientError):  # already stopping: keep waiting
                    serverless.stop_application(applicationId=application_id)
            if time.monotonic() > deadline:
                raise TimeoutError(f"application {application_id} is still {state}")
            self.sleep(10)
        if state != "TERMINATED":
            serverless.delete_application(applicationId=application_id)

    # ------------------------------------------------------------------ queues and the probe rule
    def create_queue(self, name: str) -> tuple[str, str]:
        sqs = self.client("sqs")
        url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
        self.cleanup.add(f"queue {name}", lambda: sqs.delete_queue(QueueUrl=url))
        arn = str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
        return url, arn

    def subscribe(self, topic_arn: str, queue_url: str, queue_arn: str) -> None:
        self.client("sqs").set_queue_attributes(
            QueueUrl=queue_url, Attributes={"Policy": plan.queue_policy(queue_arn, "sns.amazonaws.com", topic_arn)}
        )
        sns = self.client("sns")
        subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)
        arn = subscription["SubscriptionArn"]
        self.cleanup.add(f"subscription {arn}", lambda: sns.unsubscribe(SubscriptionArn=arn))

    def create_probe_rule(self, name: str, landing_bucket: str, queue_url: str, queue_arn: str) -> None:
        events = self.client("events")
        rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(plan.probe_pattern(landing_bucket)))["RuleArn"]
        self.cleanup.add(f"EventBridge rule {name}", lambda: self._delete_rule(name))
        self.client("sqs").set_queue_attributes(
            QueueUrl=queue_url, Attributes={"Policy": plan.queue_policy(queue_arn, "events.amazonaws.com", rule_arn)}
        )
        events.put_targets(Rule=name, Targets=[{"Id": "probe-queue", "Arn": queue_arn}])

    def _delete_rule(self, name: str) -> None:
        events = self.client("events")
        events.remove_targets(Rule=name, Ids=["probe-queue"])
        events.delete_rule(Name=name)

    def receive(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message waiting now, bodies parsed, deleted once read."""
        sqs = self.client("sqs")
        bodies = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    # ------------------------------------------------------------------ the stack
    def stack_outputs(self, stack: str) -> dict[str, str]:
        found = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        return {item["OutputKey"]: item["OutputValue"] for item in found.get("Outputs", [])}

    def stack_resources(self, stack: str) -> dict[str, str]:
        pages = self.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack)
        return {
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for p in pages for r in p["StackResourceSummaries"]
        }

    def delete_stack(self, stack: str) -> None:
        """Empty the stack's buckets, delete the stack, then what it retains (ledger table, KMS key). Also for a
        stack whose creation failed (rolled back): whatever it still holds goes."""
        try:
            outputs, resources = self.stack_outputs(stack), self.stack_resources(stack)
        except ClientError as exc:
            if "does not exist" in str(exc):
                return
            raise
        for output in ("LandingBucketName", "WorkBucketName"):
            if outputs.get(output):
                self.empty_bucket(outputs[output])
        cloudformation = self.client("cloudformation")
        cloudformation.delete_stack(StackName=stack)
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 120}
        )
        if outputs.get("LedgerTableName"):
            with contextlib.suppress(ClientError):
                self.client("dynamodb").delete_table(TableName=outputs["LedgerTableName"])
        if resources.get("DataKey"):
            self.client("kms").schedule_key_deletion(KeyId=resources["DataKey"], PendingWindowInDays=7)
