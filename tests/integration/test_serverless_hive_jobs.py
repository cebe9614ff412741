"""A Hive job on EMR Serverless through the deployed stack (moto): the launcher's StartJobRun with a hive driver on
the stack's HIVE application, as the launcher's role and within the API's contract; the managed application
started and stopped; a failure alerted with GetJobRun's stateDetails and the Hive driver's logs."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.session import get_session
from moto.emrserverless.models import emrserverless_backends

from emr_dispatch.jobs import JobState
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.moto_stack import DeployedStack
from emr_dispatch_tools.offline import contracts, iam
from emr_dispatch_tools.offline.iam_requests import authorization_requests
from emr_dispatch_tools.offline.principals import function_principal
from emr_dispatch_tools.simulator import EmrServerlessSimulator, Outcome
from moto_helpers import subscribe_queue
from sample_events import load_event

REGION = "us-east-1"
ACCOUNT = "123456789012"


def _land(stack: DeployedStack, key: str) -> dict[str, str]:
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = key
    results: list[dict[str, str]] = stack.invoke("LauncherFunction", event)["results"]
    return results[0]


def test_a_hive_file_starts_a_hive_job_run_on_the_hive_application_as_the_launchers_role(
    engines_stack: DeployedStack,
) -> None:
    # Given the stack with a SPARK and a HIVE application (both stopped, managed) and the shipped refunds-hive route
    hive_application = engines_stack.parameters["EmrServerlessHiveApplicationId"]
    checked_before = iam.LEDGER.by_principal["LauncherFunction"]
    # When a refunds file lands
    started = _land(engines_stack, "raw/refunds/2026-11-23/refunds-0001.csv")
    # Then one job run was submitted to the HIVE application, with a hive driver and the route's variables
    (run,) = emrserverless_backends[ACCOUNT][REGION].job_runs[hive_application]
    driver: dict[str, Any] = dict(run.job_driver or {})
    hive: dict[str, str] = driver["hive"]
    assert hive["query"].endswith("/jobs/load_refunds.q")
    assert hive["initQueryFile"].endswith("/jobs/create_refunds.q")
    assert f"--hivevar JOB_ID={started['job_id']}" in hive["parameters"]
    assert "--hiveconf hive.exec.scratchdir=s3://" in hive["parameters"]
    # And the call was made as the launcher's role and allowed (the IAM plugin fails the test on a denial), on the
    # HIVE application's job-run ARN, and within the StartJobRun contract (the contract plugin refuses otherwise)
    assert iam.LEDGER.by_principal["LauncherFunction"] > checked_before
    request = {
        "applicationId": hive_application,
        "clientToken": "t",
        "executionRoleArn": run.execution_role_arn,
        "jobDriver": {"hive": hive},
    }
    model = get_session().get_service_model("emr-serverless")
    assert contracts.check_request(model, "StartJobRun", request) == []
    launcher = function_principal(engines_stack, "LauncherFunction")
    resources = {r.resource for r in authorization_requests(model, "StartJobRun", request, launcher, REGION)}
    assert f"arn:aws:emr-serverless:{REGION}:{ACCOUNT}:/applications/{hive_application}" in resources
    assert iam.authorize(launcher, model, "StartJobRun", request, REGION) == []


def test_a_failed_hive_job_is_alerted_with_its_state_details_and_hive_driver_logs(engines_stack: DeployedStack) -> None:
    # Given a Hive job run started from a landed refunds file
    inbox = subscribe_queue(engines_stack.outputs["AlertsTopicArn"], "hive-alerts")
    started = _land(engines_stack, "raw/refunds/2026-11-23/refunds-corrupt.csv")
    ledger = Ledger(engines_stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
    job = ledger.get(started["job_id"])
    assert job is not None
    # When EMR Serverless fails it and the tracker gets the events (GetJobRun as the tracker's role)
    details = job.engine_details
    for change in EmrServerlessSimulator().run(details["application_id"], details["job_run_id"], Outcome.STEP_FAILURE):
        engines_stack.invoke("TrackerFunction", change)
    # Then the job FAILED with EMR Serverless' stateDetails, alerted once with them and the Hive driver's logs
    ended = ledger.get(started["job_id"])
    assert ended is not None
    assert (ended.state, ended.reason_code) == (JobState.FAILED, "JOB_RUN_FAILED")
    assert "ExitCode: 1" in str(ended.reason_message)
    (alert,) = inbox()
    assert "ExitCode: 1" in alert.message
    assert f"/jobs/{details['job_run_id']}/HIVE_DRIVER/stderr.gz" in alert.message
    # And the managed HIVE application was stopped once no job was active on it
    application = emrserverless_backends[ACCOUNT][REGION].applications[details["application_id"]]
    assert str(application.state) == "STOPPED"
