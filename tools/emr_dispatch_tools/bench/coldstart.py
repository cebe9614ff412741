"""Cold start: each function's init in a fresh interpreter, against the floor set by the AWS SDK.

Ours: import the handler module, build what the first invocation builds (``wiring.launcher()`` etc.) and
create the function's boto3 clients through ``emr_dispatch.aws``. Floor: ``import boto3`` and create the
same clients with ``boto3.client``. Both run in a new interpreter (``python -c``) with the function's
environment, the handler's folder and the layer's package on ``sys.path`` as Lambda mounts them
(/var/task, /opt/python); the interpreter's own start-up is the same on both sides and is not counted.
Runs are interleaved (floor, launcher, tracker, sweeper, floor, ...) so load from elsewhere hits all alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from emr_dispatch_tools import moto_stack

FUNCTIONS = {
    # function: (handler folder, handler module, wiring builder)
    "launcher": ("functions/launcher", "launch_handler", "launcher"),
    "tracker": ("functions/tracker", "track_handler", "tracker"),
    "sweeper": ("functions/sweeper", "sweep_handler", "sweeper"),
}
CLIENTS = {
    # The clients each function creates on its main path (routes.yaml uses all three engines). Failure-only
    # clients (SNS for alerts, S3 for batch manifests) are left out of both sides: they dilute the ratio.
    "launcher": ("dynamodb", "emr", "emr-serverless", "emr-containers"),
    "tracker": ("dynamodb", "emr", "emr-serverless", "emr-containers"),
    "sweeper": ("dynamodb", "emr", "emr-serverless", "emr-containers", "sqs"),
}
GOALS = {"launcher": 1.25, "tracker": 1.25}

_CHILD = """
import importlib, json, sys, time
kind, module, builder, services = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
began = time.perf_counter()
if kind == "floor":
    import boto3
    clients = [boto3.client(service) for service in services]
else:
    importlib.import_module(module)
    from emr_dispatch import aws, wiring
    getattr(wiring, builder)()
    clients = [aws.client(service) for service in services]  # the one cached factory every adapter uses
took = time.perf_counter() - began
with open("/proc/self/status") as status:  # VmHWM: peak since exec (ru_maxrss keeps the parent's over fork)
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps({"ms": took * 1000, "rss_mib": peak}))
"""


@dataclass
class ColdStart:
    repeats: int
    ms: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # "floor:launcher" etc.
    rss_mib: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    top_imports: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # function → (package, ms)

    def median(self, key: str) -> float:
        return statistics.median(self.ms[key])

    def ratio(self, function: str) -> float:
        return self.median(function) / self.median(f"floor:{function}")


def function_environment(function: str) -> dict[str, str]:
    folder = FUNCTIONS[function][0]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only where HOME is unset
        "PYTHONPATH": os.pathsep.join([str(moto_stack.ROOT / folder), str(moto_stack.ROOT / "layers/emr_dispatch")]),
        "PYTHONDONTWRITEBYTECODE": "",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": f"emr-dispatch-{function}",
        # The template's Globals (values are not read at init, only their presence).
        "LEDGER_TABLE": "emr-dispatch-ledger",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:emr-dispatch-alerts",
        "WORK_BUCKET": "emr-dispatch-work",
        "ROUTES_FILE": str(moto_stack.ROOT / "config/routes.yaml"),
        "ARRIVALS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/emr-dispatch-arrivals",
        "EMR_SERVERLESS_APPLICATION_ID": "00fabcdefghij012",
        "EMR_SERVERLESS_JOB_ROLE_ARN": "arn:aws:iam::123456789012:role/emr-dispatch-serverless-job",
        "EMR_EKS_VIRTUAL_CLUSTER_ID": "abcdefghijklmno0123456789",
        "EMR_EKS_JOB_ROLE_ARN": "arn:aws:iam::123456789012:role/emr-dispatch-eks-job",
        "POWERTOOLS_SERVICE_NAME": "emr-dispatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "EmrDispatch",
        "POWERTOOLS_TRACE_DISABLED": "true",  # the template's default (TracingMode PassThrough)
    }


def _run(kind: str, function: str, importtime: bool = False) -> tuple[dict[str, float], str]:
    _, module, builder = FUNCTIONS[function]
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _CHILD]
    command += [kind, module, builder, ",".join(CLIENTS[function])]
    done = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        command, capture_output=True, text=True, check=False, env=function_environment(function), cwd=moto_stack.ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {kind} {function} failed:\n{done.stderr[-2000:]}")
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured, done.stderr


def measure(repeats: int) -> ColdStart:
    result = ColdStart(repeats)
    for _ in range(repeats):
        for function in FUNCTIONS:
            for kind, key in (("floor", f"floor:{function}"), ("ours", function)):
                measured, _ = _run(kind, function)
                result.ms[key].append(measured["ms"])
                result.rss_mib[key].append(measured["rss_mib"])
    for function in FUNCTIONS:
        _, stderr = _run("ours", function, importtime=True)
        result.top_imports[function] = top_packages(stderr)
    return result


def top_packages(importtime_stderr: str, count: int = 6) -> list[tuple[str, float]]:
    """Self time of `-X importtime` output summed by top-level package, largest first (ms)."""
    totals: defaultdict[str, float] = defaultdict(float)
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|", 2)
        totals[name.strip().split(".", 1)[0]] += int(self_us) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:count]
