"""Integration fixtures: the real template.yaml deployed into moto, one fresh account per test.

Each test gets its own ``mock_aws`` context (nothing survives it), fake credentials set through
monkeypatch (restored afterwards), and emr-dispatch's cached clients and settings forgotten on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from moto import mock_aws

from emr_dispatch import routes, wiring
from emr_dispatch.ledger import Ledger
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.offline.clock import VirtualClock, virtual_time
from emr_dispatch_tools.offline.quotas import DEFAULT_QUOTAS, QuotaMeter
from moto_helpers import Published, subscribe_queue

REGION = "us-east-1"
SHIPPED_START_RATES = dict(routes.DEFAULT_START_RATES)

_AMBIENT_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region; whatever the developer's shell holds cannot leak in."""
    for name in _AMBIENT_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "emr-dispatch-tests")


@pytest.fixture
def moto_account(aws_env: None) -> Iterator[None]:
    """A fresh, empty moto account (no stack): for tests that build only what they need."""
    with mock_aws():
        wiring.reset()
        try:
            yield
        finally:
            wiring.reset()


def environments_read_once(stack: moto_stack.DeployedStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each function's environment read from the deployed stack once per test (a Lambda client and a
    GetFunctionConfiguration on every invocation otherwise): no test changes a function's configuration, and each
    caller still gets a copy of its own to change."""
    read = stack.function_environment
    environments: dict[str, dict[str, str]] = {}

    def function_environment(logical_id: str) -> dict[str, str]:
        if logical_id not in environments:
            environments[logical_id] = read(logical_id)
        return dict(environments[logical_id])

    monkeypatch.setattr(stack, "function_environment", function_environment)


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[moto_stack.DeployedStack]:
    """template.yaml deployed into a fresh moto account."""
    with mock_aws():
        wiring.reset()
        try:
            deployed = moto_stack.deploy("emr-dispatch-test", region=REGION)
            environments_read_once(deployed, monkeypatch)
            yield deployed
        finally:
            wiring.reset()


@pytest.fixture
def engines_stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[moto_stack.DeployedStack]:
    """template.yaml deployed into a fresh moto account that also has an EMR Serverless application and an
    EMR on EKS virtual cluster: the shipped routes can start jobs on all three engines."""
    with mock_aws():
        wiring.reset()
        try:
            deployed = moto_stack.deploy_with_engines("emr-dispatch-test", region=REGION)
            environments_read_once(deployed, monkeypatch)
            yield deployed
        finally:
            wiring.reset()


@pytest.fixture
def ledger(stack: moto_stack.DeployedStack) -> Ledger:
    return Ledger(stack.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=REGION))


@pytest.fixture
def alerts(stack: moto_stack.DeployedStack) -> Callable[[], list[Published]]:
    """A queue subscribed to the stack's AlertsTopic; the returned callable lists what was published so far."""
    return subscribe_queue(stack.outputs["AlertsTopicArn"], "alerts-inbox")


@pytest.fixture(autouse=True)
def unpaced_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ordinary tests start jobs as fast as they arrive: the engines' default start rates (pacing.py) apply only
    to tests that opt in (``paced_starts``, ``quota_meter``) or whose routes file sets ``start_rates``."""
    monkeypatch.setattr(routes, "DEFAULT_START_RATES", {})


@pytest.fixture
def paced_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt-in: the shipped default start rates (AWS's default quotas)."""
    monkeypatch.setattr(routes, "DEFAULT_START_RATES", SHIPPED_START_RATES)


@pytest.fixture
def quota_meter(stack: moto_stack.DeployedStack, paced_starts: None) -> Iterator[QuotaMeter]:
    """Opt-in: EMR's default API quotas (tools/emr_dispatch_tools/offline/quotas.py) metered on a virtual clock
    that emr-dispatch reads too. A test tightens them through ``meter.quotas`` and moves time with
    ``meter.clock.advance``. Installed after the stack is deployed: deploying is not metered."""
    clock = VirtualClock()
    meter = QuotaMeter(DEFAULT_QUOTAS, clock)
    with virtual_time(clock), meter.installed():
        yield meter
