"""Function settings read from the environment that template.yaml sets, once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from emr_dispatch.errors import ConfigurationError
from emr_dispatch.locations import log_uri


@dataclass(frozen=True)
class Settings:
    ledger_table: str
    alerts_topic_arn: str
    work_bucket: str
    routes_file: str
    emr_service_role: str
    emr_instance_profile: str
    emr_subnet_id: str
    region: str
    emr_serverless_application_id: str = ""
    emr_serverless_job_role_arn: str = ""
    emr_eks_virtual_cluster_id: str = ""
    emr_eks_job_role_arn: str = ""
    arrivals_queue_url: str = ""

    @property
    def emr_log_uri(self) -> str:
        return log_uri(self.work_bucket, "emr-ec2")


_REQUIRED = ("LEDGER_TABLE", "ALERTS_TOPIC_ARN", "WORK_BUCKET", "ROUTES_FILE")


@cache
def get_settings() -> Settings:
    """Read the environment once; a missing variable is a deployment error, named precisely."""
    return settings_from(os.environ)


def settings_from(env: Mapping[str, str]) -> Settings:
    """Settings from a function's environment (this process's, or a deployed function's for the CLI)."""
    missing = [name for name in _REQUIRED if not env.get(name)]
    if missing:
        raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
    return Settings(
        ledger_table=env["LEDGER_TABLE"],
        alerts_topic_arn=env["ALERTS_TOPIC_ARN"],
        work_bucket=env["WORK_BUCKET"],
        routes_file=env["ROUTES_FILE"],
        emr_service_role=env.get("EMR_SERVICE_ROLE", "EMR_DefaultRole"),
        emr_instance_profile=env.get("EMR_INSTANCE_PROFILE", "EMR_EC2_DefaultRole"),
        emr_subnet_id=env.get("EMR_SUBNET_ID", ""),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        emr_serverless_application_id=env.get("EMR_SERVERLESS_APPLICATION_ID", ""),
        emr_serverless_job_role_arn=env.get("EMR_SERVERLESS_JOB_ROLE_ARN", ""),
        emr_eks_virtual_cluster_id=env.get("EMR_EKS_VIRTUAL_CLUSTER_ID", ""),
        emr_eks_job_role_arn=env.get("EMR_EKS_JOB_ROLE_ARN", ""),
        arrivals_queue_url=env.get("ARRIVALS_QUEUE_URL", ""),
    )
