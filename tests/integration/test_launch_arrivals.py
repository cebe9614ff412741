"""The launcher against the real template in moto: arrivals → one EMR cluster per object version → ledger."""

from __future__ import annotations

import json
from typing import Any

import boto3

from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import clusters, launch_classic, receive_as_lambda_event, step_args
from sample_events import CLASSIC_DECODED_KEY, load_event, with_bucket


def _sqs_batch(stack: DeployedStack) -> dict[str, Any]:
    return with_bucket(load_event("sqs-s3-batch.json"), stack.outputs["LandingBucketName"])


def test_classic_notification_starts_one_cluster_with_the_key_decoded_once(
    stack: DeployedStack, ledger: Ledger
) -> None:
    # Given the deployed stack and the classic S3 sample re-addressed to its landing bucket
    bucket = stack.outputs["LandingBucketName"]

    # When the launcher receives it
    launched = launch_classic(stack)

    # Then one cluster runs one step whose input is the decoded key, exactly
    (cluster,) = clusters()
    assert cluster["Id"] == launched.cluster_id
    assert cluster["Name"].startswith("emr-dispatch-")
    (args,) = step_args(launched.cluster_id)
    assert f"--input=s3://{bucket}/{CLASSIC_DECODED_KEY}" in args
    assert not any("%2B" in arg or "orders+1" in arg for arg in args)
    # ... and the ledger holds one SUBMITTED job pointing at that cluster
    (job,) = list(ledger.list_jobs())
    assert job.job_id == launched.job_id
    assert job.state is JobState.SUBMITTED
    assert job.engine_id == launched.cluster_id
    assert job.route == "orders-daily"
    assert job.inputs[0].key == CLASSIC_DECODED_KEY
    assert job.input_uris == [f"s3://{bucket}/{CLASSIC_DECODED_KEY}"]
    assert [entry["state"] for entry in job.history] == ["SUBMITTING", "SUBMITTED"]


def test_cluster_is_tagged_for_the_controller(stack: DeployedStack) -> None:
    # Given / When
    launched = launch_classic(stack)

    # Then the tags IAM conditions rely on are on the cluster AWS (moto) created
    cluster = boto3.client("emr", region_name=stack.region).describe_cluster(ClusterId=launched.cluster_id)["Cluster"]
    tags = {tag["Key"]: tag["Value"] for tag in cluster["Tags"]}
    assert tags["managed-by"] == "emr-dispatch"
    assert tags["job-id"] == launched.job_id
    assert tags["route"] == "orders-daily"


def test_sqs_batch_reports_only_the_malformed_record(stack: DeployedStack, ledger: Ledger) -> None:
    # Given the SQS sample (classic, EventBridge, s3:TestEvent) with a truncated body in the middle
    event = _sqs_batch(stack)
    broken = json.loads(json.dumps(event["Records"][0]))
    broken["messageId"] = "0b5e2a3c-0000-4000-8000-00000000bad1"
    broken["body"] = broken["body"][: len(broken["body"]) // 2]
    event["Records"].insert(1, broken)

    # When the launcher receives the batch
    response = stack.invoke("LauncherFunction", event)

    # Then only the broken message goes back to the queue (and, after maxReceiveCount, to its DLQ)
    assert response == {"batchItemFailures": [{"itemIdentifier": broken["messageId"]}]}
    # ... its good neighbours started one job each, and the test event started nothing
    assert len(clusters()) == 2
    jobs = list(ledger.list_jobs())
    assert {job.state for job in jobs} == {JobState.SUBMITTED}
    assert sorted(job.inputs[0].key for job in jobs) == [
        "raw/orders/2026-11-23/orders 0003.csv",
        "raw/orders/2026-11-23/orders-0004.csv",
    ]


def test_sqs_batch_with_only_good_records_has_no_failures(stack: DeployedStack) -> None:
    # Given / When the SQS sample as is
    response = stack.invoke("LauncherFunction", _sqs_batch(stack))

    # Then nothing is retried; the test event was skipped, the two arrivals started
    assert response == {"batchItemFailures": []}
    assert len(clusters()) == 2


def test_same_arrival_delivered_twice_starts_one_job(stack: DeployedStack, ledger: Ledger) -> None:
    # Given an arrival that was launched once
    first = launch_classic(stack)

    # When the same notification is delivered again
    event = with_bucket(load_event("s3-put-classic.json"), stack.outputs["LandingBucketName"])
    (again,) = stack.invoke("LauncherFunction", event)["results"]

    # Then it is recognised as a duplicate: still one cluster, one job
    assert again["status"] == "duplicate"
    assert again["job_id"] == first.job_id
    assert len(clusters()) == 1
    assert len(list(ledger.list_jobs())) == 1


def test_same_sqs_batch_redelivered_starts_nothing_new(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a batch that was processed
    stack.invoke("LauncherFunction", _sqs_batch(stack))

    # When SQS delivers it again (visibility timeout, at-least-once)
    response = stack.invoke("LauncherFunction", _sqs_batch(stack))

    # Then nothing fails and nothing new starts
    assert response == {"batchItemFailures": []}
    assert len(clusters()) == 2
    assert len(list(ledger.list_jobs())) == 2


def test_same_version_via_both_shapes_starts_one_job(stack: DeployedStack, ledger: Ledger) -> None:
    # Given the classic notification was launched, and an EventBridge event for the same object version
    launch_classic(stack)
    classic_object = load_event("s3-put-classic.json")["Records"][0]["s3"]["object"]
    eventbridge = with_bucket(load_event("s3-object-created-eventbridge.json"), stack.outputs["LandingBucketName"])
    eventbridge["detail"]["object"] = {
        "key": CLASSIC_DECODED_KEY,  # EventBridge keys are not form-encoded
        "size": classic_object["size"],
        "etag": classic_object["eTag"],
        "version-id": classic_object["versionId"],
        "sequencer": classic_object["sequencer"],
    }

    # When it arrives too (both notification paths configured)
    (result,) = stack.invoke("LauncherFunction", eventbridge)["results"]

    # Then it is a duplicate of the first
    assert result["status"] == "duplicate"
    assert len(clusters()) == 1
    assert len(list(ledger.list_jobs())) == 1


def test_arrivals_without_work_are_skipped_with_a_reason(stack: DeployedStack, ledger: Ledger) -> None:
    # Given a folder marker and a file no route takes
    bucket = stack.outputs["LandingBucketName"]
    marker = with_bucket(load_event("s3-object-created-eventbridge.json"), bucket)
    marker["detail"]["object"].update(key="raw/orders/2026-11-24/", size=0)
    unrouted = with_bucket(load_event("s3-object-created-eventbridge.json"), bucket)
    unrouted["detail"]["object"]["key"] = "exports/orders.csv"

    # When both arrive
    (marker_result,) = stack.invoke("LauncherFunction", marker)["results"]
    (unrouted_result,) = stack.invoke("LauncherFunction", unrouted)["results"]

    # Then both are skipped, each with its reason, and nothing starts
    assert (marker_result["status"], marker_result["reason"]) == ("skipped", "folder marker")
    assert (unrouted_result["status"], unrouted_result["reason"]) == ("skipped", "no route matches")
    assert clusters() == []
    assert list(ledger.list_jobs()) == []


def test_eventbridge_sample_starts_a_job(stack: DeployedStack, ledger: Ledger) -> None:
    # Given / When the EventBridge sample delivered un-wrapped (a direct trigger, or `sam local invoke`)
    event = with_bucket(load_event("s3-object-created-eventbridge.json"), stack.outputs["LandingBucketName"])
    (result,) = stack.invoke("LauncherFunction", event)["results"]

    # Then
    assert result["status"] == "started"
    (job,) = list(ledger.list_jobs())
    assert job.inputs[0].key == "raw/orders/2026-11-23/orders-0002.csv"


def test_object_put_in_moto_reaches_a_job_via_classic_notification(stack: DeployedStack, ledger: Ledger) -> None:
    # Given the landing bucket notifying the arrivals queue the classic way (moto encodes the key, "/" included)
    bucket = stack.outputs["LandingBucketName"]
    queue_url = stack.outputs["ArrivalsQueueUrl"]
    s3 = boto3.client("s3", region_name=stack.region)
    queue_arn = boto3.client("sqs", region_name=stack.region).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    key = "raw/orders/2026-11-23/orders 1+2 café%41.csv"

    # When a file lands and the queue's messages (the s3:TestEvent and the arrival) reach the launcher
    s3.put_object(Bucket=bucket, Key=key, Body=b"order_id,amount\n1,2\n")
    event = receive_as_lambda_event(queue_url)
    response = stack.invoke("LauncherFunction", event)

    # Then the arrival started one job on exactly the key that was put; the test event started nothing
    assert len(event["Records"]) == 2
    assert response == {"batchItemFailures": []}
    (job,) = list(ledger.list_jobs())
    assert job.inputs[0].key == key
    (cluster,) = clusters()
    assert f"--input=s3://{bucket}/{key}" in step_args(cluster["Id"])[0]


def test_object_put_in_moto_reaches_a_job_via_eventbridge(stack: DeployedStack, ledger: Ledger) -> None:
    # Given the landing bucket sending its events to EventBridge (the template's ArrivalsRule targets the queue)
    bucket = stack.outputs["LandingBucketName"]
    s3 = boto3.client("s3", region_name=stack.region)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    key = "raw/orders/2026-11-23/orders-0005.csv"  # no character whose encoding is in doubt

    # When a file lands and the queue's messages reach the launcher
    s3.put_object(Bucket=bucket, Key=key, Body=b"order_id,amount\n1,2\n")
    event = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    response = stack.invoke("LauncherFunction", event)

    # Then the rule delivered it and it started one job
    assert len(event["Records"]) == 1
    assert json.loads(event["Records"][0]["body"])["detail-type"] == "Object Created"
    assert response == {"batchItemFailures": []}
    (job,) = list(ledger.list_jobs())
    assert job.inputs[0].key == key
    assert len(clusters()) == 1
