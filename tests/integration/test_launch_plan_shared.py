"""The launcher and `routes explain` share one launch plan (launch_plan.py): driven with the same arrivals, they
take the same decision, name the same job and the same route, and explain renders the very request the launcher
sends to the engine (issue 16 item 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from typer.testing import CliRunner

from emr_dispatch.arrivals import Arrival, parse_s3_event
from emr_dispatch.control import CloseBatch
from emr_dispatch.engines import build_engines
from emr_dispatch.launch_plan import PREVIEW_BATCH_ID, PREVIEW_WORK_BUCKET
from emr_dispatch.operations import Explanation, explain
from emr_dispatch.routes import load_routes
from emr_dispatch.settings import settings_from
from emr_dispatch_tools.cli import app
from emr_dispatch_tools.cli.replay import notification_for
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline import iam

REGION = "us-east-1"
STACK = "emr-dispatch-test"  # the engines_stack fixture's
START_OPERATIONS = {"RunJobFlow", "StartJobRun"}
OUTCOME_OF_STATUS = {"started": "start", "batched": "batch", "skipped": "skip", "failed": "fail"}

# (bucket: landing | work, key, size): objects of each engine, a marker and what waits for it, a batched object,
# folder markers (empty, and with bytes: then only its route decides), unrouted keys, emr-dispatch's own writes,
# and hostile keys (options, shell text, a control character, a leading dash).
ARRIVALS = [
    ("landing", "raw/orders/2026-11-23/a b+c.csv", 11),
    ("landing", "raw/returns/2026/returns-1.csv", 12),
    ("landing", "raw/payments/p-1.csv", 13),
    ("landing", "raw/exports/2026-11-23/part-0.csv", 14),
    ("landing", "raw/exports/2026-11-23/_SUCCESS", 0),
    ("landing", "raw/clicks/c-1.csv", 15),
    ("landing", "raw/exports/2026-11-24/", 0),
    ("landing", "raw/exports/2026-11-25/", 7),
    ("landing", "somewhere/else.csv", 16),
    ("work", "manifests/clicks-batch/b-1.json", 17),
    ("work", "output/orders-daily/orders-daily-0123456789abcdef/part-0.csv", 18),
    ("landing", "raw/orders/--conf spark.driver.extraJavaOptions=$(id).csv", 19),
    ("landing", "raw/payments/-x; rm -rf ~.csv", 20),
    ("landing", "raw/orders/line\tbreak.csv", 21),
]

runner = CliRunner()


@pytest.fixture
def sent_starts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every engine start request the process sends (chained over the offline contract and IAM checks)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    previous = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in stubs

    def _make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name in START_OPERATIONS:
            sent.append((operation_name, json.loads(json.dumps(api_params))))
        return previous(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", _make_api_call)
    return sent


def _landed(stack: DeployedStack, which: str, key: str, size: int) -> dict[str, Any]:
    """The object put into the stack's bucket, and its classic notification as S3 would send it."""
    bucket = stack.outputs["LandingBucketName" if which == "landing" else "WorkBucketName"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    return notification_for(bucket, key, dict(s3.head_object(Bucket=bucket, Key=key)), REGION)


def _explain_cli(stack_name: str, uri: str, routes_file: str) -> dict[str, Any]:
    result = runner.invoke(
        app, ["routes", "explain", uri, "--stack", stack_name, "--routes", routes_file, "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    explained: dict[str, Any] = json.loads(result.stdout)
    return explained


def test_the_launcher_and_routes_explain_take_the_same_decision_and_send_the_same_request(
    engines_stack: DeployedStack, sent_starts: list[tuple[str, dict[str, Any]]]
) -> None:
    # Given the deployed stack (all three engines) and explain built from the launcher's own environment
    environment = {**engines_stack.function_environment("LauncherFunction"), "AWS_REGION": REGION}
    settings = settings_from(environment)
    routes = load_routes(Path(settings.routes_file))
    compared = []
    for which, key, size in ARRIVALS:
        # When an object lands and its notification reaches the launcher
        event = _landed(engines_stack, which, key, size)
        (arrival,) = parse_s3_event(event)
        assert isinstance(arrival, Arrival)
        before = len(sent_starts)
        (result,) = engines_stack.invoke("LauncherFunction", event)["results"]
        sent = sent_starts[before:]
        # ... and the same object version is explained (the function, and the CLI where it takes the URI)
        explained = explain(
            routes, build_engines(settings, _NoLedger()), arrival.bucket, key, settings.work_bucket, arrival
        )
        outcome = OUTCOME_OF_STATUS[result["status"]]

        # Then both took the same decision, for the same reason, on the same route and job
        assert (outcome, explained.route) == (explained.outcome, result["route"]), (key, result, explained)
        if outcome == "skip":
            assert explained.reason == result["reason"], key
        if outcome in ("start", "fail"):
            assert explained.job_id == result["job_id"], key
        # ... and the request explain renders is the one the launcher sent, to the byte
        if outcome == "start":
            ((_operation, request),) = sent[:1] if sent else [("", {})]
            assert explained.request == request, key
        else:
            assert sent == [], key
        if outcome == "batch":
            # ... and once the batch closes, its job's request is the one explain showed, with the batch's id, job id
            # and work bucket in place of what only the open batch knows
            batch_id = result["reason"]
            (closed,) = engines_stack.invoke("LauncherFunction", json.loads(CloseBatch(batch_id).body()))["results"]
            assert closed["status"] == "started", closed
            ((_operation, request),) = sent_starts[-1:]
            previewed = json.dumps(explained.request)
            for placeholder, value in (
                (str(explained.job_id), closed["job_id"]),
                (PREVIEW_BATCH_ID, batch_id),
                (PREVIEW_WORK_BUCKET, settings.work_bucket),
            ):
                previewed = previewed.replace(placeholder, value)
            assert json.loads(previewed) == request
        if not key.endswith("/"):  # the CLI takes a URI ending in "/" for a prefix, and says so
            with iam.denials_expected() as denials:  # the operator may not read the work bucket: said, not fatal
                shown = _explain_cli(STACK, arrival.uri, settings.routes_file)
            assert [denial.action for denial in denials] == (["s3:GetObject"] if which == "work" else []), key
            assert shown == {
                **_as_json(explained),
                "routes_file": settings.routes_file,
                "job_id_of": shown["job_id_of"],
            }
        compared.append((key, outcome))

    # And every kind of arrival was compared: started on each engine, batched, skipped for each reason
    assert {outcome for _key, outcome in compared} == {"start", "batch", "skip"}
    assert [key for key, outcome in compared if outcome == "start"] == [
        "raw/orders/2026-11-23/a b+c.csv",
        "raw/returns/2026/returns-1.csv",
        "raw/payments/p-1.csv",
        "raw/exports/2026-11-23/_SUCCESS",
        "raw/orders/--conf spark.driver.extraJavaOptions=$(id).csv",
        "raw/payments/-x; rm -rf ~.csv",
    ]


def _as_json(explanation: Explanation) -> dict[str, Any]:
    from dataclasses import asdict

    shown: dict[str, Any] = json.loads(json.dumps(asdict(explanation)))
    return shown


class _NoLedger:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        raise AssertionError("explaining must not read the ledger")
