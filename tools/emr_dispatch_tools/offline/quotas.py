"""EMR's API quotas in the offline world: token buckets per API and per account, the active-cluster limit and
EMR Serverless capacity refusals, answered as AWS answers them. moto applies no quota at all (FACTS.md).

Every boto3 call goes through ``BaseClient._make_api_call``; ``QuotaMeter.install`` wraps it (saving and calling
the wrapper that was there before, so the harness's contract and IAM checks chain with it) and meters the
operations that ``Quotas`` lists. A metered call takes a token from its API's bucket and from its service's
account-wide bucket; if either is empty the call is answered ``ThrottlingException`` ("Rate exceeded", HTTP 400:
the error AWS re:Post quotes for EMR) without reaching moto. Throttled calls are retried as the SDK would for the
client's retry configuration (attempts and exponential backoff with jitter), sleeping on the meter's clock:
a virtual clock (clock.py) makes an hour of quota time take no wall time at all.

Defaults (per account and Region) are the documented ones (FACTS.md, issue 14); every figure can be overridden.
EMR on EKS publishes no API rates in the sources we found: it is not metered unless a test gives it rates.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from emr_dispatch_tools.offline.checks import is_suspended
from emr_dispatch_tools.offline.clock import Clock, WallClock

EMR = "emr"
SERVERLESS = "emr-serverless"
EKS = "emr-containers"
_HOOK = "_make_api_call"  # every boto3 call goes through it (botocore.client.BaseClient)
THROTTLED = "ThrottlingException"
THROTTLED_MESSAGE = "Rate exceeded"
ACTIVE_CLUSTER_STATES = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"})
ACTIVE_RUN_STATES = frozenset({"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "CANCELLING", "QUEUED"})
CLUSTER_LIMIT_CODE = "ValidationException"
CLUSTER_LIMIT_MESSAGE = "The number of active clusters for this account exceeds the limit of {limit}."
"""Not confirmed against a public AWS sample (docs/decisions.md): EMR's model lists no quota error for RunJobFlow."""
VCPU_LIMIT_CODE = "ServiceQuotaExceededException"
VCPU_LIMIT_MESSAGE = "The maximum number of resources per account has been reached."
"""The EMR Serverless model's own ServiceQuotaExceededException (HTTP 402) and its documented meaning."""


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``burst`` tokens at most, refilled at ``per_second``."""

    burst: float
    per_second: float


@dataclass(frozen=True)
class Quotas:
    api: dict[tuple[str, str], Rate] = field(default_factory=dict)  # (service, operation) → its own bucket
    account: dict[str, Rate] = field(default_factory=dict)  # service → one bucket for all its operations
    active_clusters: int | None = 500  # EMR on EC2, per account and Region
    serverless_vcpus: int | None = None  # EMR Serverless max concurrent vCPUs per account (16 for new accounts)
    vcpus_per_run: int = 4  # what one job run holds (a driver of 4 vCPU: EMR Serverless' default)

    def scaled(self, factor: float) -> Quotas:
        """Every rate and burst multiplied (tests: a tight world)."""
        return replace(
            self,
            api={key: Rate(r.burst * factor, r.per_second * factor) for key, r in self.api.items()},
            account={key: Rate(r.burst * factor, r.per_second * factor) for key, r in self.account.items()},
        )


DEFAULT_QUOTAS = Quotas(
    api={
        (EMR, "RunJobFlow"): Rate(10, 0.5),
        (EMR, "DescribeCluster"): Rate(10, 1.0),
        (EMR, "DescribeStep"): Rate(10, 0.5),
        (EMR, "ListSteps"): Rate(10, 0.5),
        (EMR, "TerminateJobFlows"): Rate(10, 0.5),
        (EMR, "ListClusters"): Rate(20, 0.5),
        (SERVERLESS, "StartJobRun"): Rate(25, 1.0),
        (SERVERLESS, "GetJobRun"): Rate(50, 10.0),
        (SERVERLESS, "ListJobRuns"): Rate(1, 1.0),
    },
    account={EMR: Rate(25, 5.0)},
)


class _Bucket:
    def __init__(self, rate: Rate, at: float) -> None:
        self.rate = rate
        self.tokens = rate.burst
        self.at = at

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate.burst, self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now


@dataclass
class MeterReport:
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # every metered attempt
    throttled: Counter[tuple[str, str]] = field(default_factory=Counter)  # attempts answered ThrottlingException
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)  # quota refusals (clusters, vCPUs)
    gave_up: Counter[tuple[str, str]] = field(default_factory=Counter)  # calls that raised after every retry
    answered: Counter[tuple[str, str]] = field(default_factory=Counter)  # calls that reached the service
    first_at: dict[tuple[str, str], float] = field(default_factory=dict)  # clock seconds of the first answered
    last_at: dict[tuple[str, str], float] = field(default_factory=dict)  # clock seconds of the last answered

    def throttled_of(self, service: str, operations: frozenset[str] | None = None) -> int:
        return sum(
            n for (s, op), n in self.throttled.items() if s == service and (operations is None or op in operations)
        )


class QuotaMeter:
    """Meters boto3 calls against ``quotas`` on ``clock``. Use ``with meter.installed():``."""

    def __init__(self, quotas: Quotas = DEFAULT_QUOTAS, clock: Clock | None = None, seed: int = 0) -> None:
        self.quotas = quotas
        self.clock = clock or WallClock()
        self.report = MeterReport()
        self._rng = random.Random(seed)  # noqa: S311 - backoff jitter, not secrets
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._previous: Callable[..., Any] | None = None
        self._wrapper: Callable[..., Any] | None = None
        self.retries_follow_client = True  # emulate the SDK's retries of throttled calls

    # ------------------------------------------------------------------ installing
    @contextmanager
    def installed(self) -> Iterator[QuotaMeter]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    def install(self) -> None:
        if self._previous is not None:
            raise RuntimeError("this quota meter is already installed")
        previous = getattr(BaseClient, _HOOK)
        meter = self

        def metered_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            return meter._call(client, previous, operation_name, api_params)

        self._previous, self._wrapper = previous, metered_api_call
        setattr(BaseClient, _HOOK, metered_api_call)

    def uninstall(self) -> None:
        if self._previous is None:
            return
        if getattr(BaseClient, _HOOK) is not self._wrapper:
            # Someone wrapped us meanwhile and has not unwrapped: restoring now would drop their wrapper.
            raise RuntimeError("another _make_api_call wrapper was installed after the quota meter and is still on")
        setattr(BaseClient, _HOOK, self._previous)
        self._previous = self._wrapper = None

    # ------------------------------------------------------------------ metering
    def tokens(self, service: str, operation: str | None = None) -> float:
        """Tokens left now in an API's bucket (or the service's account-wide bucket)."""
        now = self.clock.monotonic()
        rate = self.quotas.api.get((service, operation)) if operation else self.quotas.account.get(service)
        if rate is None:
            return float("inf")
        bucket = self._bucket((service, operation or "*"), rate, now)
        return bucket.tokens

    def _call(
        self, client: BaseClient, previous: Callable[..., Any], operation: str, api_params: dict[str, Any]
    ) -> Any:
        service = client.meta.service_model.service_name
        key = (service, operation)
        api_rate = self.quotas.api.get(key)
        account_rate = self.quotas.account.get(service)
        if (api_rate is None and account_rate is None) or is_suspended():
            # Unmetered: an operation without a quota, or the harness's own reads (the IAM checker reading a
            # resource's tags for a condition): AWS evaluates those itself, they spend no caller's quota.
            return previous(client, operation, api_params)
        attempts = self._attempts(client) if self.retries_follow_client else 1
        for attempt in range(attempts):
            self.report.calls[key] += 1
            if self._take(key, api_rate, account_rate):
                self._refuse_over_quota(client, service, operation, attempt)
                answer = previous(client, operation, api_params)
                now = self.clock.monotonic()
                self.report.answered[key] += 1
                self.report.first_at.setdefault(key, now)
                self.report.last_at[key] = now
                return answer
            self.report.throttled[key] += 1
            if attempt + 1 < attempts:
                # botocore's exponential backoff: a random share of 2^attempt seconds, at most 20 s.
                self.clock.sleep(min(self._rng.random() * 2**attempt, 20.0))
        self.report.gave_up[key] += 1
        raise _error(client, operation, THROTTLED, THROTTLED_MESSAGE, 400, attempts - 1)

    def _take(self, key: tuple[str, str], api_rate: Rate | None, account_rate: Rate | None) -> bool:
        now = self.clock.monotonic()
        buckets = []
        if api_rate is not None:
            buckets.append(self._bucket(key, api_rate, now))
        if account_rate is not None:
            buckets.append(self._bucket((key[0], "*"), account_rate, now))
        if any(bucket.tokens < 1 for bucket in buckets):
            return False
        for bucket in buckets:
            bucket.tokens -= 1
        return True

    def _bucket(self, key: tuple[str, str], rate: Rate, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate, now)
        bucket.refill(now)
        return bucket

    def _refuse_over_quota(self, client: BaseClient, service: str, operation: str, attempt: int) -> None:
        """Resource quotas: the active-cluster limit (RunJobFlow) and the EMR Serverless vCPU quota (StartJobRun)."""
        region = client.meta.region_name
        clusters = self.quotas.active_clusters
        if (
            (service, operation) == (EMR, "RunJobFlow")
            and clusters is not None
            and _active_clusters(region) >= clusters
        ):
            self.report.refused[(service, operation)] += 1
            raise _error(
                client, operation, CLUSTER_LIMIT_CODE, CLUSTER_LIMIT_MESSAGE.format(limit=clusters), 400, attempt
            )
        vcpus = self.quotas.serverless_vcpus
        over = vcpus is not None and (_active_runs(region) + 1) * self.quotas.vcpus_per_run > vcpus
        if (service, operation) == (SERVERLESS, "StartJobRun") and over:
            self.report.refused[(service, operation)] += 1
            raise _error(client, operation, VCPU_LIMIT_CODE, VCPU_LIMIT_MESSAGE, 402, attempt)

    @staticmethod
    def _attempts(client: BaseClient) -> int:
        """Total attempts the client's retry configuration allows (botocore: legacy 5, standard 3 by default)."""
        retries: dict[str, Any] = getattr(client.meta.config, "retries", None) or {}
        if "total_max_attempts" in retries:
            return max(int(retries["total_max_attempts"]), 1)
        if "max_attempts" in retries:
            return (
                int(retries["max_attempts"]) + 1
                if retries.get("mode", "legacy") == "legacy"
                else max(int(retries["max_attempts"]), 1)
            )
        return 3 if retries.get("mode") in ("standard", "adaptive") else 5


def _error(client: BaseClient, operation: str, code: str, message: str, status: int, retries: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": status,
            "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"},
            "RetryAttempts": retries,
            **({"MaxAttemptsReached": True} if retries else {}),
        },
    }
    error_class: Any = client.exceptions.from_code(code)
    error: ClientError = error_class(response, operation)
    return error


def _active_clusters(region: str) -> int:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emr.models import emr_backends

    clusters = emr_backends[DEFAULT_ACCOUNT_ID][region].clusters.values()
    return sum(1 for cluster in clusters if cluster.state in ACTIVE_CLUSTER_STATES)


def _active_runs(region: str) -> int:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emrserverless.models import emrserverless_backends

    runs = emrserverless_backends[DEFAULT_ACCOUNT_ID][region].job_runs.values()
    return sum(1 for per_app in runs for run in per_app if run.state in ACTIVE_RUN_STATES)
