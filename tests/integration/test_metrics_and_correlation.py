"""One job's story in metrics and logs: the handlers' EMF records and one correlation id, arrival to alert."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

from emr_dispatch.observability import logger
from emr_dispatch_tools.logs import diverted_logs
from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import Published, launch_classic, set_step_state
from sample_events import for_cluster, load_event, with_bucket


def test_a_failed_job_is_counted_and_every_line_about_it_carries_its_job_id(
    stack: DeployedStack, alerts: Callable[[], list[Published]]
) -> None:
    # Given the handlers' logs as CloudWatch would hold them (JSON lines)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    with diverted_logs(handler):
        # When an object lands (twice: a duplicate delivery), its job starts, its step fails and EMR says so
        launched = launch_classic(stack)
        duplicate = with_bucket(load_event("s3-put-classic.json"), stack.outputs["LandingBucketName"])
        assert stack.invoke("LauncherFunction", duplicate)["results"][0]["status"] == "duplicate"
        set_step_state(launched.cluster_id, "FAILED")
        event = for_cluster("emr-step-failed.json", launched.cluster_id, launched.step_id, launched.cluster_name)
        assert stack.invoke("TrackerFunction", event)["state"] == "FAILED"

    # Then the metrics say so, per route and engine and namespace-wide (what the alarms watch)
    route = {"route": "orders-daily", "engine": "emr-ec2"}
    assert stack.metric_values("Arrivals") == [1.0, 1.0]
    assert stack.metric_values("JobsStarted", **route) == [1.0]
    assert stack.metric_values("DuplicateArrivals", **route) == [1.0]
    assert stack.metric_values("JobsFailed", **route) == [1.0]
    assert stack.metric_values("JobsFailed") == [1.0]
    (duration,) = stack.metric_values("JobDurationSeconds", route="orders-daily")
    assert duration >= 0
    # ... every log line about the job, from the arrival to the alert, carries its id as the correlation id
    records: list[dict[str, Any]] = [json.loads(line) for line in lines.getvalue().splitlines()]
    about_the_job = [r for r in records if r["message"] in ("job started", "job state changed", "alert published")]
    assert [r["message"] for r in about_the_job] == ["job started", "job state changed", "alert published"]
    assert {r["correlation_id"] for r in about_the_job} == {launched.job_id}
    started = about_the_job[0]
    assert started["object_version"]  # the arrival's object version (moto's etag: the bucket is not versioned)
    assert started["arrival_uri"].endswith("orders 1+2 café.csv")
    # ... and the alert carries it too, for subscription filters and for the next command to run
    (alert,) = alerts()
    assert alert.attributes["job_id"]["Value"] == launched.job_id
    assert f"emr-dispatch jobs show {launched.job_id}" in alert.message
