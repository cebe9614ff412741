"""The one factory of boto3 clients: created on first use (never at import), with standard retries.

Only adapters (ledger, alerts, engines) call these; each engine types its own clients (engines/<engine>/).
Tests swap AWS for moto and call ``reset_clients``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


@cache
def client(service: str) -> Any:
    """The client of ``service`` (a boto3 service name), created once."""
    import boto3
    from botocore.config import Config

    # Standard mode retries transient errors (and throttles) with exponential backoff and jitter, 3 attempts in
    # all (botocore's default). The SDK's retries are not how emr-dispatch lives with EMR's quotas: starts are
    # paced to them (pacing.py) and a start that is throttled anyway waits QUEUED in the ledger (docs/decisions.md).
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=20,
        user_agent_extra="emr-dispatch",
    )
    return boto3.client(service, config=config)  # type: ignore[call-overload]


@cache
def client_sending_once(service: str) -> Any:
    """A client whose calls are sent exactly once: no SDK retry (total_max_attempts=1), a longer read timeout.
    For calls without an idempotency token (RunJobFlow): an SDK resend after a read timeout or a 5xx can
    create a second cluster, so the caller looks up what an ambiguous outcome created before trying again."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="emr-dispatch",
    )
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    typed: DynamoDBClient = client("dynamodb")
    return typed


def sns() -> SNSClient:
    typed: SNSClient = client("sns")
    return typed


def s3() -> S3Client:
    typed: S3Client = client("s3")
    return typed


def sqs() -> SQSClient:
    typed: SQSClient = client("sqs")
    return typed


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def server_fault(exc: Exception) -> bool:
    """A ClientError with an HTTP 5xx status: the service may or may not have done what was asked."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException"}
)


def reset_clients() -> None:
    """Forget every client (tests entering and leaving moto)."""
    client.cache_clear()
    client_sending_once.cache_clear()
