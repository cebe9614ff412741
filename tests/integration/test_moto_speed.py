"""The bench's cheaper moto DynamoDB (offline/moto_speed.py) answers as moto's own.

Transactions:

DynamoDB's TransactWriteItems is all or nothing (AWS, "Amazon DynamoDB Transactions: How it works"): when one
condition fails the whole transaction is cancelled and no item changes. The patch only changes how moto backs the
touched items up; these tests hold it to that answer on a table keyed like the ledger (pk, sk).
"""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emr_dispatch_tools.offline.moto_speed import faster_moto, item_level_rollback

TABLE = "ledger-like"


def _table() -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=TABLE, Item={"pk": {"S": "JOB#a"}, "sk": {"S": "JOB"}, "state": {"S": "QUEUED"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "CAP#r"}, "sk": {"S": "CAP"}, "active": {"N": "1"}})
    return client


def _everything(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def _transaction(last_condition: str) -> list[dict[str, Any]]:
    return [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "CAP#r"}, "sk": {"S": "SLOT#a"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "CAP#r"}, "sk": {"S": "CAP"}},
                "UpdateExpression": "ADD active :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "JOB#a"}, "sk": {"S": "JOB"}}}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "PAUSE#r"}, "sk": {"S": "PAUSE"}},
                "ConditionExpression": last_condition,
            }
        },
    ]


@pytest.mark.usefixtures("moto_account")
def test_a_cancelled_transaction_leaves_every_item_as_it_was() -> None:
    # Given a table with a job and a counter, and the cheaper rollback installed
    client = _table()
    before = _everything(client)

    # When a transaction puts, updates and deletes, and its last condition fails
    with item_level_rollback(), pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(TransactItems=_transaction("attribute_exists(pk)"))

    # Then DynamoDB's answer names the failed condition, and no item changed
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _everything(client) == before


@pytest.mark.usefixtures("moto_account")
def test_a_transaction_that_holds_writes_every_item() -> None:
    # Given the same table and the cheaper rollback installed
    client = _table()

    # When every condition holds
    with item_level_rollback():
        client.transact_write_items(TransactItems=_transaction("attribute_not_exists(pk)"))

    # Then the put, the update and the delete all happened
    assert _everything(client) == [
        {"pk": {"S": "CAP#r"}, "sk": {"S": "CAP"}, "active": {"N": "2"}},
        {"pk": {"S": "CAP#r"}, "sk": {"S": "SLOT#a"}},
    ]


@pytest.mark.usefixtures("moto_account")
def test_moto_copies_whole_tables_again_once_the_block_ends() -> None:
    # Given the rollback installed and then left
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    with item_level_rollback():
        assert DynamoDBBackend.transact_write_items is not original

    # Then moto is as it was
    assert DynamoDBBackend.transact_write_items is original
    import copy

    assert getattr(models, "copy") is copy  # noqa: B009 - moto's module does not export it


def _indexed_table() -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="indexed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "queue", "AttributeType": "S"},
            {"AttributeName": "created", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_queue",
                "KeySchema": [
                    {"AttributeName": "queue", "KeyType": "HASH"},
                    {"AttributeName": "created", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(30):
        item = {"pk": {"S": f"JOB#{n % 7}"}, "sk": {"S": f"S#{n:03d}"}, "created": {"S": f"2026-11-23T08:{59 - n:02d}"}}
        if n % 3:
            item["queue"] = {"S": f"route-{n % 2}"}
        client.put_item(TableName="indexed", Item=item)
    return client


def _pages(client: Any, **query: Any) -> list[list[dict[str, Any]]]:
    pages = client.get_paginator("query").paginate(TableName="indexed", Limit=4, **query)
    return [page["Items"] for page in pages]


@pytest.mark.usefixtures("moto_account")
def test_queries_of_the_table_and_of_an_index_answer_as_moto_does() -> None:
    # Given a table with a sparse index, items spread over partitions
    client = _indexed_table()
    queries: list[dict[str, Any]] = [
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "JOB#3"}}},
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "JOB#none"}}},
        {
            "IndexName": "by_queue",
            "KeyConditionExpression": "#q = :q",
            "ExpressionAttributeNames": {"#q": "queue"},
            "ExpressionAttributeValues": {":q": {"S": "route-1"}},
        },
        {
            "IndexName": "by_queue",
            "KeyConditionExpression": "#q = :q AND created < :c",
            "ExpressionAttributeNames": {"#q": "queue"},
            "ExpressionAttributeValues": {":q": {"S": "route-0"}, ":c": {"S": "2026-11-23T08:50"}},
            "ScanIndexForward": False,
        },
    ]
    expected = [_pages(client, **query) for query in queries]

    # When the same queries run with the faster moto
    with faster_moto():
        answered = [_pages(client, **query) for query in queries]

    # Then every page is the same, in the same order
    assert answered == expected
    assert all(pages and pages[0] for pages in expected[:1] + expected[2:])  # something to compare


def _receipts_over_retention(faster: bool) -> list[list[str]]:
    """Bodies received at 30 s and at 90 s after sending, on a queue that keeps messages 60 s, virtual clock."""
    from datetime import UTC, datetime

    from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
    from emr_dispatch_tools.offline.moto_speed import retention_from_the_queue

    clock = VirtualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    received = []
    with mock_aws(), virtual_time(clock), retention_from_the_queue() if faster else contextlib.nullcontext():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(
            QueueName="retained", Attributes={"MessageRetentionPeriod": "60", "VisibilityTimeout": "0"}
        )["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="kept a minute")
        for seconds in (30, 60):
            clock.advance(seconds)
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            received.append([m["Body"] for m in messages])
    return received


@pytest.mark.usefixtures("aws_env")
def test_the_retention_check_reads_the_queue_as_moto_does_on_the_virtual_clock() -> None:
    # Given a message on a queue that keeps messages 60 s, received at 30 s and at 90 s of virtual time
    # When moto checks retention as it is, and through the queue's own attribute
    expected, answered = _receipts_over_retention(False), _receipts_over_retention(True)
    # Then both receive it at 30 s and not after its retention ran out (on the virtual clock, whatever the date)
    assert answered == expected == [["kept a minute"], []]
