"""A retried start sends the same clientToken; a deliberate re-run a new one.

moto ignores clientToken, so these tests capture what botocore sends, not what moto does."""

from __future__ import annotations

from typing import Any

import boto3

from builders import ACCOUNT, job, route, settings
from emr_dispatch.engines.emr_eks import EmrEksEngine
from emr_dispatch.engines.emr_serverless import EmrServerlessEngine


class _NoActiveJobs:
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool:
        return False


def _capture(client: Any, operation: str) -> list[dict[str, Any]]:
    """Every parameter set the client sends for an operation, as serialized on the way out."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client.meta.events.register(
        f"before-parameter-build.{client.meta.service_model.endpoint_prefix}.{operation}", record
    )
    return sent


def test_serverless_retried_start_sends_the_same_token_and_a_rerun_a_new_one(moto_account: None) -> None:
    # Given an EMR Serverless application and an engine wired to a recording client
    client = boto3.client("emr-serverless", region_name="us-east-1")
    application_id = client.create_application(
        name="app", releaseLabel="emr-7.5.0", type="SPARK", clientToken="create-app"
    )["applicationId"]
    sent = _capture(client, "StartJobRun")
    engine = EmrServerlessEngine(
        settings(
            emr_serverless_application_id=application_id,
            emr_serverless_job_role_arn=f"arn:aws:iam::{ACCOUNT}:role/serverless-job",
        ),
        _NoActiveJobs(),
        client,
    )
    serverless_route = route("emr-serverless")
    # When the same attempt is started twice (a retried invocation) and then attempt 2 (a re-run)
    engine.start(job(engine="emr-serverless"), serverless_route)
    engine.start(job(engine="emr-serverless"), serverless_route)
    engine.start(job(engine="emr-serverless", attempt=2), serverless_route)
    # Then the retry carried the same token and the re-run a new one, derived from job and attempt
    tokens = [params["clientToken"] for params in sent]
    assert tokens == ["orders-0123456789abcdef-a1", "orders-0123456789abcdef-a1", "orders-0123456789abcdef-a2"]


def test_eks_retried_start_sends_the_same_token_and_a_rerun_a_new_one(moto_account: None) -> None:
    # Given an EMR on EKS virtual cluster and an engine wired to a recording client
    client = boto3.client("emr-containers", region_name="us-east-1")
    virtual_cluster_id = client.create_virtual_cluster(
        name="vc",
        clientToken="create-vc",
        containerProvider={"id": "eks", "type": "EKS", "info": {"eksInfo": {"namespace": "emr"}}},
    )["id"]
    sent = _capture(client, "StartJobRun")
    engine = EmrEksEngine(settings(emr_eks_virtual_cluster_id=virtual_cluster_id), client)
    eks_route = route("emr-eks")
    # When the same attempt is started twice and then a second attempt
    for attempt in (1, 1, 2):
        engine.start(job(engine="emr-eks", attempt=attempt), eks_route)
    # Then the tokens follow the attempt, not the call
    assert [params["clientToken"] for params in sent] == [
        "orders-0123456789abcdef-a1",
        "orders-0123456789abcdef-a1",
        "orders-0123456789abcdef-a2",
    ]
