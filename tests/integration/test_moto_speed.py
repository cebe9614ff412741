"""The bench's cheaper moto DynamoDB (offline/moto_speed.py) answers as moto's own.

Transactions:

DynamoDB's TransactWriteItems is all or nothing (AWS, "Amazon DynamoDB Transactions: How it works"): when one
condition fails the whole transaction is cancelled and no item changes. The patch only changes how moto backs the
touched items up; these tests hold it to that answer on a table keyed like the ledger (pk, sk).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
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


def _sized(attributes: dict[str, Any]) -> tuple[int, list[int]]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item(DynamoType({"S": "JOB#a"}), DynamoType({"S": "JOB"}), attributes)
    return item.size(), [DynamoType(value).size() for value in attributes.values()]


def test_item_sizes_are_moto_own_for_every_attribute_type() -> None:
    # Given an item with every DynamoDB attribute type (DynamoDB developer guide, "Supported data types"), nested
    # lists and maps among them, multi-byte characters and a large number
    from emr_dispatch_tools.offline.moto_speed import item_sizes

    attributes: dict[str, Any] = {
        "pk": {"S": "JOB#a"},
        "sk": {"S": "JOB"},
        "name": {"S": "raw/orders/2026-11-23/orders café+x-100%.csv"},
        "empty": {"S": ""},
        "attempt": {"N": "3"},
        "big": {"N": "-12345678901234567890.0000001"},
        "blob": {"B": b"\x00\x01binary"},
        "done": {"BOOL": False},
        "open": {"BOOL": True},
        "nothing": {"NULL": True},
        "tags": {"SS": ["a", "ünïcode", "c"]},
        "sizes": {"NS": ["1", "22", "-3.5"]},
        "blobs": {"BS": [b"ab", b"\xff"]},
        "slots": {"L": [{"S": "orders"}, {"N": "7"}, {"L": [{"BOOL": True}, {"M": {"k": {"S": "v"}}}]}]},
        "detail": {"M": {"reason": {"S": "throttled"}, "deep": {"M": {"n": {"N": "10"}, "l": {"L": []}}}}},
    }
    expected = _sized(attributes)
    # When the same item's sizes are computed inside the fast path
    with item_sizes():
        answered = _sized(attributes)
    # Then every attribute's size and the item's size are moto's own
    assert answered == expected
    assert expected[0] > 100


def _shape(node: Any, seen: dict[int, int] | None = None) -> Any:
    """A parsed tree as plain data: each node's class and attributes, recursively; a node met again (a parent
    link) as the order in which it was first met, so shared and cyclic references compare too."""
    seen = {} if seen is None else seen
    if isinstance(node, list | tuple):
        return [_shape(child, seen) for child in node]
    if hasattr(node, "__dict__"):
        if id(node) in seen:
            return ("seen", seen[id(node)])
        seen[id(node)] = len(seen)
        return (type(node).__name__, {name: _shape(value, seen) for name, value in vars(node).items()})
    return node


UPDATES = (  # the ledger's forms (layers/emr_dispatch/emr_dispatch/expressions.py: Update)
    "SET #state = :state, #attempt = #attempt + :one REMOVE #queue, #queued_at",
    "SET #events = list_append(if_not_exists(#events, :empty), :events), #ver = if_not_exists(#ver, :zero) + :one",
    "ADD #active :one SET #updated_at = :now",
    "REMOVE #lease",
)
CONDITIONS = (
    "attribute_not_exists(#pk)",
    "#state IN (:state0, :state1, :state2) AND contains(#slots, :route)",
    "attribute_not_exists(#active) OR #active < :cap",
    "(#ver = :ver) AND NOT #paused = :yes",
)


def test_expressions_parsed_once_are_the_trees_moto_parses_each_time() -> None:
    # Given the ledger's update and condition expression forms, parsed and lexed by moto as it is
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.exceptions import InvalidUpdateExpression
    from moto.dynamodb.parsing import ast_nodes as ast_nodes_module
    from moto.dynamodb.parsing import expressions as expressions_module
    from moto.dynamodb.parsing import validators as validators_module

    ast_nodes: Any = ast_nodes_module
    validators: Any = validators_module  # moto's modules are untyped or do not export these names
    UpdateExpressionParser: Any = getattr(expressions_module, "UpdateExpressionParser")  # noqa: B009

    from emr_dispatch_tools.offline.moto_speed import expressions_parsed_once

    def trees() -> list[Any]:
        found = []
        for text in UPDATES:
            for _ in range(2):  # the second time comes from what the first kept
                tree = UpdateExpressionParser.make(text)
                found += [_shape(tree), _shape(validators.deepcopy(tree))]
                for clause in (ast_nodes.ExpressionAttributeName, ast_nodes.ExpressionAttributeValue):
                    found.append(_shape(tree.find_clauses([clause])))
        for text in CONDITIONS:
            for _ in range(2):
                found.append(list(ConditionExpressionParser(text, {}, {})._lex_condition_expression()))
        return found

    expected = trees()
    # When the same texts are parsed (twice each) inside the block
    with expressions_parsed_once():
        answered = trees()
        kept = UpdateExpressionParser.make(UPDATES[0])
        copied = validators.deepcopy(kept)
        # and a bad text is parsed twice
        errors = []
        for _ in range(2):
            with pytest.raises(InvalidUpdateExpression, match="Syntax error") as raised:
                UpdateExpressionParser.make("SET #a = = :b")
            errors.append((type(raised.value), str(raised.value)))
    # Then every tree, every validator's copy and every lexed node is moto's; copies are new trees; a bad text
    # raises the same error each time
    assert answered == expected
    assert copied is not kept
    assert _shape(copied) == _shape(kept)
    assert errors[0] == errors[1]


@pytest.mark.usefixtures("aws_env")
def test_a_kept_item_size_follows_every_write_of_its_key() -> None:
    # Given items whose sizes were read (a query adds them up), then changed in place, replaced, re-created and
    # written by a cancelled transaction
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from emr_dispatch_tools.offline.moto_speed import _item_size

    with mock_aws(), faster_moto():
        client = _table()

        def read_sizes() -> None:
            for pk in ("JOB#a", "CAP#r"):
                client.query(
                    TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
                )

        def kept_and_fresh() -> list[tuple[int | None, int]]:
            table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE]
            return [
                (item.__dict__.get("_emr_dispatch_size"), _item_size(item))
                for partition in table.items.values()
                for item in partition.values()
            ]

        writes: list[Callable[[], Any]] = [
            lambda: client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "JOB#a"}, "sk": {"S": "JOB"}},
                UpdateExpression="SET detail = :d, events = list_append(if_not_exists(events, :e), :e)",
                ExpressionAttributeValues={":d": {"M": {"reason": {"S": "x" * 500}}}, ":e": {"L": [{"S": "y" * 50}]}},
            ),
            lambda: client.put_item(
                TableName=TABLE, Item={"pk": {"S": "CAP#r"}, "sk": {"S": "CAP"}, "active": {"N": "12345"}}
            ),
            lambda: client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "JOB#a"}, "sk": {"S": "JOB"}},
                UpdateExpression="REMOVE detail ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            ),
        ]
        checked = []
        # When each write follows a read of the sizes
        for write in writes:
            read_sizes()
            write()
            read_sizes()
            checked.append(kept_and_fresh())
        read_sizes()
        with contextlib.suppress(client.exceptions.TransactionCanceledException):
            client.transact_write_items(TransactItems=_transaction("attribute_exists(pk)"))
        checked.append(kept_and_fresh())
    # Then every kept size is the item's size as it is now
    for state in checked:
        assert state
        for kept, fresh in state:
            assert kept in (None, fresh)
    assert any(kept is not None for state in checked for kept, _ in state)


def test_plain_results_are_moto_own() -> None:
    # Given the answers moto's DynamoDB handler converts: items of every attribute type, keys, counts, a datetime
    from datetime import UTC, datetime

    from moto.dynamodb.models import utilities
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from emr_dispatch_tools.offline.moto_speed import plain_results

    attributes: dict[str, Any] = {
        "pk": {"S": "JOB#a"},
        "sk": {"S": "JOB"},
        "blob": {"B": b"\x00\x01"},
        "blobs": {"BS": [b"ab", b"\xff"]},
        "n": {"N": "1.5"},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "tags": {"SS": ["a", "b"]},
        "nested": {"M": {"l": {"L": [{"S": "x"}, {"M": {"b": {"B": b"\x02"}}}]}}},
    }

    def answers() -> list[Any]:
        item = Item(DynamoType({"S": "JOB#a"}), DynamoType({"S": "JOB"}), attributes)
        return [
            utilities.dynamo_to_dict(value)
            for value in (
                item,
                {"Items": [item, item], "Count": 2, "ScannedCount": 2, "LastEvaluatedKey": None},
                {"Attributes": {key: DynamoType(value) for key, value in attributes.items()}},
                {"at": datetime(2026, 11, 23, tzinfo=UTC), "ratio": 0.5, "list": [DynamoType({"N": "3"}), "text"]},
            )
        ]

    expected = answers()
    # When moto's conversion runs inside the block
    with plain_results():
        answered = answers()
    # Then every answer is moto's own, binary values as raw bytes
    assert answered == expected
    assert answered[0]["Attributes"]["blob"] == {"B": b"\x00\x01"}


def _sqs_answers() -> list[Any]:
    """A standard queue and two FIFO queues (content-based deduplication on and off): sends, batches, a refused
    send, then what each queue holds and reports. Ids and receipt handles are random: left out."""
    client = boto3.client("sqs", region_name="us-east-1")
    standard = client.create_queue(QueueName="plain")["QueueUrl"]
    deduplicated = client.create_queue(
        QueueName="dedup.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    explicit = client.create_queue(QueueName="explicit.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    steps: list[Callable[[], Any]] = [
        lambda: client.send_message(QueueUrl=standard, MessageBody="one", DelaySeconds=0),
        lambda: client.send_message_batch(
            QueueUrl=standard, Entries=[{"Id": str(i), "MessageBody": f"b{i}"} for i in range(10)]
        ),
        lambda: client.send_message(QueueUrl=deduplicated, MessageBody="same", MessageGroupId="g"),
        lambda: client.send_message(QueueUrl=deduplicated, MessageBody="same", MessageGroupId="g"),
        lambda: client.send_message_batch(
            QueueUrl=deduplicated, Entries=[{"Id": "1", "MessageBody": "other", "MessageGroupId": "g"}]
        ),
        lambda: client.send_message(QueueUrl=explicit, MessageBody="x", MessageGroupId="g"),  # refused
        lambda: client.send_message_batch(
            QueueUrl=explicit, Entries=[{"Id": "1", "MessageBody": "x", "MessageGroupId": "g"}]
        ),  # refused
        lambda: client.send_message(
            QueueUrl=explicit, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1"
        ),
    ]
    answers: list[Any] = []
    for step in steps:
        try:
            answer = step()
            answers.append(sorted(k for k in answer if k != "ResponseMetadata"))
            answers.append([(e.get("Id"), e.get("MD5OfMessageBody")) for e in answer.get("Successful", [])])
            answers.append([(e["Id"], e["Code"]) for e in answer.get("Failed", [])])
        except client.exceptions.ClientError as exc:
            answers.append(("error", exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
    for url in (standard, deduplicated, explicit):
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        answers.append({k: v for k, v in attributes.items() if not k.endswith("Timestamp")})
        received = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        answers.append(
            sorted(
                (m["Body"], m["MD5OfBody"], m["Attributes"].get("MessageDeduplicationId"))
                for m in received.get("Messages", [])
            )
        )
    return answers


@pytest.mark.usefixtures("aws_env")
def test_sends_without_counts_answer_as_moto_does() -> None:
    # Given the same SQS requests against moto as it is
    from emr_dispatch_tools.offline.moto_speed import sends_without_counts

    with mock_aws():
        expected = _sqs_answers()
    # When they run with the sends' attribute reads cut to what they read
    with mock_aws(), sends_without_counts():
        answered = _sqs_answers()
    # Then every answer, error, queue attribute and message is the same, refusals included
    assert answered == expected
    assert any(isinstance(answer, tuple) and answer[0] == "error" for answer in expected)


def test_answers_are_enriched_as_moto_does() -> None:
    # Given answer bodies with and without an XML RequestId, and a bytes body, each enriched by moto's own step
    from moto.core.responses import BaseResponse
    from moto.moto_api._internal import mock_random

    from emr_dispatch_tools.offline.moto_speed import handler_methods_once

    bodies: list[Any] = [
        "<R><RequestId>old</RequestId></R>",
        '{"Items": [], "note": "RequestId"}',
        b'{"binary": true}',
        "",
    ]

    def enriched() -> list[Any]:
        found = []
        for body in bodies:
            mock_random.seed(14)
            headers: Any = {"status": 200, "x": "y"}
            found.append(BaseResponse._enrich_response(headers, body))
        return found

    expected = enriched()
    # When the same bodies are enriched inside the block
    with handler_methods_once():
        answered = enriched()
    # Then the headers (status as text, the same request id) and bodies are moto's own
    assert answered == expected
    assert "old" not in expected[0][1]


def _answers(client: Any, queries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Every page of each query, whole answers (items, counts, LastEvaluatedKey), ResponseMetadata left out."""
    answers = []
    for query in queries:
        pages, start = [], None
        while True:
            page = client.query(TableName="indexed", **query, **({"ExclusiveStartKey": start} if start else {}))
            page.pop("ResponseMetadata")
            pages.append(page)
            start = page.get("LastEvaluatedKey")
            if not start or len(pages) > 40:
                break
        answers.append(pages)
    return answers


def _queue_queries() -> list[dict[str, Any]]:
    queue = {"KeyConditionExpression": "#q = :q", "ExpressionAttributeNames": {"#q": "queue"}}
    route = {":q": {"S": "route-1"}}
    queries: list[dict[str, Any]] = []
    for limit in (1, 2, 5, None):
        for forward in (True, False):
            shaped: dict[str, Any] = {"IndexName": "by_queue", "ScanIndexForward": forward}
            if limit:
                shaped["Limit"] = limit
            queries += [
                {**shaped, **queue, "ExpressionAttributeValues": route},
                {
                    **shaped,
                    **queue,
                    "ExpressionAttributeValues": {":q": {"S": "route-0"}},
                    "ProjectionExpression": "#q",
                },
                {
                    **shaped,
                    "KeyConditionExpression": "#q = :q AND created BETWEEN :a AND :b",
                    "ExpressionAttributeNames": {"#q": "queue"},
                    "ExpressionAttributeValues": {
                        **route,
                        ":a": {"S": "2026-11-23T08:20"},
                        ":b": {"S": "2026-11-23T08:45"},
                    },
                },
                {
                    **shaped,
                    "KeyConditionExpression": "#q = :q AND begins_with(created, :p)",
                    "ExpressionAttributeNames": {"#q": "queue"},
                    "ExpressionAttributeValues": {**route, ":p": {"S": "2026-11-23T08:3"}},
                },
                {
                    **shaped,
                    **queue,
                    "FilterExpression": "attribute_exists(odd)",
                    "ExpressionAttributeValues": route,
                },
                {**shaped, **queue, "ExpressionAttributeValues": {":q": {"S": "route-none"}}},
            ]
    return queries


def _queue_writes(client: Any) -> None:
    """Writes that move items in and out of index partitions and change their sort values in place."""
    client.update_item(
        TableName="indexed",
        Key={"pk": {"S": "JOB#1"}, "sk": {"S": "S#001"}},
        UpdateExpression="SET created = :c, odd = :o",
        ExpressionAttributeValues={":c": {"S": "2026-11-23T07:00"}, ":o": {"BOOL": True}},
    )
    client.update_item(
        TableName="indexed",
        Key={"pk": {"S": "JOB#2"}, "sk": {"S": "S#002"}},
        UpdateExpression="REMOVE #q",
        ExpressionAttributeNames={"#q": "queue"},
    )
    client.delete_item(TableName="indexed", Key={"pk": {"S": "JOB#4"}, "sk": {"S": "S#004"}})
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "indexed",
                    "Item": {
                        "pk": {"S": "JOB#9"},
                        "sk": {"S": "S#100"},
                        "queue": {"S": "route-1"},
                        "created": {"S": "2026-11-23T08:33"},
                        "odd": {"S": "yes"},
                    },
                }
            },
            {
                "Update": {
                    "TableName": "indexed",
                    "Key": {"pk": {"S": "JOB#5"}, "sk": {"S": "S#005"}},
                    "UpdateExpression": "SET #q = :q",
                    "ExpressionAttributeNames": {"#q": "queue"},
                    "ExpressionAttributeValues": {":q": {"S": "route-1"}},
                },
            },
        ]
    )
    client.put_item(  # a queue item without the index's range key: left out of the index
        TableName="indexed", Item={"pk": {"S": "JOB#8"}, "sk": {"S": "S#200"}, "queue": {"S": "route-1"}}
    )


@pytest.mark.usefixtures("aws_env")
def test_index_queries_read_the_run_moto_reads_and_answer_as_moto_does() -> None:
    # Given the sparse index's partitions, queried with limits, both directions, key and filter conditions, pages
    queries = _queue_queries()
    answers = []
    for faster in (False, True):
        with mock_aws(), faster_moto() if faster else contextlib.nullcontext():
            client = _indexed_table()
            # When they are queried, written (sort values changed in place, items moved in and out), queried again
            before = _answers(client, queries)
            _queue_writes(client)
            after = _answers(client, queries)
            # ... and a partition whose sort values are not strings (moto's own sort then)
            for n in (5, 40, 7):
                item = {
                    "pk": {"S": f"JOB#{n}"},
                    "sk": {"S": "S#300"},
                    "queue": {"S": "route-n"},
                    "created": {"N": str(n)},
                }
                client.put_item(TableName="indexed", Item=item)
            numbered = {":q": {"S": "route-n"}}
            unordered = _answers(client, [{**query, "ExpressionAttributeValues": numbered} for query in queries[::6]])
            answers.append((before, after, unordered))

    # Then every page of every answer is moto's own: items, Count, ScannedCount and LastEvaluatedKey
    assert answers[1] == answers[0]
    assert any(page.get("LastEvaluatedKey") for pages in answers[0][1] for page in pages)  # pages compared


def _queue_story(faster: bool) -> list[Any]:
    """Sends (some delayed), receives, deletes (twice, by an old handle, by an unknown one), visibility running out
    and a redrive to the DLQ after 2 receives, on a virtual clock: everything SQS answered, in order."""
    from datetime import UTC, datetime

    from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
    from emr_dispatch_tools.offline.moto_speed import queues_read_lazily

    clock = VirtualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    told: list[Any] = []
    with mock_aws(), virtual_time(clock), queues_read_lazily() if faster else contextlib.nullcontext():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "2"}}'
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "60", "RedrivePolicy": redrive})[
            "QueueUrl"
        ]
        for n in range(25):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", DelaySeconds=90 if n % 4 == 0 else 0)
        kept: list[str] = []
        for step in range(8):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=7, AttributeNames=["All"])
            got = messages.get("Messages", [])
            told.append([(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got])
            kept += [m["ReceiptHandle"] for m in got]
            done = [m for i, m in enumerate(got) if (i + step) % 3 == 0]
            for message in done:
                told.append(
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])["ResponseMetadata"][
                        "HTTPStatusCode"
                    ]
                )
            if done:  # deleting again is a success
                told.append(
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=done[0]["ReceiptHandle"])["ResponseMetadata"][
                        "HTTPStatusCode"
                    ]
                )
            entries: Any = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(kept[:3])]
            answer = sqs.delete_message_batch(QueueUrl=url, Entries=[*entries, {"Id": "x", "ReceiptHandle": "unknown"}])
            failed = [(e["Id"], e["Code"]) for e in answer.get("Failed", [])]  # messages name the random handle
            told.append((sorted(e["Id"] for e in answer.get("Successful", [])), failed))
            kept = kept[3:]
            with pytest.raises(ClientError) as unknown:
                sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
            told.append(unknown.value.response["Error"])
            clock.advance(45)
        for queue in (url, dlq):
            counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
            told.append({k: v for k, v in counts.items() if k.startswith("ApproximateNumber")})
    return told


@pytest.mark.usefixtures("aws_env")
def test_queues_read_lazily_answer_as_moto_does() -> None:
    # Given a queue with delayed messages, a visibility timeout and a redrive policy, on a virtual clock
    # When the same receives and deletes run against moto as it is and with the lazy receive and the short delete
    expected, answered = _queue_story(False), _queue_story(True)
    # Then every answer is moto's: the messages and their receive counts, deletes, errors, the queues' counts
    assert answered == expected
    assert any(isinstance(told, dict) and told.get("ApproximateNumberOfMessages") != "0" for told in expected)


def _job_runs_story(faster: bool) -> list[Any]:
    from emr_dispatch_tools.offline.moto_speed import job_runs_by_id

    told: list[Any] = []
    with mock_aws(), job_runs_by_id() if faster else contextlib.nullcontext():
        client = boto3.client("emr-serverless", region_name="us-east-1")
        application = client.create_application(name="a", releaseLabel="emr-7.5.0", type="SPARK", clientToken="app")[
            "applicationId"
        ]
        driver: Any = {"sparkSubmit": {"entryPoint": "s3://b/job.py"}}
        role = "arn:aws:iam::123456789012:role/job"
        runs = []
        for n in range(6):
            runs.append(
                client.start_job_run(
                    applicationId=application, executionRoleArn=role, jobDriver=driver, clientToken=f"t{n}"
                )["jobRunId"]
            )
            for run in runs[::2]:
                answer = client.get_job_run(applicationId=application, jobRunId=run)["jobRun"]
                told.append((answer["jobRunId"] == run, answer["state"], answer["jobDriver"]))
        for application_id, run in ((application, "00000000000000"), ("00fakeapp00000", runs[0])):
            with pytest.raises(ClientError) as missing:
                client.get_job_run(applicationId=application_id, jobRunId=run)
            told.append(missing.value.response["Error"])
    return told


@pytest.mark.usefixtures("aws_env")
def test_job_runs_found_by_id_answer_as_moto_does() -> None:
    # Given an EMR Serverless application whose runs are read while more are started
    # When GetJobRun runs against moto as it is and through the map by id, also for an unknown run and application
    expected, answered = _job_runs_story(False), _job_runs_story(True)
    # Then every answer and error is moto's
    assert answered == expected
    assert len(expected) == 14


def _drawn(faster: bool) -> dict[str, Any]:
    """Lengths and alphabets of moto's random strings and receipt handles, over a few hundred draws."""
    import moto.sqs.models as sqs_models
    from moto.moto_api._internal import mock_random

    from emr_dispatch_tools.offline.moto_speed import random_strings_drawn_at_once

    forms: dict[str, Any] = {}
    with random_strings_drawn_at_once() if faster else contextlib.nullcontext():
        for shape in ((52, True, False), (12, False, False), (20, True, True)):
            drawn = [mock_random.get_random_string(*shape) for _ in range(300)]
            forms[repr(shape)] = ({len(s) for s in drawn}, set("".join(drawn)))
        handles = [getattr(sqs_models, "generate_receipt_handle")() for _ in range(50)]  # noqa: B009
        forms["handle"] = ({len(h) for h in handles}, set("".join(handles)))
    return forms


def test_random_strings_drawn_at_once_have_moto_own_forms() -> None:
    # Given moto's random identifiers drawn as moto draws them and all at once
    # When a few hundred of each form are drawn
    expected, answered = _drawn(False), _drawn(True)
    # Then lengths and alphabets are moto's (every character of the alphabet turns up)
    assert answered == expected
    assert len(expected["(52, True, False)"][1]) == 62


def _streamed_updates(faster: bool) -> list[Any]:
    """Old and new images a table's stream records for UpdateItems, and the updates' ReturnValues."""
    told: list[Any] = []
    with mock_aws(), faster_moto() if faster else contextlib.nullcontext():
        client = boto3.client("dynamodb", region_name="us-east-1")
        description = client.create_table(
            TableName="streamed",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
        client.put_item(TableName="streamed", Item={"pk": {"S": "a"}, "n": {"N": "1"}, "m": {"M": {"x": {"L": []}}}})
        for returned in ("UPDATED_OLD", "ALL_OLD", "UPDATED_NEW", "NONE"):
            answer = client.update_item(
                TableName="streamed",
                Key={"pk": {"S": "a"}},
                UpdateExpression="ADD n :one SET m.x = list_append(m.x, :l)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":l": {"L": [{"S": returned}]}},
                ReturnValues=returned,
            )
            told.append(answer.get("Attributes"))
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        assert description["StreamSpecification"]["StreamEnabled"]
        shard: Any = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["streamed"].stream_shard
        records = [record.record for record in shard.items]  # what moto's DynamoDB Streams hands out
        told += [(r["eventName"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records]
    return told


@pytest.mark.usefixtures("aws_env")
def test_updates_without_unread_copies_answer_and_stream_as_moto_does() -> None:
    # Given a table with a stream of old and new images, updated in place (a number, a list inside a map)
    # When the updates run against moto as it is and without the copies nothing reads
    expected, answered = _streamed_updates(False), _streamed_updates(True)
    # Then the ReturnValues and every stream record's old and new image are moto's
    assert answered == expected
    assert expected[-1][1] != expected[-1][2]  # an update's old image is not its new one


def test_regular_json_without_copies_is_moto_own_and_shares_nothing() -> None:
    # Given an item holding every attribute type, maps and lists nested three deep, binary values among them
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from emr_dispatch_tools.offline.moto_speed import regular_json_without_copies

    nested: dict[str, Any] = {
        "M": {"l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"b": {"B": "AAE="}, "ss": {"SS": ["a", "b"]}}}]}}
    }
    attributes: dict[str, Any] = {
        "s": {"S": "text"},
        "n": {"N": "12.5"},
        "b": {"B": "AAEC"},
        "bool": {"BOOL": False},
        "null": {"NULL": True},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": ["AAE=", "AQI="]},
        "l": {"L": [{"S": "x"}, nested, {"L": []}]},
        "m": {"M": {"deep": nested, "empty": {"M": {}}}},
    }
    item = Item(DynamoType({"S": "JOB#a"}), DynamoType({"S": "JOB"}), attributes)
    expected = (item.to_json(), [DynamoType(value).to_regular_json() for value in attributes.values()])

    # When they are rendered without the copies
    with regular_json_without_copies():
        answered = (item.to_json(), [DynamoType(value).to_regular_json() for value in attributes.values()])
        rendered = item.to_json()

    # Then everything is moto's own, and changing what was rendered leaves the item as it was
    assert answered == expected
    rendered["Attributes"]["m"]["M"]["deep"]["M"]["l"]["L"].clear()
    rendered["Attributes"]["l"]["L"][1]["M"]["l"]["L"][2]["M"]["ss"]["SS"].append("c")
    assert item.to_json() == expected[0]
