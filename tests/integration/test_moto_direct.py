"""The bench's fast DynamoDB path answers as moto does (offline/moto_direct.py: no HTTP, no moto serializer;
offline/moto_speed.py: index partitions kept beside the table).

The same script of requests runs twice, each in a fresh moto world: against moto as it is, and through
``faster_moto`` + ``direct_requests``. Every answer (ResponseMetadata aside) and every error (code, message,
cancellation reasons, the item returned on a failed condition) must be the same. The script uses each operation and
expression form the product's ledger uses: conditional Put/Update/Delete (attribute_not_exists, comparisons, IN,
contains), ReturnValues and ReturnValuesOnConditionCheckFailure, TransactWriteItems with ConditionCheck, Put,
Update and Delete (committed and cancelled), table and index queries (sparse index, Limit, ScanIndexForward,
ExclusiveStartKey, FilterExpression, ProjectionExpression, ConsistentRead), paginated scans, BatchGetItem with a
projection (moto's serializer renders it), and an error moto raises before any write (an unknown index).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emr_dispatch_tools.offline import moto_direct
from emr_dispatch_tools.offline.moto_direct import direct_requests
from emr_dispatch_tools.offline.moto_speed import faster_moto

TABLE = "ledger-like"
BY_QUEUE = "by_queue"  # sparse: only items with "queue"
BY_STATE = "by_state"


def _create(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "queue", "queued_at", "state")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": BY_QUEUE,
                "KeySchema": [
                    {"AttributeName": "queue", "KeyType": "HASH"},
                    {"AttributeName": "queued_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": BY_STATE,
                "KeySchema": [{"AttributeName": "state", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _job(n: int, state: str = "QUEUED", queued_at: str | None = None) -> dict[str, Any]:
    item = {
        "pk": {"S": f"JOB#{n:03d}"},
        "sk": {"S": "JOB"},
        "state": {"S": state},
        "route": {"S": "orders" if n % 2 else "returns"},
        "slots": {"L": [{"S": "orders"}]},
        "attempt": {"N": str(n % 3)},
        "rule": {"S": '{"match": {"bucket": null, "prefix": "raw/\\"x\\""}}'},  # JSON null inside a string
    }
    if state == "QUEUED":
        item["queue"] = {"S": "orders" if n % 2 else "returns"}
        item["queued_at"] = {"S": queued_at or f"2026-11-23T08:00:{n % 4:02d}Z"}  # ties on purpose
    return item


def _key(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{n:03d}"}, "sk": {"S": "JOB"}}


def _all_pages(call: Callable[..., Any], **request: Any) -> list[Any]:
    pages = []
    while True:
        page = call(**request)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _script(client: Any) -> Iterator[Callable[[], Any]]:
    """Each step: one or more requests; what it returns (or raises) is compared."""
    for n in range(12):
        yield partial(client.put_item, TableName=TABLE, Item=_job(n), ConditionExpression="attribute_not_exists(pk)")
    yield partial(
        client.put_item,
        TableName=TABLE,
        Item=_job(3),
        ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    yield partial(
        client.put_item, TableName=TABLE, Item={"pk": {"S": "CAP#orders"}, "sk": {"S": "CAP"}, "active": {"N": "0"}}
    )
    for forward in (True, False):
        for queue in ("orders", "returns", "nobody"):
            yield partial(
                _all_pages,
                client.query,
                TableName=TABLE,
                IndexName=BY_QUEUE,
                KeyConditionExpression="#queue = :route",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues={":route": {"S": queue}},
                ScanIndexForward=forward,
                Limit=2,
            )
    # A job leaves the queue: its state moves, the sparse index attributes go (an update in place).
    yield partial(
        client.update_item,
        TableName=TABLE,
        Key=_key(5),
        UpdateExpression="SET #state = :running, attempt = attempt + :one REMOVE #queue, queued_at",
        ConditionExpression="#state = :queued",
        ExpressionAttributeNames={"#state": "state", "#queue": "queue"},
        ExpressionAttributeValues={":running": {"S": "RUNNING"}, ":queued": {"S": "QUEUED"}, ":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    yield partial(
        client.update_item,
        TableName=TABLE,
        Key=_key(5),
        UpdateExpression="SET #state = :running",
        ConditionExpression="#state = :queued",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":running": {"S": "RUNNING"}, ":queued": {"S": "QUEUED"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    yield partial(
        client.update_item,
        TableName=TABLE,
        Key={"pk": {"S": "CAP#orders"}, "sk": {"S": "CAP"}},
        UpdateExpression="ADD active :one SET ver = if_not_exists(ver, :zero) + :one",
        ConditionExpression="attribute_not_exists(active) OR active < :cap",
        ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}, ":cap": {"N": "20"}},
        ReturnValues="UPDATED_NEW",
    )
    for expression in ("SET pk = :v", "SET nowhere.deeper = :v", "SET pk = :v"):  # refused, each time anew
        yield partial(
            client.update_item,
            TableName=TABLE,
            Key=_key(6),
            UpdateExpression=expression,
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
    for _ in range(2):  # the same text twice: the second parse is the kept tree
        yield partial(
            client.update_item,
            TableName=TABLE,
            Key=_key(4),
            UpdateExpression="SET #events = list_append(if_not_exists(#events, :empty), :events)",
            ConditionExpression="#state IN (:queued, :waiting)",
            ExpressionAttributeNames={"#events": "events", "#state": "state"},
            ExpressionAttributeValues={
                ":empty": {"L": []},
                ":events": {"L": [{"M": {"at": {"S": "2026-11-23T08:00:00Z"}, "n": {"N": "1"}}}]},
                ":queued": {"S": "QUEUED"},
                ":waiting": {"S": "WAITING"},
            },
            ReturnValues="ALL_NEW",
        )
    # A start: the job moves, a slot is taken, the counter grows, a pause is checked (committed).
    yield partial(
        client.transact_write_items,
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key(7),
                    "UpdateExpression": "SET #state = :submitting REMOVE #queue, queued_at",
                    "ConditionExpression": "#state IN (:queued, :waiting) AND contains(slots, :route)",
                    "ExpressionAttributeNames": {"#state": "state", "#queue": "queue"},
                    "ExpressionAttributeValues": {
                        ":submitting": {"S": "SUBMITTING"},
                        ":queued": {"S": "QUEUED"},
                        ":waiting": {"S": "WAITING"},
                        ":route": {"S": "orders"},
                    },
                }
            },
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "CAP#orders"}, "sk": {"S": "SLOT#007"}}}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key(99),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Delete": {"TableName": TABLE, "Key": _key(11)}},
        ],
    )
    # The same start again, and one whose last condition fails: cancelled, nothing changes, reasons per item.
    for job in (7, 9):
        yield partial(
            client.transact_write_items,
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key(job),
                        "UpdateExpression": "SET #state = :submitting REMOVE #queue",
                        "ConditionExpression": "#state = :queued",
                        "ExpressionAttributeNames": {"#state": "state", "#queue": "queue"},
                        "ExpressionAttributeValues": {":submitting": {"S": "SUBMITTING"}, ":queued": {"S": "QUEUED"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "CAP#orders"}, "sk": {"S": f"SLOT#{job:03d}"}}}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key(1),
                        "ConditionExpression": "#state = :running",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {":running": {"S": "RUNNING"}},
                    }
                },
            ],
        )
    yield partial(client.get_item, TableName=TABLE, Key=_key(7), ConsistentRead=True)
    yield partial(client.get_item, TableName=TABLE, Key=_key(11), ConsistentRead=True)
    yield partial(
        client.get_item,
        TableName=TABLE,
        Key=_key(9),
        ProjectionExpression="#s, attempt",
        ExpressionAttributeNames={"#s": "state"},
    )
    yield partial(
        client.delete_item,
        TableName=TABLE,
        Key=_key(2),
        ConditionExpression="#state = :queued",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":queued": {"S": "QUEUED"}},
        ReturnValues="ALL_OLD",
    )
    yield partial(
        client.delete_item,
        TableName=TABLE,
        Key=_key(5),
        ConditionExpression="#state = :queued",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":queued": {"S": "QUEUED"}},
    )
    # Re-queued with an earlier time: it moves within the index partition.
    yield partial(client.put_item, TableName=TABLE, Item=_job(7, queued_at="2026-11-23T07:00:00Z"))
    for index, value in ((BY_QUEUE, "orders"), (BY_QUEUE, "returns"), (BY_STATE, "QUEUED"), (BY_STATE, "RUNNING")):
        name = "queue" if index == BY_QUEUE else "state"
        yield partial(
            _all_pages,
            client.query,
            TableName=TABLE,
            IndexName=index,
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": name},
            ExpressionAttributeValues={":v": {"S": value}},
            Limit=3,
        )
    yield partial(
        client.query,
        TableName=TABLE,
        IndexName=BY_QUEUE,
        KeyConditionExpression="#q = :r AND queued_at < :t",
        FilterExpression="attempt > :zero",
        ProjectionExpression="pk, sk, attempt",
        ExpressionAttributeNames={"#q": "queue"},
        ExpressionAttributeValues={":r": {"S": "orders"}, ":t": {"S": "2026-11-23T08:00:02Z"}, ":zero": {"N": "0"}},
    )
    yield partial(
        client.query,
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :slot)",
        ExpressionAttributeValues={":pk": {"S": "CAP#orders"}, ":slot": {"S": "SLOT#"}},
        ConsistentRead=True,
    )
    yield partial(
        client.query,
        TableName=TABLE,
        IndexName="by_nothing",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "CAP#orders"}},
    )
    yield partial(_all_pages, client.scan, TableName=TABLE, Limit=4, ConsistentRead=True)
    # The sweeper's audit reads the jobs holding a counter's slots a hundred at a time (CapacityAudit._get_jobs).
    yield partial(
        client.batch_get_item,
        RequestItems={
            TABLE: {
                "Keys": [_key(n) for n in (1, 4, 7, 11, 99)],
                "ConsistentRead": True,
                "ProjectionExpression": "pk, #state, slots",
                "ExpressionAttributeNames": {"#state": "state"},
            }
        },
    )


def _outcome(step: Callable[[], Any]) -> Any:
    try:
        return _without_metadata(step())
    except ClientError as exc:
        return ("error", _without_metadata(exc.response))


def _without_metadata(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_metadata(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_metadata(v) for k, v in value.items() if k != "ResponseMetadata"}
    return value


def _answers(fast: bool) -> list[Any]:
    with (
        mock_aws(),
        faster_moto() if fast else contextlib.nullcontext(),
        direct_requests() if fast else contextlib.nullcontext(),
    ):
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create(client)
        return [_outcome(step) for step in _script(client)]


@pytest.mark.usefixtures("aws_env")
def test_fast_path_answers_every_ledger_request_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the same requests, against moto as it is and through the bench's fast path
    expected = _answers(fast=False)
    answered_directly: list[str] = []
    answer = moto_direct._answer

    def counted(client: Any, model: Any, *rest: Any) -> Any:
        answered_directly.append(model.name)
        return answer(client, model, *rest)

    monkeypatch.setattr(moto_direct, "_answer", counted)
    parsed_plainly: list[str] = []
    plain = moto_direct._plain_json_body

    def counted_plain(original: Any, output_shape: Any) -> Any:
        handle = plain(original, output_shape)

        def counted(raw_body: bytes, shape: Any) -> Any:
            if shape is output_shape:
                parsed_plainly.append(shape.name)
            return handle(raw_body, shape)

        return counted

    monkeypatch.setattr(moto_direct, "_plain_json_body", counted_plain)
    # When the fast path answers them
    answered = _answers(fast=True)
    # Then every answer and every error is the same, and the script did meet errors and cancellations
    assert len(answered) == len(expected)
    assert len(answered_directly) >= len(expected)  # every request went the direct way (pages: more than one)
    assert {"GetItemOutput", "QueryOutput", "ScanOutput", "UpdateItemOutput"} <= set(parsed_plainly)
    for number, (ours, theirs) in enumerate(zip(answered, expected, strict=True)):
        assert ours == theirs, f"step {number}"
    codes = [answer[1]["Error"]["Code"] for answer in expected if isinstance(answer, tuple)]
    assert {"ConditionalCheckFailedException", "TransactionCanceledException", "ResourceNotFoundException"} <= set(
        codes
    )


def _engine_script() -> list[Callable[[], Any]]:
    """Every SQS, EMR, EMR Serverless, EMR on EKS and SNS operation of the burst (the product's and the harness's),
    with an error of each service."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    emr = boto3.client("emr", region_name="us-east-1")
    serverless = boto3.client("emr-serverless", region_name="us-east-1")
    eks = boto3.client("emr-containers", region_name="us-east-1")
    sns = boto3.client("sns", region_name="us-east-1")
    url = sqs.create_queue(QueueName="arrivals", Attributes={"VisibilityTimeout": "720"})["QueueUrl"]
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    application = serverless.create_application(name="a", releaseLabel="emr-7.5.0", type="SPARK", clientToken="a")
    app_id = application["applicationId"]
    virtual = eks.create_virtual_cluster(
        name="v",
        containerProvider={"id": "eks", "type": "EKS", "info": {"eksInfo": {"namespace": "n"}}},
        clientToken="v",
    )["id"]
    cluster = emr.run_job_flow(
        Name="job-1",
        ReleaseLabel="emr-7.5.0",
        Instances={"KeepJobFlowAliveWhenNoSteps": False, "InstanceCount": 1, "MasterInstanceType": "m7g.xlarge"},
        Steps=[{"Name": "s", "ActionOnFailure": "TERMINATE_CLUSTER", "HadoopJarStep": {"Jar": "command-runner.jar"}}],
        ServiceRole="EMR_DefaultRole",
        JobFlowRole="EMR_EC2_DefaultRole",
        Tags=[{"Key": "emr-dispatch:job-id", "Value": "job-1"}],
    )["JobFlowId"]
    driver: Any = {"sparkSubmit": {"entryPoint": "s3://b/job.py", "entryPointArguments": ["--input=s3://b/k"]}}
    role = "arn:aws:iam::123456789012:role/job"
    run = serverless.start_job_run(applicationId=app_id, executionRoleArn=role, jobDriver=driver, clientToken="r")
    eks_driver: Any = {"sparkSubmitJobDriver": {"entryPoint": "s3://b/job.py", "entryPointArguments": ["x"]}}
    eks_run = eks.start_job_run(
        name="p",
        virtualClusterId=virtual,
        clientToken="e",
        executionRoleArn=role,
        releaseLabel="emr-7.5.0-latest",
        jobDriver=eks_driver,
    )["id"]
    step = emr.list_steps(ClusterId=cluster)["Steps"][0]["Id"]
    batch: Any = [{"Id": str(n), "MessageBody": f"b{n}", "DelaySeconds": n % 2} for n in range(4)]
    return [
        partial(sqs.get_queue_url, QueueName="arrivals"),
        partial(sqs.get_queue_url, QueueName="missing"),
        partial(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn", "VisibilityTimeout"]),
        partial(sqs.send_message, QueueUrl=url, MessageBody='{"start": "queued"}', DelaySeconds=30),
        partial(sqs.send_message_batch, QueueUrl=url, Entries=batch),
        partial(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]),
        partial(sqs.delete_message_batch, QueueUrl=url, Entries=[{"Id": "x", "ReceiptHandle": "unknown"}]),
        partial(emr.describe_cluster, ClusterId=cluster),
        partial(emr.describe_cluster, ClusterId="j-MISSING"),
        partial(emr.list_steps, ClusterId=cluster),
        partial(emr.describe_step, ClusterId=cluster, StepId=step),
        partial(emr.list_clusters, ClusterStates=["STARTING", "RUNNING", "WAITING"]),
        partial(emr.terminate_job_flows, JobFlowIds=[cluster]),
        partial(serverless.get_application, applicationId=app_id),
        partial(serverless.start_application, applicationId=app_id),
        partial(serverless.get_job_run, applicationId=app_id, jobRunId=run["jobRunId"]),
        partial(serverless.get_job_run, applicationId=app_id, jobRunId="missing0000000"),
        partial(serverless.list_job_runs, applicationId=app_id, states=["SUCCESS", "RUNNING"]),
        partial(serverless.cancel_job_run, applicationId=app_id, jobRunId=run["jobRunId"]),
        partial(serverless.stop_application, applicationId=app_id),
        partial(eks.describe_job_run, id=eks_run, virtualClusterId=virtual),
        partial(eks.list_job_runs, virtualClusterId=virtual, states=["RUNNING", "PENDING", "SUBMITTED"]),
        partial(eks.cancel_job_run, id=eks_run, virtualClusterId=virtual),
        partial(eks.describe_job_run, id="missing", virtualClusterId=virtual),
        partial(sns.publish, TopicArn=topic, Subject="failed", Message="job failed"),
        partial(sns.publish, TopicArn=topic + "-missing", Message="x"),
    ]


def _timeless(value: Any) -> Any:
    """Answers with their datetimes and the queue's random receipt handles and message ids marked, not compared."""
    import datetime

    if isinstance(value, datetime.datetime):
        return "<datetime>"
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    if isinstance(value, dict):
        random = {"ReceiptHandle", "MessageId", "SentTimestamp", "ApproximateFirstReceiveTimestamp", "Message"}
        return {k: "<random>" if k in random and isinstance(v, str) else _timeless(v) for k, v in value.items()}
    return value


def _engine_answers(fast: bool) -> list[Any]:
    from moto.moto_api._internal import mock_random

    with mock_aws(), direct_requests() if fast else contextlib.nullcontext():
        mock_random.seed(7)  # the same resource ids in both worlds
        return [_timeless(_outcome(step)) for step in _engine_script()]


@pytest.mark.usefixtures("aws_env")
def test_engine_and_queue_requests_answer_as_through_moto_stubber(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the burst's SQS, EMR, EMR Serverless, EMR on EKS and SNS requests, against moto as it is
    expected = _engine_answers(fast=False)
    stubbed: list[str] = []
    answer = moto_direct._answer_stubbed

    def counted(client: Any, model: Any, *rest: Any) -> Any:
        stubbed.append(model.name)
        return answer(client, model, *rest)

    monkeypatch.setattr(moto_direct, "_answer_stubbed", counted)
    # When they go to moto's handlers without botocore's send loop
    answered = _engine_answers(fast=True)
    # Then every answer and error is the same (ids included), and each request went the direct way
    for number, (ours, theirs) in enumerate(zip(answered, expected, strict=True)):
        assert ours == theirs, f"step {number}"
    assert len(stubbed) >= len(expected)
    errors = [answer[1]["Error"]["Code"] for answer in expected if isinstance(answer, tuple)]
    assert len(errors) == 5
