"""Small readers and nudges of moto's world, for integration tests (always inside ``mock_aws``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from moto.emr.models import emr_backends

from emr_dispatch_tools.lambda_events import sqs_event
from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import load_event, with_bucket

REGION = "us-east-1"


@dataclass(frozen=True)
class Published:
    """One SNS message as a subscribed queue received it."""

    subject: str
    message: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Launched:
    job_id: str
    cluster_id: str
    cluster_name: str
    step_id: str
    result: dict[str, Any]


def clusters() -> list[dict[str, Any]]:
    """Every EMR cluster of the moto account, whatever its state."""
    found: list[dict[str, Any]] = [dict(c) for c in boto3.client("emr", region_name=REGION).list_clusters()["Clusters"]]
    return found


def cluster_state(cluster_id: str) -> str:
    return str(
        boto3.client("emr", region_name=REGION).describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
    )


def step_args(cluster_id: str) -> list[list[str]]:
    steps = boto3.client("emr", region_name=REGION).list_steps(ClusterId=cluster_id)["Steps"]
    return [list(step["Config"]["Args"]) for step in steps]


def set_step_state(cluster_id: str, state: str) -> None:
    """Move the cluster's step as AWS would (moto leaves the first step RUNNING forever)."""
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    cluster = emr_backends[account][REGION].clusters[cluster_id]
    cluster.steps[0].state = state


def launch_classic(stack: DeployedStack) -> Launched:
    """Deliver events/s3-put-classic.json (re-addressed to the stack's landing bucket) to the launcher."""
    event = with_bucket(load_event("s3-put-classic.json"), stack.outputs["LandingBucketName"])
    response = stack.invoke("LauncherFunction", event)
    (result,) = response["results"]
    assert result["status"] == "started", result
    emr = boto3.client("emr", region_name=REGION)
    cluster_id = result["engine_id"]
    (step,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    name = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Name"]
    return Launched(result["job_id"], cluster_id, name, step["Id"], result)


def receive_as_lambda_event(queue_url: str) -> dict[str, Any]:
    """Everything waiting in a queue, shaped as the Lambda SQS event source would deliver it."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return {"Records": records}
        records += sqs_event(messages, queue_arn, REGION)["Records"]


def subscribe_queue(topic_arn: str, queue_name: str) -> Callable[[], list[Published]]:
    """Subscribe a new queue to an SNS topic; the returned callable lists every message received so far."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    received: list[Published] = []

    def drain() -> list[Published]:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(received)
            for message in messages:
                envelope = json.loads(message["Body"])  # the SNS envelope (no raw delivery) keeps the Subject
                received.append(
                    Published(
                        subject=envelope.get("Subject", ""),
                        message=envelope["Message"],
                        attributes=envelope.get("MessageAttributes", {}),
                    )
                )
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return drain
