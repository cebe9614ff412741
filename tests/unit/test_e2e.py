"""`make e2e`'s pure parts: when it skips, what it deploys and runs, how it judges an outcome (no AWS here;
tests/integration/test_e2e_offline.py runs the whole of it against moto)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from builders import job
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.routes import parse_routes
from emr_dispatch_tools.e2e import plan
from emr_dispatch_tools.e2e.account import Cleanup
from emr_dispatch_tools.e2e.run import EXIT_CANNOT_RUN, EXIT_PASSED, SamDeployer, main, skip_reason


class _Session:
    def __init__(self, credentials: object | None, region: str | None) -> None:
        self._credentials = credentials
        self.region_name = region

    def get_credentials(self) -> object | None:
        return self._credentials

    def client(self, service: str) -> Any:
        raise AssertionError(f"a skipped run must not create a {service} client")


def _run_main(session: _Session, **kwargs: Any) -> tuple[int, str]:
    output = io.StringIO()
    code = main(session, Console(file=output, width=300), **kwargs)
    return code, output.getvalue()


@pytest.mark.parametrize(
    ("credentials", "region", "reason"),
    [(None, "eu-west-1", "no AWS credentials"), (object(), None, "no AWS region")],
)
def test_without_credentials_or_region_it_says_why_it_is_skipped_and_exits_0(
    credentials: object | None, region: str | None, reason: str
) -> None:
    # Given a session without credentials (or without a region)
    # When make e2e starts
    code, text = _run_main(_Session(credentials, region))
    # Then it creates nothing, says why it skipped, and exits 0
    assert code == EXIT_PASSED
    assert f"make e2e skipped: {reason}" in text
    assert skip_reason(_Session(credentials, region)) is not None


def test_with_credentials_but_no_sam_cli_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("emr_dispatch_tools.e2e.run.find_sam", lambda: None)
    code, text = _run_main(_Session(object(), "eu-west-1"))
    assert code == EXIT_CANNOT_RUN
    assert "no SAM CLI" in text


def test_the_route_it_deploys_is_valid_and_matches_its_inputs_only() -> None:
    # Given the routes file make e2e deploys
    routes = parse_routes(plan.routes_document())
    # Then both inputs match its one EMR Serverless route and the probe object matches none
    (route,) = routes.routes
    assert route.engine == "emr-serverless"
    assert route.emr_serverless is not None
    assert route.emr_serverless.managed_application  # emr-dispatch stops the application: the test asserts it
    assert all(routes.match("landing", key) is route for key in plan.INPUTS)
    assert routes.match("landing", plan.PROBE_KEY) is None
    assert route.retry.max_attempts == 1  # the failure is final at once: one alert
    assert plan.SCRIPT.is_file()


def test_the_job_role_gets_exactly_the_documented_policy_for_the_stacks_buckets() -> None:
    security = (plan.ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    policy = plan.job_role_policy(security, "work-b", "landing-b")
    resources = {
        r for s in policy["Statement"] for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert "arn:aws:s3:::landing-b/incoming/*" in resources
    assert "arn:aws:s3:::work-b/emr-serverless-logs/*" in resources
    assert "arn:aws:s3:::work-b/jobs/*" in resources
    assert not any("WORK" in r or "LANDING" in r or "kms" in r for r in resources)


def test_names_are_unique_per_run_and_within_aws_limits() -> None:
    first, second = plan.Names.unique(), plan.Names.unique()
    assert first.stack != second.stack
    assert first.stack.startswith(plan.NAME_PREFIX)
    assert len(first.job_role) <= 64
    assert len(first.artifacts_bucket) <= 63
    assert first.artifacts_bucket == first.artifacts_bucket.lower()


def _job(key: str, state: JobState, reason: str | None = None) -> Job:
    made = job(route_name=plan.ROUTE, engine="emr-serverless", key=key)
    made.job_id = f"{plan.ROUTE}-{abs(hash(key)) % 10**16:016d}"
    made.state = state
    made.reason_code, made.reason_message = (reason, "ExitCode: 1") if reason else (None, None)
    return made


def _alert(job_id: str) -> dict[str, Any]:
    return {"Subject": "[emr-dispatch] FAILED", "MessageAttributes": {"job_id": {"Type": "String", "Value": job_id}}}


def test_a_good_outcome_has_no_problems_and_each_deviation_is_named() -> None:
    ok = _job(plan.SUCCESS_KEY, JobState.SUCCEEDED)
    failed = _job(plan.FAILURE_KEY, JobState.FAILED, "JOB_RUN_FAILED")
    good = plan.Outcome([ok, failed], [_alert(failed.job_id)], "STOPPED")
    assert plan.problems(good) == []
    # A second alert, a reasonless failure, a running application: each is one named problem
    bad = plan.Outcome([ok, _job(plan.FAILURE_KEY, JobState.FAILED)], [_alert(failed.job_id)] * 2, "STARTED")
    found = "\n".join(plan.problems(bad))
    assert "2 alerts received" in found
    assert "failed without a reason" in found
    assert "application is STARTED" in found


@pytest.mark.parametrize(
    ("received", "says"),
    [
        (plan.PROBE_KEY, "as is"),
        ("probe/key+with+space%2Bplus%3Dequals%3Acolon+%C3%A9.txt", "form-encoded"),
        ("probe/key%20with%20space%2Bplus%3Dequals%3Acolon%20%C3%A9.txt", "%20"),
    ],
)
def test_the_probe_key_is_described_by_how_it_was_encoded(received: str, says: str) -> None:
    assert says in plan.describe_probe_key(plan.PROBE_KEY, received)


def test_sam_deploys_a_copy_with_the_tests_routes_and_parameters(tmp_path: Path) -> None:
    # Given a SAM deployer whose commands are recorded instead of run
    ran: list[tuple[list[str], Path, str]] = []

    def record(args: Any, cwd: Path) -> None:
        ran.append((list(args), cwd, (cwd / "config" / "routes.yaml").read_text(encoding="utf-8")))

    deployer = SamDeployer("sam", "eu-west-1", run=record)
    # When it deploys
    deployer.deploy("emr-dispatch-e2e-x", plan.routes_document(), {"EmrServerlessApplicationId": "00fapp"}, "art")
    # Then it built and deployed a copy holding the test's routes, with the stack's name, Region and parameters
    (build, cwd, routes), (deploy, _, _) = ran
    assert build[:2] == ["sam", "build"]
    assert cwd != plan.ROOT
    assert plan.ROUTE in routes
    assert deploy[:2] == ["sam", "deploy"]
    for expected in ("emr-dispatch-e2e-x", "eu-west-1", "art", "EmrServerlessApplicationId=00fapp", "CAPABILITY_IAM"):
        assert expected in deploy


def test_cleanup_runs_newest_first_and_keeps_going_past_a_failure() -> None:
    said: list[str] = []
    cleanup = Cleanup(say=said.append)
    order: list[str] = []
    cleanup.add("first", lambda: order.append("first"))

    def broken() -> None:
        raise RuntimeError("AccessDenied")

    cleanup.add("second", broken)
    cleanup.add("third", lambda: order.append("third"))
    left = cleanup.run()
    assert order == ["third", "first"]
    assert left == ["second: AccessDenied"]
