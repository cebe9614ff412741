"""The naive baseline's launcher: one engine start per delivered event, no claim, no ledger."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote_plus

from emr_dispatch_tools.bench.burst import EVENTS_PREFIX, JOB_ROLE, ORDERS_PREFIX, REGION

_CLIENTS: dict[str, Any] = {}


def reset_naive_clients() -> None:
    """Forget the clients (entering or leaving moto)."""
    _CLIENTS.clear()


def _client(service: str) -> Any:
    import boto3

    if service not in _CLIENTS:
        _CLIENTS[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    return _CLIENTS[service]


def naive_launch(event: dict[str, Any], application_id: str) -> dict[str, Any]:
    """What a first version of such a Lambda often looks like. Its clients are kept across invocations, as
    a warm container keeps them (and as the bench keeps emr-dispatch's)."""
    emr = _client("emr")
    serverless = _client("emr-serverless")
    for record in event["Records"]:
        body = json.loads(record["body"])
        located = [(r["s3"]["bucket"]["name"], r["s3"]["object"]["key"]) for r in body.get("Records", [])]
        if body.get("detail-type") == "Object Created":
            located.append((body["detail"]["bucket"]["name"], body["detail"]["object"]["key"]))
        for bucket, raw_key in located:
            key = unquote_plus(raw_key)
            arguments = [f"--input=s3://{bucket}/{key}", "--output=s3://work/output/", "--job-id=naive"]
            if key.startswith(ORDERS_PREFIX):
                emr.run_job_flow(
                    Name="naive-orders",
                    LogUri="s3://work/emr-logs/",
                    ReleaseLabel="emr-7.5.0",
                    Applications=[{"Name": "Spark"}],
                    Instances={
                        "KeepJobFlowAliveWhenNoSteps": False,
                        "InstanceFleets": [
                            {
                                "InstanceFleetType": "MASTER",
                                "TargetOnDemandCapacity": 1,
                                "InstanceTypeConfigs": [{"InstanceType": "m7g.xlarge"}],
                            },
                            {
                                "InstanceFleetType": "CORE",
                                "TargetSpotCapacity": 2,
                                "InstanceTypeConfigs": [{"InstanceType": "m7g.2xlarge"}],
                            },
                        ],
                    },
                    Steps=[
                        {
                            "Name": "naive-orders",
                            "ActionOnFailure": "TERMINATE_CLUSTER",
                            "HadoopJarStep": {
                                "Jar": "command-runner.jar",
                                "Args": ["spark-submit", "s3://work/jobs/clean_csv.py", *arguments],
                            },
                        }
                    ],
                    ServiceRole="EMR_DefaultRole",
                    JobFlowRole="EMR_EC2_DefaultRole",
                    VisibleToAllUsers=True,
                )
            elif key.startswith(EVENTS_PREFIX):
                serverless.start_job_run(
                    applicationId=application_id,
                    executionRoleArn=f"arn:aws:iam::123456789012:role/{JOB_ROLE}",
                    name="naive-events",
                    clientToken=str(uuid.uuid4()),  # what boto3 fills in when it is left out: a new run every time
                    jobDriver={
                        "sparkSubmit": {"entryPoint": "s3://work/jobs/clean_csv.py", "entryPointArguments": arguments}
                    },
                )
    return {"batchItemFailures": []}
