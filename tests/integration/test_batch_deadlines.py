"""Nothing stranded in a batch (issue 13, items 1, 2 and 10): every OPEN or CLOSING batch has a deadline and the
sweeper as its owner; a batch whose route is gone ends in a FAILED job with one alert; every item a batch writes
expires; transaction conflicts between concurrent launchers are retried in place."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from faults import InjectedCrashError, crash_at

from emr_dispatch import wiring
from emr_dispatch.batches import CLOSE_MARGIN_SECONDS, CLOSING_GRACE_SECONDS
from emr_dispatch.errors import EmrDispatchError
from emr_dispatch.inputs import ManifestInput
from emr_dispatch.ledger import RETENTION_SECONDS, Ledger
from emr_dispatch.sweep import SweepReport
from emr_dispatch_tools.moto_stack import DeployedStack, load_sam_template
from moto_helpers import Published
from sample_events import load_event

REGION = "us-east-1"
WINDOW = 300
ENGINE_ROUTE = """
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
"""
CLICKS = f"""
  - name: clicks
    match: {{prefix: clicks/}}
    engine: emr-ec2
    batching: {{mode: batch, window_seconds: {WINDOW}, max_count: 10}}{ENGINE_ROUTE}    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--inputs-manifest={{inputs_manifest_uri}}", "--job-id={{job_id}}"]
"""
CAPPED = f"""
  - name: capped
    match: {{prefix: capped/}}
    engine: emr-ec2
    max_concurrent: 2{ENGINE_ROUTE}    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}", "--job-id={{job_id}}"]
"""


def _routes_file(tmp_path: Path, name: str, *routes: str) -> dict[str, str]:
    path = tmp_path / name
    path.write_text("version: 1\nroutes:" + "".join(routes), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


@pytest.fixture
def overrides(tmp_path: Path) -> dict[str, str]:
    return _routes_file(tmp_path, "routes.yaml", CLICKS, CAPPED)


def _arrive(stack: DeployedStack, overrides: dict[str, str], key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"].update(key=key, size=100)  # EventBridge keys are not form-encoded
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _queued_closes(stack: DeployedStack) -> list[dict[str, Any]]:
    """close-batch messages on the arrivals queue, delayed or not (read from moto's queue directly)."""
    from moto.sqs.models import sqs_backends

    queue_name = stack.outputs["ArrivalsQueueUrl"].rsplit("/", 1)[1]
    queue = sqs_backends["123456789012"][REGION].queues[queue_name]
    bodies = [json.loads(message.body) for message in queue._messages]
    return [body for body in bodies if body.get("emr-dispatch") == "close-batch"]


def _lose_queued_messages(stack: DeployedStack) -> None:
    """Every message on the arrivals queue is lost (a DLQ'd close, a send that never happened)."""
    boto3.client("sqs", region_name=REGION).purge_queue(QueueUrl=stack.outputs["ArrivalsQueueUrl"])


def _table_items(stack: DeployedStack) -> list[dict[str, Any]]:
    pages = boto3.client("dynamodb", region_name=REGION).get_paginator("scan")
    return [item for page in pages.paginate(TableName=stack.outputs["LedgerTableName"]) for item in page["Items"]]


def _batch_states(stack: DeployedStack) -> dict[str, str]:
    return {
        item["pk"]["S"]: item["state"]["S"]
        for item in _table_items(stack)
        if item["pk"]["S"].startswith("BATCH#") and item["sk"]["S"] == "BATCH"
    }


def _ledger(stack: DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


@pytest.fixture
def sweep(
    stack: DeployedStack, overrides: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[datetime], SweepReport]:
    """The deployed sweeper, in this process, at a chosen time."""
    for name, value in {**stack.function_environment("SweeperFunction"), **overrides}.items():
        monkeypatch.setenv(name, value)

    def run(now: datetime) -> SweepReport:
        wiring.reset()
        try:
            return wiring.sweeper().sweep(now)
        finally:
            wiring.reset()

    return run


def _later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_redelivered_arrival_asks_for_the_close_its_creator_never_sent(
    stack: DeployedStack, overrides: dict[str, str]
) -> None:
    # Given an arrival whose invocation opened a batch and died before sending its close-batch message
    with crash_at("sqs", "SendMessage", "before"), pytest.raises(InjectedCrashError):
        _arrive(stack, overrides, "clicks/a.csv")
    assert _queued_closes(stack) == []

    # When SQS redelivers it
    assert _arrive(stack, overrides, "clicks/a.csv")["status"] == "batched"

    # Then the redelivery asked for the batch's close (its creator never did)
    assert len(_queued_closes(stack)) == 1


def test_an_open_batch_whose_close_message_was_lost_is_closed_by_the_sweeper(
    stack: DeployedStack, overrides: dict[str, str], sweep: Callable[[datetime], SweepReport]
) -> None:
    # Given an OPEN batch of two arrivals whose close-batch message is lost
    for key in ("clicks/a.csv", "clicks/b.csv"):
        assert _arrive(stack, overrides, key)["status"] == "batched"
    _lose_queued_messages(stack)

    # When a sweep runs before the batch's deadline (its window plus a margin), then it leaves the batch alone
    assert sweep(_later(WINDOW)).batches_closed == []
    # When a sweep runs past the deadline
    report = sweep(_later(WINDOW + CLOSE_MARGIN_SECONDS + 1))

    # Then it asked the launcher, through its own close path, to close the batch — once
    (batch_id,) = report.batches_closed
    assert sweep(_later(WINDOW + CLOSE_MARGIN_SECONDS + 2)).batches_closed == []
    (close,) = _queued_closes(stack)
    assert close["batch_id"] == batch_id
    # And when the launcher handles that message, the batch's arrivals become one job and the batch is CLOSED
    (result,) = stack.invoke("LauncherFunction", close, overrides)["results"]
    assert result["status"] == "started"
    (job,) = _ledger(stack).list_jobs()
    assert isinstance(job.inputs[0], ManifestInput)
    assert job.inputs[0].count == 2
    assert _batch_states(stack) == {f"BATCH#{batch_id}": "CLOSED"}


def test_a_batch_left_closing_by_a_dead_invocation_is_closed_by_the_sweeper(
    stack: DeployedStack, overrides: dict[str, str], sweep: Callable[[datetime], SweepReport]
) -> None:
    # Given a batch filled by its 10th arrival, whose invocation dies while writing the manifest
    for n in range(9):
        _arrive(stack, overrides, f"clicks/file-{n}.csv")
    with crash_at("s3", "PutObject", "before"), pytest.raises(InjectedCrashError):
        _arrive(stack, overrides, "clicks/file-9.csv")
    assert set(_batch_states(stack).values()) == {"CLOSING"}
    # And every message that could have closed it is lost (its window's close went to the DLQ)
    _lose_queued_messages(stack)

    # When a sweep runs past the CLOSING grace period, and the launcher handles what it asked for
    (batch_id,) = sweep(_later(CLOSING_GRACE_SECONDS + 1)).batches_closed
    (close,) = _queued_closes(stack)
    stack.invoke("LauncherFunction", close, overrides)

    # Then one job runs over all 10 arrivals, and the batch is CLOSED
    (job,) = _ledger(stack).list_jobs()
    assert isinstance(job.inputs[0], ManifestInput)
    assert job.inputs[0].count == 10
    assert _batch_states(stack) == {f"BATCH#{batch_id}": "CLOSED"}


def test_a_closing_batch_whose_route_was_removed_ends_in_one_failed_job_and_one_alert(
    stack: DeployedStack,
    overrides: dict[str, str],
    tmp_path: Path,
    alerts: Callable[[], list[Published]],
) -> None:
    # Given three arrivals in an OPEN batch of route clicks
    for n in range(3):
        assert _arrive(stack, overrides, f"clicks/file-{n}.csv")["status"] == "batched"
    (close,) = _queued_closes(stack)
    # And a redeploy whose routes file no longer has clicks (renamed or removed)
    edited = _routes_file(tmp_path, "routes-edited.yaml", CAPPED)

    # When the batch's window ends, and its close-batch message is delivered twice
    (first,) = stack.invoke("LauncherFunction", close, edited)["results"]
    again = stack.invoke("LauncherFunction", close, edited)["results"]

    # Then its arrivals end in one job FAILED with reason ROUTE_REMOVED, over the batch's manifest
    assert (first["status"], first["reason"]) == ("failed", "ROUTE_REMOVED")
    assert again == []
    (job,) = _ledger(stack).list_jobs()
    assert (job.state.value, job.reason_code, job.route) == ("FAILED", "ROUTE_REMOVED", "clicks")
    assert isinstance(job.inputs[0], ManifestInput)
    assert job.inputs[0].count == 3
    manifest = boto3.client("s3", region_name=REGION).get_object(Bucket=job.inputs[0].bucket, Key=job.inputs[0].key)
    listed = json.loads(manifest["Body"].read())["inputs"]
    assert sorted(item["key"] for item in listed) == [f"clicks/file-{n}.csv" for n in range(3)]
    # And exactly one alert says so; the batch is CLOSED (nothing waits on it any more)
    (alert,) = alerts()
    assert "ROUTE_REMOVED" in alert.message
    assert set(_batch_states(stack).values()) == {"CLOSED"}


def test_every_item_a_batch_writes_expires(stack: DeployedStack, overrides: dict[str, str]) -> None:
    # Given a burst of 12 arrivals on a batch route (one full batch, closed at once, and one open), closed
    for n in range(12):
        _arrive(stack, overrides, f"clicks/file-{n:02}.csv")
    for close in _queued_closes(stack):
        stack.invoke("LauncherFunction", close, overrides)

    # When the ledger is read
    items = [item for item in _table_items(stack) if item["pk"]["S"].split("#")[0] in ("BATCH", "ARRIVAL", "BATCHSEQ")]

    # Then every batch, member, arrival claim and window pointer carries the table's TTL attribute (its name read
    # from template.yaml), set past the retention
    ttl = load_sam_template()["Resources"]["LedgerTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"]
    kinds = {(item["pk"]["S"].split("#")[0], item["sk"]["S"].split("#")[0]) for item in items}
    assert kinds == {("BATCH", "BATCH"), ("BATCH", "ARRIVAL"), ("ARRIVAL", "ARRIVAL"), ("BATCHSEQ", "SEQ")}
    soonest = datetime.now(UTC).timestamp() + RETENTION_SECONDS - 60
    assert [item["pk"]["S"] for item in items if float(item.get(ttl, {}).get("N", "0")) < soonest] == []


@contextlib.contextmanager
def _conflicts(times: int) -> Iterator[None]:
    """DynamoDB cancels the next ``times`` TransactWriteItems with a TransactionConflict (another launcher's
    transaction held an item), as the service does: nothing written."""
    left = {"n": times}

    def conflict(model: Any, **_: Any) -> None:
        if left["n"] > 0:
            left["n"] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}],
                },
                model.name,
            )

    events = boto3._get_default_session().events
    handler: Any = conflict
    events.register("before-call.dynamodb.TransactWriteItems", handler, unique_id="test-conflict")
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="test-conflict")


@pytest.mark.parametrize(("key", "status"), [("clicks/a.csv", "batched"), ("capped/a.csv", "started")])
def test_transaction_conflicts_on_batch_and_capacity_items_are_retried_in_place(
    stack: DeployedStack, overrides: dict[str, str], key: str, status: str
) -> None:
    # Given DynamoDB cancelling the arrival's transaction (a batch join, a capacity claim) twice for a conflict
    with _conflicts(2):
        # When the arrival is launched
        result = _arrive(stack, overrides, key)

    # Then it went through in this delivery, not failed back to SQS
    assert result["status"] == status


def test_a_conflict_that_never_ends_still_fails_the_message(stack: DeployedStack, overrides: dict[str, str]) -> None:
    # Given DynamoDB cancelling every transaction for a conflict / When an arrival is launched
    # Then the retries are bounded: the message fails (SQS delivers it again later)
    with _conflicts(1_000), pytest.raises(EmrDispatchError, match="TransactionConflict"):
        _arrive(stack, overrides, "clicks/a.csv")
