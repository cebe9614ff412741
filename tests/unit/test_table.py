"""The one table (table.py): its schema is template.yaml's, every key is spelled there alone, jobs survive the
round trip through an item, and the conditional-write builder sends exactly the placeholders its expressions use
(DynamoDB refuses an undeclared or an unused one: UpdateItem, ExpressionAttributeNames/Values, API reference)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from emr_dispatch import table
from emr_dispatch.inputs import ObjectInput
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.table import Condition, Update
from emr_dispatch_tools.moto_stack import load_sam_template

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "emr_dispatch" / "emr_dispatch"


@pytest.fixture(scope="module")
def ledger_table() -> dict[str, Any]:
    template: dict[str, Any] = load_sam_template()
    return dict(template["Resources"]["LedgerTable"]["Properties"])


def test_key_schema_and_ttl_attribute_are_the_templates(ledger_table: dict[str, Any]) -> None:
    # Given the table as template.yaml declares it / When its key schema is read
    keys = {key["KeyType"]: key["AttributeName"] for key in ledger_table["KeySchema"]}

    # Then table.py's partition and sort keys and TTL attribute are the template's
    assert keys == {"HASH": table.PARTITION_KEY, "RANGE": table.SORT_KEY}
    assert ledger_table["TimeToLiveSpecification"] == {"AttributeName": table.TTL_ATTRIBUTE, "Enabled": True}


def test_every_index_the_code_queries_is_the_templates_with_the_same_keys(ledger_table: dict[str, Any]) -> None:
    # Given the template's global secondary indexes / When their key schemas are read
    declared = {}
    for index in ledger_table["GlobalSecondaryIndexes"]:
        keys = {key["KeyType"]: key["AttributeName"] for key in index["KeySchema"]}
        declared[index["IndexName"]] = (keys["HASH"], keys.get("RANGE"))

    # Then table.py names exactly those indexes, with the same partition and sort keys
    assert declared == table.INDEX_KEYS
    assert table.INDEX_KEYS[table.BY_OBJECT] == (table.OBJECT_URI, table.OBJECT_VERSION)


def test_no_module_but_table_py_spells_a_key_or_an_update_expression() -> None:
    # Given the package's sources
    sources = {path.name: path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}

    # When key prefixes ("JOB#", "BATCH#"...) and hand-written update or condition expressions are looked for
    keyed = sorted(name for name, text in sources.items() if re.search(r'"[A-Z]+#', text))
    expressed = sorted(
        name for name, text in sources.items() if re.search(r"(?<!Key)(UpdateExpression|ConditionExpression)", text)
    )

    # Then keys live in table.py and expressions are built in expressions.py alone
    assert keyed == ["table.py"]
    assert expressed == ["expressions.py"]


def test_a_job_survives_the_round_trip_through_its_item() -> None:
    # Given a job with every field set
    job = Job(
        job_id="orders-0123456789abcdef",
        route="orders",
        engine="emr-serverless",
        state=JobState.QUEUED,
        attempt=2,
        inputs=[ObjectInput("landing", "raw/orders/a.csv", 10, "e", "v", "", "")],
        created_at="2026-12-01T10:00:00.000Z",
        updated_at="2026-12-01T10:00:01.000Z",
        engine_id="00f0",
        engine_details={"application_id": "app"},
        reason_code="X",
        reason_message="y",
        failure={"reason": "z"},
        actions=["did"],
        alert_pending=True,
        alerted_at="2026-12-01T10:00:02.000Z",
        ended_at="2026-12-01T10:00:03.000Z",
        submitted_at="2026-12-01T10:00:04.000Z",
        slots=["orders"],
        max_attempts=3,
        attempts=[{"attempt": 1, "state": "FAILED"}],
        retry_at="2026-12-01T10:05:00.000Z",
        starting_at="2026-12-01T10:00:05.000Z",
        launch_options={"market": "ON_DEMAND"},
        log_locations=["s3://logs/x"],
        wait_reason="capacity cap reached",
        wait_until="2026-12-01T10:06:00.000Z",
        queued_at="2026-12-01T10:00:00.000Z",
        route_snapshot="{}",
        timeout_minutes=60,
    )

    # When it is encoded as its claim writes it, and decoded again
    item = table.encode_job(job)
    back = table.decode_job(item)

    # Then it is the same job (its history starts with its creation), keyed, in its route's queue, indexed by object
    assert back == Job(**{**job.__dict__, "history": [{"at": job.created_at, "state": "QUEUED", "source": "launcher"}]})
    assert item["pk"] == {"S": f"JOB#{job.job_id}"}
    assert item["sk"] == {"S": "JOB"}
    assert item["queue"] == {"S": "orders"}
    assert item[table.OBJECT_URI] == {"S": "s3://landing/raw/orders/a.csv"}


def test_engine_metrics_are_read_back_as_the_jobs_metrics() -> None:
    # Given a job item whose engine reported metrics (written by a terminal transition as engine_metrics)
    item = table.encode_job(Job("j", "r", "emr-ec2", JobState.SUBMITTING, 1, [], "t", "t"))
    item["engine_metrics"] = {"M": {"vcpu_hours": {"N": "1.5"}}}

    # When decoded / Then the job carries them
    assert table.decode_job(item).metrics == {"vcpu_hours": 1.5}


def test_an_update_declares_every_name_and_value_it_uses_and_nothing_else() -> None:
    # Given an update with SET, an append, REMOVE, ADD and a condition on reserved words (state, count)
    update = (
        Update()
        .set("state", "CLOSING", "closing")
        .append("actions", ["a"])
        .remove("close_by")
        .add("count", 1, "one")
        .when("#state IN (:open, :closing)", open="OPEN")
        .when("attribute_exists(#pk)")
    )

    # When its request is built
    request = update.request()

    # Then the expressions are as DynamoDB reads them, and the placeholders are exactly the ones they use
    assert request["UpdateExpression"] == (
        "SET #state = :closing, #actions = list_append(if_not_exists(#actions, :empty), :actions) "
        "REMOVE #close_by ADD #count :one"
    )
    assert request["ConditionExpression"] == "#state IN (:open, :closing) AND attribute_exists(#pk)"
    text = request["UpdateExpression"] + " " + request["ConditionExpression"]
    assert set(request["ExpressionAttributeNames"]) == set(re.findall(r"#\w+", text))
    assert set(request["ExpressionAttributeValues"]) == set(re.findall(r":\w+", text))
    assert request["ExpressionAttributeValues"][":one"] == {"N": "1"}
    assert request["ExpressionAttributeValues"][":empty"] == {"L": []}


def test_a_placeholder_bound_to_two_values_is_refused() -> None:
    # Given an update that binds :now / When another clause binds it to something else / Then it is refused
    update = Update().set("updated_at", "2026-12-01T10:00:00.000Z", "now")
    with pytest.raises(ValueError, match=":now"):
        update.when("#claimed_at < :now", now="2026-12-01T09:00:00.000Z")


def test_a_condition_alone_sends_no_update_expression_and_no_empty_maps() -> None:
    # Given a condition with no values / When its request is built
    request = Condition().when("attribute_not_exists(#paused_at)").condition_request()

    # Then it is only the condition and its one name
    assert request == {
        "ConditionExpression": "attribute_not_exists(#paused_at)",
        "ExpressionAttributeNames": {"#paused_at": "paused_at"},
    }
