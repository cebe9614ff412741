"""Builders of the domain objects tests need: settings, routes, jobs (no AWS)."""

from __future__ import annotations

from typing import Any

from emr_dispatch.inputs import ObjectInput
from emr_dispatch.jobs import Job, JobState
from emr_dispatch.routes import Route, parse_routes
from emr_dispatch.settings import Settings

ACCOUNT = "123456789012"


_ENGINE_VARIABLES = {
    "emr_service_role": "EMR_SERVICE_ROLE",
    "emr_instance_profile": "EMR_INSTANCE_PROFILE",
    "emr_subnet_id": "EMR_SUBNET_ID",
    "emr_serverless_application_id": "EMR_SERVERLESS_APPLICATION_ID",
    "emr_serverless_job_role_arn": "EMR_SERVERLESS_JOB_ROLE_ARN",
    "emr_serverless_hive_application_id": "EMR_SERVERLESS_HIVE_APPLICATION_ID",
    "emr_eks_virtual_cluster_id": "EMR_EKS_VIRTUAL_CLUSTER_ID",
    "emr_eks_job_role_arn": "EMR_EKS_JOB_ROLE_ARN",
}
"""The engines' stack settings by the names tests give them → the environment variables the engines declare."""


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ledger_table": "ledger",
        "alerts_topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
        "work_bucket": "work-bucket",
        "routes_file": "config/routes.yaml",
        "region": "us-east-1",
    }
    engine_values: dict[str, str] = {
        "emr_service_role": "EMR_DefaultRole",
        "emr_instance_profile": "EMR_EC2_DefaultRole",
        "emr_subnet_id": "",
        "emr_serverless_application_id": "00fabc123serverless",
        "emr_serverless_job_role_arn": f"arn:aws:iam::{ACCOUNT}:role/serverless-job",
        "emr_serverless_hive_application_id": "00fhive456serverless",
        "emr_eks_virtual_cluster_id": "vc123eks",
        "emr_eks_job_role_arn": f"arn:aws:iam::{ACCOUNT}:role/eks-job",
    }
    for name, value in overrides.items():
        (engine_values if name in _ENGINE_VARIABLES else values)[name] = value
    values["engine_settings"] = {_ENGINE_VARIABLES[name]: value for name, value in engine_values.items()}
    return Settings(**values)


_ENGINE_SECTIONS: dict[str, dict[str, Any]] = {
    "emr-ec2": {"emr_ec2": {"release_label": "emr-7.5.0", "instances": {"primary": {"instance_type": "m7g.xlarge"}}}},
    "emr-serverless": {"emr_serverless": {}},
    "emr-eks": {"emr_eks": {"release_label": "emr-7.5.0-latest"}},
}


def route(engine: str = "emr-ec2", name: str = "orders", **overrides: Any) -> Route:
    raw: dict[str, Any] = {
        "name": name,
        "match": {"prefix": "raw/"},
        "engine": engine,
        **_ENGINE_SECTIONS[engine],
        "job": {
            "entry_point": "s3://{work_bucket}/jobs/clean_csv.py",
            "spark_submit_parameters": ["--conf", "spark.executor.cores=2"],
            "arguments": ["--input={input_uri}", "--job-id={job_id}"],
        },
        "timeout_minutes": 45,
    }
    raw.update(overrides)
    return parse_routes({"version": 1, "routes": [raw]}).routes[0]


def job(route_name: str = "orders", engine: str = "emr-ec2", key: str = "raw/a b+c.csv", attempt: int = 1) -> Job:
    return Job(
        job_id=f"{route_name}-0123456789abcdef",
        route=route_name,
        engine=engine,
        state=JobState.SUBMITTING,
        attempt=attempt,
        inputs=[ObjectInput("landing", key, size=10, etag="e", version_id="", sequencer="01", event_time="")],
        created_at="2026-11-23T09:00:00.000Z",
        updated_at="2026-11-23T09:00:00.000Z",
    )
