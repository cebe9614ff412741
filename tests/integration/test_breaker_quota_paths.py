"""Issue 14's quota paths, attacked: each test is a defect the breaker found (F1-F10), fixed and kept as a regression
test (docs/decisions.md names each finding). Given/When/Then, virtual clock, the real template deployed into moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from emr_dispatch.jobs import Job, JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline.clock import VirtualClock
from emr_dispatch_tools.offline.drive import QueueDriver
from emr_dispatch_tools.offline.quotas import QuotaMeter
from sample_events import load_event

REGION = "us-east-1"

EC2_ROUTE = """
  - name: {name}
    match: {{prefix: {name}/}}
    engine: emr-ec2
    emr_ec2:
      release_label: emr-7.5.0
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
"""


def _routes(tmp_path: Path, header: str, *names: str) -> dict[str, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(header + "routes:" + "".join(EC2_ROUTE.format(name=name) for name in names), encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def _arrive(stack: DeployedStack, overrides: dict[str, str], meter: QuotaMeter, key: str) -> dict[str, Any]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    meter.clock.advance(0.01)  # distinct arrival times: oldest first is by claim time
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result


def _jobs(stack: DeployedStack) -> dict[str, Job]:
    ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    return {job.job_id: job for job in ledger.list_jobs()}


def test_a_route_later_in_the_file_is_not_starved_by_earlier_routes_backlogs(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given three EMR on EC2 routes and a start rate of 2 at once, one per 10 s (a user's routes file)
    header = "version: 1\nstart_rates:\n  emr-ec2: {per_second: 0.1, burst: 2}\n"
    overrides = _routes(tmp_path, header, "alpha", "bravo", "charlie")
    # ... and a burst: four files of each route, arriving alpha, bravo, charlie, alpha, bravo, charlie, ...
    arrived = [
        _arrive(stack, overrides, quota_meter, f"{name}/file-{n}.csv")
        for n in range(4)
        for name in ("alpha", "bravo", "charlie")
    ]
    assert [r["status"] for r in arrived[:3]] == ["started", "started", "queued"]
    charlie_first = arrived[2]["job_id"]

    # When the launcher's own start-queued requests are delivered as they fall due (no sweeper needed)
    clock = quota_meter.clock
    assert isinstance(clock, VirtualClock)
    driver = QueueDriver(
        stack.outputs["ArrivalsQueueUrl"],
        clock,
        lambda event: stack.invoke("LauncherFunction", event, overrides),
    )
    driver.run(until_quiet_for=600)

    # Then every job started, and charlie's first job - the oldest job waiting once the burst was spent - started
    # before the last jobs of alpha and bravo, which arrived long after it (fair across routes)
    jobs = _jobs(stack)
    assert {job.state for job in jobs.values()} == {JobState.SUBMITTED}
    last_alpha, last_bravo = arrived[9]["job_id"], arrived[10]["job_id"]
    charlie_started = jobs[charlie_first].submitted_at or ""
    assert charlie_started < (jobs[last_alpha].submitted_at or "")
    assert charlie_started < (jobs[last_bravo].submitted_at or "")


SERVERLESS_ROUTE = """
  - name: {name}
    match: {{prefix: {name}/}}
    engine: emr-serverless
    emr_serverless: {{managed_application: true}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
"""


def test_a_drain_after_a_routes_engine_changed_ends_while_its_old_engines_rate_is_spent(
    engines_stack: DeployedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emr_dispatch.capacity import Capacity
    from emr_dispatch_tools.offline.clock import virtual_time
    from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS

    # Given an EMR on EC2 route whose start rate (one per 100 s) left twelve of its jobs waiting QUEUED (more than
    # one read of a route's queue returns)
    stack, header = engines_stack, "version: 1\nstart_rates:\n  emr-ec2: {per_second: 0.01, burst: 1}\n"
    clock = VirtualClock()
    meter = QuotaMeter(DEFAULT_QUOTAS, clock)
    with virtual_time(clock), meter.installed():
        before = _routes(tmp_path, header, "alpha")
        arrived = [_arrive(stack, before, meter, f"alpha/file-{n}.csv") for n in range(13)]
        assert [r["status"] for r in arrived] == ["started"] + ["queued"] * 12
        # ... and the routes file redeployed with alpha moved to EMR Serverless (queued jobs keep their snapshot)
        after_path = tmp_path / "after.yaml"
        after_path.write_text(header + "routes:" + SERVERLESS_ROUTE.format(name="alpha"), encoding="utf-8")
        after = {"ROUTES_FILE": str(after_path)}
        takes = {"count": 0}
        original = Capacity.take_from_queue

        def counted(self: Capacity, job: Job, caps: Any) -> Any:
            takes["count"] += 1
            if takes["count"] > 50:
                raise RuntimeError("the drain took queued jobs 50 times without starting one")
            return original(self, job, caps)

        monkeypatch.setattr(Capacity, "take_from_queue", counted)

        # When a start-queued request for every route arrives before EMR on EC2's next start is due
        clock.advance(10)
        response = stack.invoke("LauncherFunction", {"emr-dispatch": "start-queued", "route": "*"}, after)

    # Then the drain ended after trying each waiting job at most once, and the jobs still wait QUEUED
    assert takes["count"] <= 12
    assert response is not None
    jobs = _jobs(stack)
    assert sorted(job.state.value for job in jobs.values()) == ["QUEUED"] * 12 + ["SUBMITTED"]


def test_a_start_throttled_by_the_account_wide_emr_bucket_waits_instead_of_failing(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    """Breaker F4 (fixed in 6adcc22): kept as a regression test, with the start that follows."""
    from dataclasses import replace

    from emr_dispatch import jobs as jobs_module
    from emr_dispatch_tools.lambda_events import scheduled_event
    from emr_dispatch_tools.offline.quotas import EMR, Rate
    from moto_helpers import receive_as_lambda_event

    # Given an account whose EMR calls all together (25 burst, 5/s by default) are spent by other callers for now
    quota_meter.quotas = replace(quota_meter.quotas, account={EMR: Rate(1, 0.001)})
    emr = boto3.client("emr", region_name=REGION)
    emr.list_clusters()  # someone else's call spends the account's last token
    overrides = _routes(tmp_path, "version: 1\n", "alpha")

    # When an arrival is launched and its RunJobFlow is throttled (and the lookup after it too)
    result = _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")

    # Then the job neither failed nor moved to another attempt: it waits for its start
    assert quota_meter.report.throttled[(EMR, "RunJobFlow")] >= 1
    job = _jobs(stack)[result["job_id"]]
    assert not job.state.is_terminal
    assert job.attempt == 1

    # When the account's EMR quota is back and the sweeper finds the start abandoned
    quota_meter.quotas = replace(quota_meter.quotas, account={EMR: Rate(25, 5.0)})
    quota_meter._buckets.pop((EMR, "*"))  # the account's bucket as the new quota makes it (full)
    quota_meter.clock.advance(jobs_module.ABANDONED_START_SECONDS + 60)
    stack.invoke("SweeperFunction", scheduled_event(REGION), overrides)
    for _ in range(3):
        messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
        if messages["Records"]:
            stack.invoke("LauncherFunction", messages, overrides)
        quota_meter.clock.advance(60)

    # Then it started, on exactly one cluster
    started = _jobs(stack)[result["job_id"]]
    assert started.state is JobState.SUBMITTED
    ours = [c for c in emr.list_clusters()["Clusters"] if c["Name"].startswith("emr-dispatch-alpha")]
    assert [c["Id"] for c in ours] == [started.engine_id]


def test_an_abandoned_start_looked_up_while_emr_still_throttles_keeps_its_message_and_its_claim(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    """Breaker's LOW note after F4: the lookup of an abandoned start (start-job, re-delivered arrival) throttled too."""
    from dataclasses import replace

    from emr_dispatch import jobs as jobs_module
    from emr_dispatch_tools.lambda_events import scheduled_event
    from emr_dispatch_tools.offline.checks import suspended
    from emr_dispatch_tools.offline.quotas import EMR, Rate
    from moto_helpers import receive_as_lambda_event

    # Given a start whose RunJobFlow and lookup were both throttled by an empty account-wide EMR bucket
    quota_meter.quotas = replace(quota_meter.quotas, account={EMR: Rate(1, 0.0001)})
    emr = boto3.client("emr", region_name=REGION)
    emr.list_clusters()  # someone else's call spends the account's last token
    overrides = _routes(tmp_path, "version: 1\n", "alpha")
    result = _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")

    # When the start is abandoned and the sweeper asks again, while the account's EMR bucket is still empty
    quota_meter.clock.advance(jobs_module.ABANDONED_START_SECONDS + 60)
    quota_meter._buckets[(EMR, "*")].tokens = 0.0
    stack.invoke("SweeperFunction", scheduled_event(REGION), overrides)
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    answer = stack.invoke("LauncherFunction", messages, overrides) if messages["Records"] else None

    # Then the launcher's message succeeded (nothing for SQS to retry into the DLQ), the job is still in hand, and no
    # cluster was started blindly
    assert messages["Records"], "the sweeper asked for the abandoned start"
    assert answer == {"batchItemFailures": []}
    job = _jobs(stack)[result["job_id"]]
    assert not job.state.is_terminal
    assert job.attempt == 1
    with suspended():  # the test looking, unmetered
        clusters = emr.list_clusters()["Clusters"]
    assert not [c for c in clusters if c["Name"].startswith("emr-dispatch-alpha")]


def _end_cluster(stack: DeployedStack, overrides: dict[str, str], cluster_id: str) -> None:
    """The job's cluster ends well; the tracker gets its events, then the launcher its start-queued request."""
    from emr_dispatch_tools.simulator import EmrEc2Simulator, Outcome
    from moto_helpers import receive_as_lambda_event

    for event in EmrEc2Simulator(region=REGION).run(cluster_id, Outcome.SUCCEED):
        stack.invoke("TrackerFunction", event, overrides)
    messages = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
    assert messages["Records"], "the tracker asked for queued jobs to be started"
    assert stack.invoke("LauncherFunction", messages, overrides) == {"batchItemFailures": []}


def test_a_freed_overall_slot_goes_to_the_oldest_waiting_job_not_back_to_the_same_route(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    # Given one job of all routes at a time (max_concurrent_jobs: 1), two uncapped routes, no start rate to wait for
    header = "version: 1\nmax_concurrent_jobs: 1\nstart_rates:\n  emr-ec2: {per_second: 100, burst: 100}\n"
    overrides = _routes(tmp_path, header, "alpha", "bravo")
    # ... alpha's first job running; then alpha's second, bravo's first and alpha's third waiting, in that order
    first = _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")
    waiting = [_arrive(stack, overrides, quota_meter, key) for key in ("alpha/file-1.csv", "bravo/file-0.csv")]
    last = _arrive(stack, overrides, quota_meter, "alpha/file-2.csv")
    assert [r["status"] for r in [first, *waiting, last]] == ["started", "queued", "queued", "queued"]

    # When alpha's running job ends (its slot is freed), and then the job that took the slot ends too
    _end_cluster(stack, overrides, first["engine_id"])
    jobs = _jobs(stack)
    assert jobs[waiting[0]["job_id"]].state is JobState.SUBMITTED  # the oldest waiting job took the slot
    _end_cluster(stack, overrides, jobs[waiting[0]["job_id"]].engine_id or "")

    # Then the slot went to bravo's job, the oldest one waiting, not to alpha's newer one
    jobs = _jobs(stack)
    assert jobs[waiting[1]["job_id"]].state is JobState.SUBMITTED
    assert jobs[last["job_id"]].state is JobState.QUEUED


def test_the_sweeper_never_asks_again_for_a_start_a_launcher_just_took_from_the_queue(
    stack: DeployedStack, quota_meter: QuotaMeter, tmp_path: Path
) -> None:
    from emr_dispatch.capacity import Capacity, Caps
    from emr_dispatch.table import job_key
    from emr_dispatch_tools.lambda_events import scheduled_event

    # Given a job's second attempt (its retry was due an hour ago) that waited QUEUED for the start rate
    overrides = _routes(tmp_path, "version: 1\nstart_rates:\n  emr-ec2: {per_second: 0.01, burst: 1}\n", "alpha")
    _arrive(stack, overrides, quota_meter, "alpha/file-0.csv")  # spends the start rate's one token
    waiting = _arrive(stack, overrides, quota_meter, "alpha/file-1.csv")
    assert waiting["status"] == "queued"
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = stack.outputs["LedgerTableName"]
    retry_at = "2026-01-01T00:00:00.000Z"  # long past: the retry's backoff ended, then it waited for the rate
    dynamodb.update_item(
        TableName=table,
        Key=job_key(waiting["job_id"]),
        UpdateExpression="SET attempt = :two, retry_at = :due",
        ExpressionAttributeValues={":two": {"N": "2"}, ":due": {"S": retry_at}},
    )
    # ... that a launcher has just taken from the queue and is now inside its RunJobFlow call
    quota_meter.clock.advance(100)
    job = _jobs(stack)[waiting["job_id"]]
    taken, status = Capacity(table, dynamodb).take_from_queue(job, Caps("alpha", None, None))
    assert status == "taken"
    assert taken is not None

    # When the sweeper runs meanwhile
    report = stack.invoke("SweeperFunction", scheduled_event(REGION), overrides)

    # Then it does not ask for that attempt to be started again (a second RunJobFlow would be a second cluster)
    assert waiting["job_id"] not in report["starts_requested"]


def test_a_sweep_that_times_out_twenty_jobs_at_once_stays_within_emrs_quotas(stack: DeployedStack) -> None:
    import json

    from emr_dispatch_tools.lambda_events import scheduled_event, sqs_event_of
    from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
    from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR

    # Given twenty EMR on EC2 jobs started together (the shipped orders-daily route: cap 20, timeout 120 min)
    for n in range(20):
        event = load_event("s3-object-created-eventbridge.json")
        event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
        event["detail"]["object"]["key"] = f"raw/orders/2026-11-23/orders-{n:03d}.csv"
        event["detail"]["object"]["version-id"] = f"v-{n:04d}"
        stack.invoke("LauncherFunction", sqs_event_of([json.dumps(event)], REGION))
    assert {job.state for job in _jobs(stack).values()} == {JobState.SUBMITTED}
    clock = VirtualClock()
    meter = QuotaMeter(DEFAULT_QUOTAS, clock)

    # When all of them are past their timeout at the next sweep (their events lost, their clusters still up)
    with virtual_time(clock), meter.installed():
        clock.advance(3 * 3600)
        report = stack.invoke("SweeperFunction", scheduled_event(REGION))

    # Then every one is TIMED_OUT, and no EMR call of the sweep was throttled (it paces itself, as its describes do)
    assert len(report["timed_out"]) == 20
    assert meter.report.throttled_of(EMR) == 0, dict(meter.report.throttled)


def test_a_sweep_that_finds_twenty_ended_clusters_stays_within_emrs_quotas(stack: DeployedStack) -> None:
    import json

    from emr_dispatch_tools.lambda_events import scheduled_event, sqs_event_of
    from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
    from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, EMR

    # Given twenty EMR on EC2 jobs whose clusters ended (terminated) and whose every event was lost
    for n in range(20):
        event = load_event("s3-object-created-eventbridge.json")
        event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
        event["detail"]["object"]["key"] = f"raw/orders/2026-11-23/orders-{n:03d}.csv"
        event["detail"]["object"]["version-id"] = f"v-{n:04d}"
        stack.invoke("LauncherFunction", sqs_event_of([json.dumps(event)], REGION))
    clusters = [job.engine_id or "" for job in _jobs(stack).values()]
    boto3.client("emr", region_name=REGION).terminate_job_flows(JobFlowIds=clusters)
    clock = VirtualClock()
    meter = QuotaMeter(DEFAULT_QUOTAS, clock)

    # When the sweeper runs once
    with virtual_time(clock), meter.installed():
        stack.invoke("SweeperFunction", scheduled_event(REGION))

    # Then it recorded their ends without one throttled EMR call
    assert meter.report.throttled_of(EMR) == 0, dict(meter.report.throttled)
    assert {job.state for job in _jobs(stack).values()} <= {JobState.CANCELLED, JobState.FAILED, JobState.SUCCEEDED}


def test_the_orphan_search_reaches_every_page_of_a_busy_application_over_a_few_sweeps(
    engines_stack: DeployedStack,
) -> None:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    from emr_dispatch_tools.lambda_events import scheduled_event
    from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time

    # Given the stack's EMR Serverless application shared with 2,000 live runs of other workloads (40 pages)
    pages_read: set[int] = set()

    def busy(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        page = int(params.get("query_string", {}).get("nextToken") or 0)
        pages_read.add(page)
        runs = [{"id": f"other{page:03d}x{n:02d}", "name": f"nightly-{n}"} for n in range(50)]
        body: dict[str, Any] = {"jobRuns": runs, "ResponseMetadata": {}}
        if page < 39:
            body["nextToken"] = str(page + 1)
        return AWSResponse("https://emr-serverless.us-east-1.amazonaws.com", 200, HTTPHeaders(), None), body

    events = boto3._get_default_session().events
    handler: Any = busy
    events.register("before-call.emr-serverless.ListJobRuns", handler, unique_id="breaker-busy")
    clock = VirtualClock()

    # When the sweeper runs on its schedule for an hour
    try:
        with virtual_time(clock):
            for _ in range(12):
                engines_stack.invoke("SweeperFunction", scheduled_event(REGION))
                clock.advance(300)
    finally:
        events.unregister("before-call.emr-serverless.ListJobRuns", unique_id="breaker-busy")

    # Then every page was searched at least once (an orphan on any of them is found within the hour)
    assert sorted(pages_read) == list(range(40)), f"pages never read: {sorted(set(range(40)) - pages_read)}"


def test_an_orphan_the_ledger_has_no_job_of_is_stopped_by_the_sweeper(engines_stack: DeployedStack) -> None:
    from emr_dispatch_tools.lambda_events import scheduled_event

    # Given an EMR on EKS job run named and tagged as emr-dispatch's (as everything it starts: the sweeper's role may
    # stop only those) that no job of the ledger owns (its job expired, or the ledger was replaced)
    eks = boto3.client("emr-containers", region_name=REGION)
    (cluster,) = eks.list_virtual_clusters(states=["RUNNING"])["virtualClusters"]
    orphan = eks.start_job_run(
        name="emr-dispatch-payments-eks-0123456789abcdef-a1",
        virtualClusterId=cluster["id"],
        clientToken="breaker-orphan",
        executionRoleArn="arn:aws:iam::123456789012:role/job-role",
        releaseLabel="emr-7.5.0-latest",
        jobDriver={"sparkSubmitJobDriver": {"entryPoint": "s3://bucket/job.py"}},
        tags={"managed-by": "emr-dispatch"},
    )

    # When the sweeper runs
    report = engines_stack.invoke("SweeperFunction", scheduled_event(REGION))

    # Then it stopped the orphan (its item of the sweep did not fail)
    assert not [error for error in report["errors"] if orphan["id"] in error], report["errors"]
    assert [engine_id for engine_id in report["orphans"] if engine_id.endswith(orphan["id"])]
