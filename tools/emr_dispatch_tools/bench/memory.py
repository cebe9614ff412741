"""Memory: peak RSS of the launcher handling one 10,000-record SQS batch, in a fresh interpreter.

Lambda's SQS event source mapping can hand a standard queue's function up to 10,000 records at once (with a
batching window). moto would hold 10,000 clusters and ledger items in this same process and swamp the figure,
so here every AWS call is answered by a stub at the botocore level: a ``before-call`` handler returns a canned,
successful response before anything is sent. Parameter validation, serialisation, the handler, Powertools and
the clients all run as in Lambda; only the network and the service are missing. The baseline, measured the
same way, is a fresh interpreter that imports boto3 and creates the launcher's clients (the cold start floor).
The stub lives in the bench only: product code never sees it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from typing import Any

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.bench.coldstart import CLIENTS, function_environment

LIMIT_MIB = 256  # the template's MemorySize

_CHILD = r"""
import json, sys, time, uuid
records = int(sys.argv[1])
kind = sys.argv[2]
services = sys.argv[3].split(",")

def rss():
    # VmHWM: this process's peak since exec. ru_maxrss would carry the parent's peak over the fork.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

import boto3
if kind == "floor":
    clients = [boto3.client(service) for service in services]
    print(json.dumps({"peak_rss_mib": rss()}))
    sys.exit(0)

template = {}  # the first ledger item written: UpdateItem answers are shaped from it, nothing is kept per job

def remember(params, context, **_):
    context["bench_params"] = params  # before-call sees the serialised request; keep the API parameters

def answer(model, context, **_):
    name, params = model.name, context["bench_params"]
    if name == "PutItem":
        template.setdefault("item", params["Item"])
        parsed = {}
    elif name == "TransactWriteItems":  # the claim: the job's Put with its slot and route-paused checks
        template.setdefault("item", params["TransactItems"][0]["Put"]["Item"])
        parsed = {}
    elif name == "UpdateItem":
        item = dict(template["item"])
        job_id = params["Key"]["pk"]["S"].removeprefix("JOB#")
        item.update(pk=params["Key"]["pk"], job_id={"S": job_id}, state={"S": "SUBMITTED"},
                    engine_id={"S": "j-" + job_id[-13:].upper()})
        parsed = {"Attributes": item}
    elif name == "RunJobFlow":
        parsed = {"JobFlowId": "j-" + uuid.uuid4().hex[:13].upper()}
    elif name == "StartJobRun":
        parsed = {"applicationId": params.get("applicationId", "app"), "jobRunId": uuid.uuid4().hex[:16],
                  "id": uuid.uuid4().hex[:19], "arn": "arn:aws:emr:us-east-1:123456789012:run",
                  "virtualClusterId": params.get("virtualClusterId", "vc")}
    elif name == "GetApplication":
        parsed = {"application": {"state": "STARTED"}}
    else:
        parsed = {}
    calls[name] = calls.get(name, 0) + 1
    return type("Http", (), {"status_code": 200, "headers": {}})(), parsed

calls = {}
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("provide-client-params", remember, unique_id="bench-params")
boto3.DEFAULT_SESSION.events.register("before-call", answer, unique_id="bench-stub")

from emr_dispatch.observability import logger
import logging, os
for handler in logging.getLogger(logger.name).handlers:
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(open(os.devnull, "w"))
import launch_handler
after_init = rss()
event = json.loads(sys.stdin.read())
after_event = rss()
context = type("Context", (), {"function_name": "launcher", "function_version": "$LATEST", "memory_limit_in_mb": 256,
    "aws_request_id": "bench", "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:launcher",
    "get_remaining_time_in_millis": lambda self: 900000})()
began = time.perf_counter()
response = launch_handler.handler(event, context)
took = time.perf_counter() - began
print(json.dumps({"after_init_mib": after_init, "event_parsed_mib": after_event, "peak_rss_mib": rss(),
                  "failures": len(response["batchItemFailures"]), "calls": calls, "seconds": took}))
"""


@dataclass
class Memory:
    records: int
    event_mib: float
    floor_mib: float
    after_init_mib: float
    event_parsed_mib: float
    peak_mib: float
    failures: int
    calls: dict[str, int]
    seconds: float

    @property
    def ratio_to_limit(self) -> float:
        return self.peak_mib / LIMIT_MIB

    @property
    def ratio_to_floor(self) -> float:
        return self.peak_mib / self.floor_mib


def sqs_batch(records: int, seed: int) -> dict[str, Any]:
    """One SQS batch of ``records`` distinct objects for the template's routes (orders → EMR on EC2,
    returns → EMR Serverless, payments → EMR on EKS), shaped like the burst's deliveries."""
    from emr_dispatch_tools.bench.burst import make_burst

    burst = make_burst(records, 0.0, seed)
    keys = (
        "raw/orders/2026-11-23/o-{i:06d}.csv",
        "raw/returns/2026-11-23/returns-{i:06d}.csv",
        "raw/payments/2026-11-23/p-{i:06d}.csv",
    )
    burst.objects = [replace(obj, key=keys[i % 3].format(i=i)) for i, obj in enumerate(burst.objects)]
    batches = burst.sqs_events("landing", "arn:aws:sqs:us-east-1:123456789012:arrivals", seed)
    return {"Records": [record for batch in batches for record in batch["Records"]]}


def measure(records: int, seed: int) -> Memory:
    environment = function_environment("launcher")
    services = ",".join(CLIENTS["launcher"])
    event_text = json.dumps(sqs_batch(records, seed))
    runs = {}
    for kind in ("floor", "launcher"):
        done = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, "-c", _CHILD, str(records), kind, services],
            input=event_text if kind == "launcher" else "",
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            cwd=moto_stack.ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"memory run ({kind}) failed:\n{done.stderr[-3000:]}")
        runs[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    ours = runs["launcher"]
    return Memory(
        records=records,
        event_mib=len(event_text.encode()) / 2**20,
        floor_mib=runs["floor"]["peak_rss_mib"],
        after_init_mib=ours["after_init_mib"],
        event_parsed_mib=ours["event_parsed_mib"],
        peak_mib=ours["peak_rss_mib"],
        failures=ours["failures"],
        calls=ours["calls"],
        seconds=ours["seconds"],
    )
