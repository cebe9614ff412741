"""`make e2e`'s own code, run against moto instead of an account: the deployer is moto_stack.deploy, and while
the test "waits", the world moves as AWS would move it (S3 → EventBridge → arrivals queue → launcher, the engine
lifecycle → tracker). It must pass on a healthy stack, fail on a broken one, and leave nothing behind either way."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from moto_patches import answer_eventbridge_configuration
from rich.console import Console

from emr_dispatch import wiring
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.demo import Simulators
from emr_dispatch_tools.e2e import plan
from emr_dispatch_tools.e2e.account import Account, Cleanup
from emr_dispatch_tools.e2e.run import EXIT_FAILED, EXIT_PASSED, EndToEnd
from emr_dispatch_tools.simulator import EmrEc2Simulator, EmrEksSimulator, EmrServerlessSimulator, Outcome
from moto_helpers import receive_as_lambda_event

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class MotoDeployer:
    """Deploys into moto what `sam deploy` would deploy into the account, with the test's routes file."""

    def __init__(self, routes_path: Path) -> None:
        self.routes_path = routes_path
        self.stack: moto_stack.DeployedStack | None = None

    def deploy(self, stack: str, routes: dict[str, Any], parameters: dict[str, str], artifacts_bucket: str) -> None:
        self.routes_path.write_text(yaml.safe_dump(routes), encoding="utf-8")
        self.stack = moto_stack.deploy(stack, parameters=parameters, region=REGION)
        # CloudFormation sets the landing bucket's EventBridge notifications (moto's create_stack skips them)
        boto3.client("s3", region_name=REGION).put_bucket_notification_configuration(
            Bucket=self.stack.outputs["LandingBucketName"], NotificationConfiguration={"EventBridgeConfiguration": {}}
        )


class World:
    """While `make e2e` sleeps, AWS works: arrivals reach the launcher, job runs end and the tracker hears it."""

    def __init__(self, deployer: MotoDeployer) -> None:
        self.deployer = deployer
        self.outcomes = {plan.SUCCESS_KEY: Outcome.SUCCEED, plan.FAILURE_KEY: Outcome.STEP_FAILURE}
        self.simulators = Simulators(EmrEc2Simulator(), EmrServerlessSimulator(), EmrEksSimulator())
        self.finished: set[str] = set()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        stack = self.deployer.stack
        if stack is None:
            return
        overrides = {"ROUTES_FILE": str(self.deployer.routes_path)}
        batch = receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"])
        if batch["Records"]:
            assert stack.invoke("LauncherFunction", batch, overrides) == {"batchItemFailures": []}
        ledger = Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))
        for job in ledger.list_jobs():
            if job.job_id in self.finished or job.engine_id is None:
                continue
            self.finished.add(job.job_id)
            for event in self.simulators.lifecycle(job, self.outcomes[job.inputs[0].key]):
                stack.invoke("TrackerFunction", event, overrides)


@pytest.fixture
def account(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    answer_eventbridge_configuration(monkeypatch)
    with mock_aws():
        wiring.reset()
        try:
            yield
        finally:
            wiring.reset()


def _end_to_end(tmp_path: Path) -> tuple[EndToEnd, World, io.StringIO]:
    deployer = MotoDeployer(tmp_path / "routes.yaml")
    world = World(deployer)
    output = io.StringIO()
    console = Console(file=output, width=200)
    cleanup = Cleanup(say=console.print)
    session = boto3.session.Session(region_name=REGION)

    def client(service: str) -> Any:
        return session.client(service)  # type: ignore[call-overload]

    aws_account = Account(client, REGION, ACCOUNT_ID, cleanup, console.print)
    aws_account.sleep = world.sleep
    names = plan.Names("emr-dispatch-e2e-20261201120000-abcdef")
    return EndToEnd(aws_account, deployer, console, names, clock=world.clock, sleep=world.sleep), world, output


def _leftovers() -> dict[str, Any]:
    """What the run could have left in the account."""
    return {
        "stacks": [
            s["StackName"]
            for s in boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        ],
        # moto_stack.deploy's own code bucket stands in for SAM's upload: it is the test deployer's, not make e2e's
        "buckets": [
            b["Name"]
            for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]
            if b["Name"] != moto_stack.ARTIFACT_BUCKET
        ],
        "roles": [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"] if "e2e" in r["RoleName"]],
        "queues": [u for u in boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) if "e2e" in u],
        "rules": [
            r["Name"] for r in boto3.client("events", region_name=REGION).list_rules()["Rules"] if "e2e" in r["Name"]
        ],
        "applications": [
            a["id"]
            for a in boto3.client("emr-serverless", region_name=REGION).list_applications()["applications"]
            if a["state"] != "TERMINATED"
        ],
    }


def test_the_end_to_end_run_passes_on_a_healthy_stack_and_leaves_nothing_behind(account: None, tmp_path: Path) -> None:
    # Given make e2e's run, with moto for the account and the world moving while it waits
    run, _, output = _end_to_end(tmp_path)
    # When it runs
    code = run.run()
    # Then it passed: SUCCEEDED and FAILED in the ledger, one alert, the application stopped by emr-dispatch ...
    text = output.getvalue()
    assert code == EXIT_PASSED, text
    assert "make e2e passed" in text
    # ... it printed the key of the real (here: moto's) EventBridge event of the probe object ...
    assert run.probe_key_seen is not None
    assert "S3 → EventBridge key" in text
    # ... and the stack, buckets, role, queues, rule and application are gone (the ledger table and key too)
    assert _leftovers() == {"stacks": [], "buckets": [], "roles": [], "queues": [], "rules": [], "applications": []}
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []


def test_a_run_whose_expectations_fail_reports_them_and_still_deletes_everything(account: None, tmp_path: Path) -> None:
    # Given a world in which the job meant to succeed fails too
    run, world, output = _end_to_end(tmp_path)
    world.outcomes[plan.SUCCESS_KEY] = Outcome.STEP_FAILURE
    # When make e2e runs
    code = run.run()
    # Then it fails naming what differed (two alerts, a FAILED job that should have succeeded) ...
    text = output.getvalue()
    assert code == EXIT_FAILED
    assert f"job of {plan.SUCCESS_KEY} is FAILED" in text
    assert "2 alerts received" in text
    # ... and cleaned up all the same
    assert _leftovers() == {"stacks": [], "buckets": [], "roles": [], "queues": [], "rules": [], "applications": []}


def test_a_deploy_that_fails_still_removes_what_was_made_before_it(account: None, tmp_path: Path) -> None:
    # Given a deployer that fails (a template error, a refused permission)
    run, _, output = _end_to_end(tmp_path)

    class Broken:
        def deploy(self, *args: Any) -> None:
            raise RuntimeError("sam deploy failed")

    run.deployer = Broken()
    # When make e2e runs, then it fails and removes the role, application and artifacts bucket it had made
    assert run.run() == EXIT_FAILED
    assert "sam deploy failed" in output.getvalue()
    assert _leftovers() == {"stacks": [], "buckets": [], "roles": [], "queues": [], "rules": [], "applications": []}
    assert json.dumps(_leftovers())  # serialisable report of what would be left
