"""`make e2e`: emr-dispatch against a real AWS account, end to end, then everything it made deleted.

Deploys template.yaml under a unique stack name with one EMR Serverless route, drops a file that succeeds and one
that fails, waits (with progress) and asserts: the ledger holds SUCCEEDED and FAILED with a reason, exactly one
alert reached a queue subscribed to the alerts topic, emr-dispatch stopped the application. It also prints how a
real S3 → EventBridge event wrote a key with spaces, "+", "=" and ":". Without credentials it says why it is
skipped and exits 0. Exit codes: 0 passed or skipped, 1 an expectation failed or something was left behind,
2 it could not run (no SAM CLI).
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404 - runs the SAM CLI with an argument list, never a shell
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from emr_dispatch.ledger import Ledger
from emr_dispatch_tools.cli.doctor import PROBLEM, Doctor
from emr_dispatch_tools.e2e import plan
from emr_dispatch_tools.e2e.account import Account, Cleanup

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2
JOBS_PATIENCE_SECONDS = 40 * 60  # an application start (~1-2 min) and two small Spark runs take a few minutes
ALERT_PATIENCE_SECONDS = 180
STOP_PATIENCE_SECONDS = 10 * 60
POLL_SECONDS = 15.0


class Deployer(Protocol):
    def deploy(self, stack: str, routes: dict[str, Any], parameters: dict[str, str], artifacts_bucket: str) -> None: ...


Run = Callable[[Sequence[str], Path], None]


def run_command(args: Sequence[str], cwd: Path) -> None:
    subprocess.run(list(args), cwd=cwd, check=True)  # noqa: S603 # nosec B603 - a fixed CLI and our arguments


@dataclass
class SamDeployer:
    """`sam build` and `sam deploy` of a copy of this repository whose routes file is the test's."""

    sam: str
    region: str
    root: Path = plan.ROOT
    run: Run = run_command

    def deploy(self, stack: str, routes: dict[str, Any], parameters: dict[str, str], artifacts_bucket: str) -> None:
        with tempfile.TemporaryDirectory(prefix="emr-dispatch-e2e-") as directory:
            copy = Path(directory) / "repo"
            shutil.copytree(
                self.root,
                copy,
                ignore=shutil.ignore_patterns(".venv*", ".git", ".aws-sam", "tests", "*_cache", "__pycache__"),
            )
            (copy / "samconfig.toml").unlink(missing_ok=True)  # the developer's deploy defaults are not the test's
            (copy / "config" / "routes.yaml").write_text(yaml.safe_dump(routes, sort_keys=False), encoding="utf-8")
            self.run([self.sam, "build", "--template", "template.yaml"], copy)
            overrides = [f"{key}={value}" for key, value in parameters.items()]
            self.run(
                [
                    self.sam,
                    "deploy",
                    "--template-file",
                    ".aws-sam/build/template.yaml",
                    "--stack-name",
                    stack,
                    "--s3-bucket",
                    artifacts_bucket,
                    "--region",
                    self.region,
                    "--capabilities",
                    "CAPABILITY_IAM",
                    "CAPABILITY_NAMED_IAM",
                    "CAPABILITY_AUTO_EXPAND",
                    "--no-confirm-changeset",
                    "--no-fail-on-empty-changeset",
                    "--parameter-overrides",
                    *overrides,
                    "--tags",
                    f"emr-dispatch-e2e={stack}",
                ],
                copy,
            )


def skip_reason(session: Any) -> str | None:
    """Why the end-to-end test cannot talk to an account (None: it can). Nothing is created before this."""
    if session.get_credentials() is None:
        return "no AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if not session.region_name:
        return "no AWS region (set AWS_REGION or AWS_DEFAULT_REGION)"
    return None


def find_sam(root: Path = plan.ROOT) -> str | None:
    local = root / ".venv-sam" / "bin" / "sam"
    return str(local) if local.exists() else shutil.which("sam")


@dataclass
class EndToEnd:
    account: Account
    deployer: Deployer
    console: Console
    names: plan.Names = field(default_factory=plan.Names.unique)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    probe_key_seen: str | None = None

    def run(self) -> int:
        say = self.console.print
        say(f"make e2e: stack {self.names.stack} in {self.account.region}, account {self.account.account_id}")
        found: list[str] = []
        try:
            found = self._run()
        except Exception as exc:  # noqa: BLE001 - reported and failed, after cleanup
            found = [f"the run stopped: {type(exc).__name__}: {exc}"]
        finally:
            left = self.account.cleanup.run()
        for problem in found:
            say(f"[bold red]FAILED[/] {problem}", highlight=False)
        for leftover in left:
            say(f"[bold red]LEFT BEHIND[/] {leftover}", highlight=False)
        if found or left:
            return EXIT_FAILED
        say("[bold green]make e2e passed[/]: one success, one failure with its reason, one alert, application stopped")
        return EXIT_PASSED

    def _run(self) -> list[str]:
        account, names = self.account, self.names
        account.create_bucket(names.artifacts_bucket)
        role_arn = account.create_job_role(names.job_role)
        application_id = account.create_application(names.application)
        self.console.print(f"job role {role_arn}, application {application_id}")
        account.cleanup.add(f"stack {names.stack}", lambda: account.delete_stack(names.stack))
        self.deployer.deploy(
            names.stack,
            plan.routes_document(),
            {"EmrServerlessApplicationId": application_id, "EmrServerlessJobRoleName": names.job_role},
            names.artifacts_bucket,
        )
        outputs = account.stack_outputs(names.stack)
        landing, work = outputs["LandingBucketName"], outputs["WorkBucketName"]
        security = (plan.ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
        account.grant_job_role(names.job_role, plan.job_role_policy(security, work, landing))
        self._doctor(outputs, application_id)

        alerts_url, alerts_arn = account.create_queue(names.alerts_queue)
        account.subscribe(outputs["AlertsTopicArn"], alerts_url, alerts_arn)
        probe_url, probe_arn = account.create_queue(names.probe_queue)
        account.create_probe_rule(names.probe_rule, landing, probe_url, probe_arn)
        self.sleep(30)  # IAM and the new subscription and rule settle before the first object lands

        s3 = account.client("s3")
        s3.upload_file(str(plan.SCRIPT), work, plan.SCRIPT_KEY)
        s3.put_object(Bucket=landing, Key=plan.PROBE_KEY, Body=b"probe")
        for key, body in plan.INPUTS.items():
            s3.put_object(Bucket=landing, Key=key, Body=body.encode())
        ledger = Ledger(outputs["LedgerTableName"], account.client("dynamodb"))
        outcome = plan.Outcome(jobs=self._wait_for_jobs(ledger))
        outcome.alerts = self._wait_for_alerts(alerts_url)
        outcome.application_state = self._wait_for_stop(application_id)
        self._report_probe(probe_url)
        return plan.problems(outcome)

    def _doctor(self, outputs: dict[str, str], application_id: str) -> None:
        """The doctor's checks of the deployed stack; EMR's cleanup service-linked role matters only to EMR on
        EC2 routes (this run has none), so a missing one is reported, not failed."""
        parameters = {"EmrServerlessApplicationId": application_id, "EmrServerlessJobRoleName": self.names.job_role}
        checks = Doctor(self.account.client, self.account.region, parameters, outputs)
        for check in [*checks.landing_bucket(), checks.emr_cleanup_role(), checks.serverless_application()]:
            self.console.print(f"doctor: {check.status}: {check.name}: {check.message}", highlight=False, markup=False)
            if check.status == PROBLEM and check.name.startswith("landing bucket"):
                raise RuntimeError(f"doctor: {check.message}")

    def _wait_for_jobs(self, ledger: Ledger) -> list[Any]:
        deadline = self.clock() + JOBS_PATIENCE_SECONDS
        start = self.clock()
        with self.console.status("waiting for the two jobs") as status:
            while True:
                jobs = list(ledger.list_jobs())
                states = ", ".join(f"{job.inputs[0].key}: {job.state.value}" for job in jobs if job.inputs)
                status.update(f"{int(self.clock() - start)} s: {states or 'no job yet'}")
                done = len(jobs) >= len(plan.EXPECTED) and all(job.state.is_terminal for job in jobs)
                if done or self.clock() > deadline:
                    self.console.print(f"jobs after {int(self.clock() - start)} s: {states or 'none'}", highlight=False)
                    return jobs
                self.sleep(POLL_SECONDS)

    def _wait_for_alerts(self, queue_url: str) -> list[dict[str, Any]]:
        """Until the first alert, then one more poll window: a second alert (a duplicate) would fail the test."""
        alerts: list[dict[str, Any]] = []
        deadline = self.clock() + ALERT_PATIENCE_SECONDS
        while self.clock() < deadline:
            alerts += self.account.receive(queue_url)
            if alerts:
                deadline = min(deadline, self.clock() + 60)
            self.sleep(POLL_SECONDS)
        for alert in alerts:
            self.console.print(f"alert: {alert.get('Subject')}", highlight=False, markup=False)
        return alerts

    def _wait_for_stop(self, application_id: str) -> str:
        deadline = self.clock() + STOP_PATIENCE_SECONDS
        with self.console.status("waiting for emr-dispatch to stop the application") as status:
            while (state := self.account.application_state(application_id)) != "STOPPED" and self.clock() < deadline:
                status.update(f"application {application_id}: {state}")
                self.sleep(POLL_SECONDS)
        return state

    def _report_probe(self, queue_url: str) -> None:
        for event in self.account.receive(queue_url):
            key = str(event.get("detail", {}).get("object", {}).get("key", ""))
            self.probe_key_seen = key
            self.console.print(f"S3 → EventBridge key: sent {plan.PROBE_KEY!r}, event carried {key!r}", markup=False)
            self.console.print(f"  the key arrives {plan.describe_probe_key(plan.PROBE_KEY, key)}", markup=False)
            return
        self.console.print("S3 → EventBridge key: no probe event arrived (the rule or the queue policy?)")


def main(session: Any = None, console: Console | None = None, deployer: Deployer | None = None) -> int:
    import boto3

    console = console or Console(soft_wrap=True)
    session = session or boto3.session.Session()
    reason = skip_reason(session)
    if reason:
        console.print(f"make e2e skipped: {reason}. It deploys to a real account; see README, 'End-to-end test'.")
        return EXIT_PASSED
    if deployer is None:
        sam = find_sam()
        if sam is None:
            console.print("make e2e cannot run: no SAM CLI (make .venv-sam/.installed, or put sam on PATH)")
            return EXIT_CANNOT_RUN
        deployer = SamDeployer(sam, str(session.region_name))
    try:
        identity = session.client("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        console.print(f"make e2e skipped: the AWS credentials do not work ({exc}). Nothing was created.")
        return EXIT_PASSED
    cleanup = Cleanup(say=console.print)
    account = Account(session.client, str(session.region_name), str(identity["Account"]), cleanup, console.print)
    return EndToEnd(account, deployer, console).run()
