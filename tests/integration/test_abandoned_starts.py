"""An abandoned start (its launcher died, or its start call went unanswered) is looked up within a bound and has a
deadline and an owner (the reviewer's HIGH note after issue 14's F4; DESIGN.md invariant 8): EMR on EC2 looks for
the attempt's cluster only among the clusters created around its start call, a lookup that cannot finish in its time
answers "unknown" instead of failing its message, and the sweeper ends a start it asked for too often.
Given/When/Then, the real template deployed into moto, IAM and the APIs' contracts checked on every call, EMR's
quotas on a virtual clock."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from emr_dispatch import invocation, jobs
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch.timeutil import parse_iso
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.quotas import QuotaMeter
from moto_helpers import Published
from sample_events import load_event

REGION = "us-east-1"

ROUTE = """version: 1
routes:
  - name: alpha
    match: {prefix: alpha/}
    engine: emr-ec2
    max_concurrent: 1
    emr_ec2:
      release_label: emr-7.5.0
      instances: {primary: {instance_type: m7g.xlarge}}
    job:
      entry_point: s3://{work_bucket}/jobs/clean_csv.py
      arguments: ["--input={input_uri}"]
"""


def _routes(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTE, encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, overrides: dict[str, str], key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _job(stack: DeployedStack, job_id: str) -> Job:
    job = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION)).get(job_id)
    assert job is not None
    return job


def _ours() -> list[dict[str, Any]]:
    from emr_dispatch_tools.offline.checks import suspended

    with suspended():  # the test looking, unmetered
        pages = boto3.client("emr", region_name=REGION).get_paginator("list_clusters").paginate()
        return [dict(c) for page in pages for c in page["Clusters"] if c["Name"].startswith("emr-dispatch-alpha")]


def _deliver(stack: DeployedStack, overrides: dict[str, str]) -> list[dict[str, Any]]:
    """Every message on the arrivals queue now, to the launcher (as its event source mapping would)."""
    from moto_helpers import receive_as_lambda_event

    answers = []
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    while messages["Records"]:
        answers.append(stack.invoke("LauncherFunction", messages, overrides))
        messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    return answers


def _sweep(stack: DeployedStack, overrides: dict[str, str]) -> dict[str, Any]:
    from emr_dispatch_tools.lambda_events import scheduled_event

    report: dict[str, Any] = stack.invoke("SweeperFunction", scheduled_event(REGION), overrides)
    return report


@contextlib.contextmanager
def list_clusters_requests() -> Iterator[list[dict[str, Any]]]:
    """The parameters of every ListClusters call made inside the block (by anyone: the test filters)."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    events: Any = boto3._get_default_session().events
    handler: Any = record
    events.register("provide-client-params.emr.ListClusters", handler, unique_id="test-list-clusters")
    try:
        yield seen
    finally:
        events.unregister("provide-client-params.emr.ListClusters", unique_id="test-list-clusters")


@contextlib.contextmanager
def run_job_flow_reply_lost(when: str) -> Iterator[None]:
    """RunJobFlow's reply is lost: ``after`` EMR created the cluster, or ``before`` the request reached it."""

    def lose(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://elasticmapreduce.us-east-1.amazonaws.com/")

    events: Any = boto3._get_default_session().events
    handler: Any = lose
    events.register(f"{when}-call.emr.RunJobFlow", handler, unique_id="test-reply-lost")
    try:
        yield
    finally:
        events.unregister(f"{when}-call.emr.RunJobFlow", unique_id="test-reply-lost")


def _others_create_clusters(meter: QuotaMeter, count: int, every: float) -> None:
    """Other workloads of the account create ``count`` clusters, one every ``every`` seconds."""
    from emr_dispatch_tools.offline.checks import suspended

    emr = boto3.client("emr", region_name=REGION)
    with suspended():
        for n in range(count):
            meter.clock.advance(every)
            emr.run_job_flow(
                Name=f"nightly-{n}",
                ReleaseLabel="emr-7.5.0",
                Instances={"MasterInstanceType": "m7g.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
                JobFlowRole="EMR_EC2_DefaultRole",
                ServiceRole="EMR_DefaultRole",
            )


def _end_cluster(stack: DeployedStack, overrides: dict[str, str], cluster_id: str) -> None:
    from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome

    for event in EmrEc2Simulator(region=REGION).run(cluster_id, Outcome.SUCCEED):
        stack.invoke("TrackerFunction", event, overrides)


def test_a_job_queued_for_hours_is_looked_up_only_among_the_clusters_created_around_its_start(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emr_dispatch.errors import LedgerError

    # Given a route capped at one cluster: its first job runs for three hours, its second waits QUEUED meanwhile
    overrides = _routes(tmp_path)
    first = _arrive(stack, overrides, "alpha/file-0.csv")
    waiting = _arrive(stack, overrides, "alpha/file-1.csv")
    assert [first["status"], waiting["status"]] == ["started", "queued"]
    # ... while other workloads of the account create 180 clusters (four ListClusters pages), one a minute
    _others_create_clusters(quota_meter, 180, 60)
    # ... then the first job ends, and the launcher that takes the second from the queue dies after its RunJobFlow,
    # before recording the cluster
    _end_cluster(stack, overrides, first["engine_id"])

    def crash(*args: object, **kwargs: object) -> None:
        raise LedgerError("injected fault: the invocation died after RunJobFlow")

    with monkeypatch.context() as fault:
        fault.setattr(Ledger, "record_submitted", crash)
        (answer,) = _deliver(stack, overrides)
    assert answer["batchItemFailures"], "the start-queued request failed with its launcher"
    (cluster,) = [c for c in _ours() if c["Id"] != first["engine_id"]]
    sent_at = parse_iso(_job(stack, waiting["job_id"]).start_sent_at or "")

    # When the start is abandoned and the sweeper asks the launcher again (the request delivered twice)
    quota_meter.clock.advance(jobs.ABANDONED_START_SECONDS + 60)
    with list_clusters_requests() as requests:
        report = _sweep(stack, overrides)
        assert waiting["job_id"] in report["starts_requested"]
        from moto_helpers import receive_as_lambda_event

        messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
        once = stack.invoke("LauncherFunction", messages, overrides)
        again = stack.invoke("LauncherFunction", messages, overrides)

    # Then the launcher found the cluster and recorded it (the second delivery changed nothing): one cluster, no new
    # RunJobFlow
    assert once == again == {"batchItemFailures": []}
    job = _job(stack, waiting["job_id"])
    assert job.state is JobState.SUBMITTED
    assert job.engine_id == cluster["Id"]
    assert len(_ours()) == 2
    # ... and it asked only for the clusters created within minutes of the start call (one page), not for the 180
    # created since the job arrived
    lookups = [request for request in requests if "CreatedAfter" in request]
    assert len(lookups) == 1, lookups
    (lookup,) = lookups
    assert sent_at - lookup["CreatedAfter"] <= jobs_window_margin()
    assert lookup["CreatedBefore"] - sent_at <= jobs_window_margin() + _seconds(jobs.ABANDONED_START_SECONDS)


def jobs_window_margin() -> Any:
    from emr_dispatch.engines.emr_ec2 import LOOKUP_MARGIN

    return LOOKUP_MARGIN


def _seconds(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


def _busy_list_clusters() -> Callable[..., Any]:
    """ListClusters of a very busy account: every page full of other workloads' clusters, and another one after it."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    def busy(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        body = json.loads(params.get("body") or b"{}")
        page = int(body.get("Marker") or 0)
        clusters = [{"Id": f"j-OTHER{page:04d}{n:02d}", "Name": f"nightly-{n}"} for n in range(50)]
        reply = {"Clusters": clusters, "Marker": str(page + 1), "ResponseMetadata": {}}
        return AWSResponse("https://elasticmapreduce.us-east-1.amazonaws.com", 200, HTTPHeaders(), None), reply

    return busy


def test_a_lookup_that_cannot_finish_in_its_time_answers_unknown_and_keeps_its_message_and_its_claim(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given a start whose RunJobFlow request was lost before EMR got it (no cluster; the claim kept)
    overrides = _routes(tmp_path)
    with run_job_flow_reply_lost("before"):
        started = _arrive(stack, overrides, "alpha/file-0.csv")
    assert started["status"] == "unknown"
    # ... in an account so busy that ListClusters has more pages in the lookup's window than it can read in its time
    quota_meter.clock.advance(jobs.ABANDONED_START_SECONDS + 60)
    report = _sweep(stack, overrides)
    assert started["job_id"] in report["starts_requested"]
    events: Any = boto3._get_default_session().events
    events.register("before-call.emr.ListClusters", _busy_list_clusters(), unique_id="test-busy")

    # When the launcher gets the sweeper's request
    began = quota_meter.clock.monotonic()
    try:
        answers = _deliver(stack, overrides)
    finally:
        events.unregister("before-call.emr.ListClusters", unique_id="test-busy")
    spent = quota_meter.clock.monotonic() - began

    # Then its message succeeded (nothing for SQS to retry into the DLQ), within the lookup's time, and the attempt is
    # still in hand: no RunJobFlow was sent blindly
    assert answers == [{"batchItemFailures": []}]
    assert spent <= invocation.LOOKUP_SECONDS + 1
    job = _job(stack, started["job_id"])
    assert (job.state, job.attempt, job.engine_id) == (JobState.SUBMITTING, 1, None)
    assert _ours() == []


def test_a_start_still_unresolved_after_the_sweepers_last_request_fails_once_and_its_cluster_is_stopped(
    stack: DeployedStack,
    quota_meter: QuotaMeter,
    tmp_path: Path,
    alerts: Callable[[], list[Published]],
) -> None:
    from dataclasses import replace

    from emr_dispatch.capacity import Capacity
    from emr_dispatch_tools.offline.quotas import EMR, Rate

    # Given an account whose EMR calls all together have one token, and little refill (other callers spend it)
    quota_meter.quotas = replace(quota_meter.quotas, account={EMR: Rate(1, 0.0001)})
    overrides = _routes(tmp_path)
    # ... and a start whose RunJobFlow created the cluster, but whose reply was lost and whose lookup was throttled
    with run_job_flow_reply_lost("after"):
        started = _arrive(stack, overrides, "alpha/file-0.csv")
    assert started["status"] == "unknown"
    (cluster,) = _ours()

    # When the sweeper runs every five minutes, and every lookup the launcher makes is throttled
    for _ in range(jobs.MAX_START_REQUESTS + 1):
        quota_meter.clock.advance(300 + 60)
        quota_meter._buckets[(EMR, "*")].tokens = 0.0
        _sweep(stack, overrides)
        assert all(answer == {"batchItemFailures": []} for answer in _deliver(stack, overrides))

    # Then after the sweeper's last request the job ended FAILED START_ABANDONED, its slot given back, one alert
    job = _job(stack, started["job_id"])
    assert (job.state, job.reason_code, job.start_requests) == (
        JobState.FAILED,
        jobs.START_ABANDONED,
        jobs.MAX_START_REQUESTS,
    )
    capacity = Capacity(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    assert capacity.active("alpha") == 0
    failures = [alert for alert in alerts() if started["job_id"] in alert.message]
    assert len(failures) == 1
    assert jobs.START_ABANDONED in failures[0].message

    # When the account's EMR quota is back and the sweeper runs again
    quota_meter.quotas = replace(quota_meter.quotas, account={EMR: Rate(25, 5.0)})
    quota_meter._buckets.pop((EMR, "*"))
    quota_meter.clock.advance(300)
    report = _sweep(stack, overrides)

    # Then the cluster the lost start created is stopped as an orphan (its job ended), and no other was started
    assert cluster["Id"] in report["orphans"]
    assert len(_ours()) == 1


def test_a_retrys_attempt_that_never_sent_a_start_call_starts_without_a_lookup(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    from emr_dispatch.table import job_key

    # Given a job's second attempt, due an hour ago, that no launcher took yet (as a retry leaves it: no send time)
    overrides = _routes(tmp_path)
    with run_job_flow_reply_lost("before"):
        first = _arrive(stack, overrides, "alpha/file-0.csv")
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key=job_key(first["job_id"]),
        UpdateExpression="SET attempt = :two, retry_at = :due REMOVE starting_at, start_sent_at",
        ExpressionAttributeValues={":two": {"N": "2"}, ":due": {"S": "2026-01-01T00:00:00.000Z"}},
    )

    # When the sweeper asks for it and the launcher gets the request
    with list_clusters_requests() as requests:
        report = _sweep(stack, overrides)
        assert first["job_id"] in report["starts_requested"]
        assert _deliver(stack, overrides) == [{"batchItemFailures": []}]

    # Then it started at once: no cluster lookup (nothing of that attempt could exist)
    job = _job(stack, first["job_id"])
    assert (job.state, job.attempt) == (JobState.SUBMITTED, 2)
    assert not [request for request in requests if "CreatedAfter" in request]
