"""emr-dispatch jobs find (from the by_object index), routes pause/resume and dlq show, against template.yaml
deployed into moto with all three engines: what on-call reads when a file landed and nothing (visible) happened."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from typer.testing import CliRunner

from emr_dispatch_tools.cli import EXIT_NOT_FOUND, EXIT_NOTHING_DONE, app
from emr_dispatch_tools.cli.replay import notification_for
from emr_dispatch_tools.moto_stack import ROOT, DeployedStack
from sample_events import load_event

STACK = "emr-dispatch-test"
BUCKET = "partner-landing"
ROUTES = ROOT / "config" / "routes.yaml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMR_DISPATCH_TABLE", "EMR_DISPATCH_STACK"):
        monkeypatch.delenv(name, raising=False)


def _cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--stack", STACK, "--output", "json"])
    return result, json.loads(result.stdout)


def _arrive(stack: DeployedStack, key: str, etag: str = "0123456789abcdef0123456789abcdef") -> dict[str, Any]:
    event = load_event("s3-put-classic.json")
    obj = event["Records"][0]["s3"]["object"]
    event["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    obj.update(key=quote_plus(key, safe="/"), eTag=etag, size=12)
    obj.pop("versionId", None)
    answer: dict[str, Any] = stack.invoke("LauncherFunction", event)
    (result,) = answer["results"]
    return dict(result)


def test_jobs_find_answers_for_jobs_batches_markers_skips_and_the_unseen(engines_stack: DeployedStack) -> None:
    stack = engines_stack
    # Given a routed file, an unrouted one, a batch member, a marker folder's part file and its marker
    started = _arrive(stack, "raw/orders/2026-11-23/a.csv")
    _arrive(stack, "raw/customers/x.csv")
    batched = _arrive(stack, "raw/clicks/2026-11-23/c1.csv")
    _arrive(stack, "raw/exports/2026-11-23/part-0001.csv")
    marker = _arrive(stack, "raw/exports/2026-11-23/_SUCCESS")
    assert (started["status"], batched["status"], marker["status"]) == ("started", "batched", "started")

    # When on-call asks for each / Then each answer says what became of the file
    result, rows = _cli("jobs", "find", f"s3://{BUCKET}/raw/orders/2026-11-23/a.csv")
    assert result.exit_code == 0, result.output
    assert rows[0]["job_id"] == started["job_id"]
    assert rows[0]["state"] == "SUBMITTED"
    assert rows[0]["next"] == f"emr-dispatch jobs show {started['job_id']}"
    assert rows[0]["version"] == "0123456789abcdef0123456789abcdef:12"  # unversioned: etag and size
    _, rows = _cli("jobs", "find", f"s3://{BUCKET}/raw/customers/x.csv")
    assert rows[0]["skip_reason"] == "no route matches"
    _, rows = _cli("jobs", "find", f"s3://{BUCKET}/raw/clicks/2026-11-23/c1.csv")
    assert rows[0]["batch_id"] == batched["reason"]  # the launcher names the batch it joined
    assert "batch" in rows[0]["how"]
    _, rows = _cli("jobs", "find", f"s3://{BUCKET}/raw/exports/2026-11-23/part-0001.csv")
    assert rows[0]["job_id"] == marker["job_id"]
    assert "marker" in rows[0]["how"]
    result, error = _cli("jobs", "find", f"s3://{BUCKET}/raw/orders/never.csv")
    assert result.exit_code == EXIT_NOT_FOUND
    assert "never seen" in error["error"]
    # ... and a version that is not the one seen is not found either
    result, _ = _cli("jobs", "find", f"s3://{BUCKET}/raw/orders/2026-11-23/a.csv", "--version", "other:1")
    assert result.exit_code == EXIT_NOT_FOUND


def test_a_paused_route_queues_its_arrivals_and_resume_starts_them(stack: DeployedStack) -> None:
    # Given a paused route
    result, paused = _cli("routes", "pause", "orders-daily", "--reason", "partner re-sending")
    assert result.exit_code == 0, result.output
    assert paused["paused"] is True
    # ... pausing it again changes nothing, and says so
    assert _cli("routes", "pause", "orders-daily")[0].exit_code == EXIT_NOTHING_DONE
    # When a file lands for it
    waiting = _arrive(stack, "raw/orders/2026-11-23/b.csv")
    # Then it waits QUEUED with the reason, and no cluster was started
    assert (waiting["status"], waiting["reason"]) == ("queued", "route paused")
    assert boto3.client("emr", region_name=stack.region).list_clusters()["Clusters"] == []
    # When the route is resumed, the launcher is asked to start what waited (a start-queued message)
    result, resumed = _cli("routes", "resume", "orders-daily")
    assert resumed["paused"] is False
    assert result.exit_code == 0, result.output
    messages = boto3.client("sqs", region_name=stack.region).receive_message(
        QueueUrl=stack.outputs["ArrivalsQueueUrl"], MaxNumberOfMessages=10
    )["Messages"]
    (started,) = stack.invoke("LauncherFunction", json.loads(messages[0]["Body"]))["results"]
    # Then the queued job starts
    assert (started["status"], started["job_id"]) == ("started", waiting["job_id"])
    assert _cli("routes", "resume", "orders-daily")[0].exit_code == EXIT_NOTHING_DONE


def test_dlq_show_reads_without_taking(stack: DeployedStack) -> None:
    # Given an arrival and an engine event dead-lettered
    sqs = boto3.client("sqs", region_name=stack.region)
    arrival = load_event("s3-put-classic.json")
    sqs.send_message(QueueUrl=stack.outputs["ArrivalsDeadLetterQueueUrl"], MessageBody=json.dumps(arrival))
    event = load_event("emr-step-failed.json")
    sqs.send_message(QueueUrl=stack.outputs["EventsDeadLetterQueueUrl"], MessageBody=json.dumps(event))
    # When on-call looks into each
    result, shown = _cli("dlq", "show", "arrivals")
    _, events = _cli("dlq", "show", "events")
    # Then each message says what it is, and it is still there for a redrive
    assert result.exit_code == 0, result.output
    (message,) = shown["messages"]
    assert message["what"] == "S3 arrival (1 object(s))"
    assert "raw/orders/2026-11-23/orders 1+2 café.csv" in message["detail"]
    assert "j-2AXXXXXXGAPLF" in events["messages"][0]["detail"]
    _, again = _cli("dlq", "show", "arrivals")
    assert len(again["messages"]) == 1


def test_routes_explain_with_the_stack_names_the_real_job(stack: DeployedStack) -> None:
    # Given an object in the landing bucket whose arrival started a job
    s3 = boto3.client("s3", region_name=stack.region)
    landing, key = stack.outputs["LandingBucketName"], "raw/orders/2026-11-23/explained.csv"
    s3.put_object(Bucket=landing, Key=key, Body=b"order_id\n1\n")
    head = dict(s3.head_object(Bucket=landing, Key=key))
    (started,) = stack.invoke("LauncherFunction", notification_for(landing, key, head, stack.region))["results"]
    # When routes explain looks at it with the stack
    result = runner.invoke(
        app, ["routes", "explain", f"s3://{landing}/{key}", "--stack", STACK, "--routes", str(ROUTES), "-o", "json"]
    )
    # Then the job id it prints is that job's, not one of an imagined version
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["job_id"] == started["job_id"]
