"""Deploy the real template.yaml into moto and invoke its functions in-process, as `sam local invoke` would.

SAM → CloudFormation happens offline with samtranslator; moto's CloudFormation then creates the table,
topic, queues, rules, roles and functions. What moto cannot do is adjusted here, and only here:
- code and layer content are small zips uploaded to a moto bucket (moto wants S3 locations);
- resource types moto's CloudFormation does not implement (queue, topic and bucket policies, alarms) are
  left out, with the dashboard (its body names the alarms) and any output naming what was left out;
- Lambda triggers (event source mappings, rule targets that are functions, invoke permissions and
  event-invoke configs) are left out: moto would try to run Docker. The caller delivers those events
  to the handlers itself, exactly as `sam local invoke -e` does.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3

from emr_dispatch_tools.offline.iam import acting_as
from emr_dispatch_tools.offline.principals import function_principal

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ARTIFACT_BUCKET = "emr-dispatch-artifacts"
SAMPLE_CLUSTER_ID = "j-2AXXXXXXGAPLF"  # the cluster and step events/emr-*.json name
SAMPLE_STEP_ID = "s-1XXXXXXXXXXXA"
_LAMBDA_TRIGGER_TYPES = {
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
}
# moto's CloudFormation does not implement these policy and alarm types: left out of the moto stack only.
# They carry access control (TLS-only denies, who may publish or send), which moto does not enforce anyway.
_MOTO_UNSUPPORTED_TYPES = {
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",  # moto has it, but its body names the alarms above
}


class _NoManagedPolicies:
    """samtranslator asks IAM for managed policy names; the template uses inline statements only."""

    def load(self) -> dict[str, str]:
        return {}


_PARSED: dict[str, dict[str, Any]] = {}
"""Template text → its parse (pure-Python YAML, ≈ 0.1 s of CPU for template.yaml; every deploy read it twice)."""
_TRANSLATED: dict[tuple[str, ...], dict[str, Any]] = {}
"""(SAM template, parameters, what decides samtranslator's Region) → its translation."""
_ZIPPED: dict[str, bytes] = {}
"""Digest of a directory's files (names and bytes) → its zip."""
_REGION_SOURCES = ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE")
"""Where samtranslator's boto3 session finds the Region it names partitions after."""


def load_sam_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template at `path`, parsed once per text (the file is read on every call, so an edited template is
    parsed again); each caller gets its own copy to change."""
    from samtranslator.yaml_helper import yaml_parse

    text = path.read_text(encoding="utf-8")
    if text not in _PARSED:
        _PARSED[text] = yaml_parse(text)
    return copy.deepcopy(_PARSED[text])


def translate(sam_template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """SAM → plain CloudFormation, offline: what samtranslator's ``transform`` does, with the translator's usage
    metrics published (to its no-op publisher) instead of left for a "There are unpublished metrics" warning.
    Translated once per (template, parameters, Region settings): samtranslator is a pure function of them; each
    caller gets its own copy to change."""
    key = (
        json.dumps(sam_template, sort_keys=True),
        json.dumps(parameters, sort_keys=True),
        *(os.environ.get(name, "") for name in _REGION_SOURCES),
    )
    if key not in _TRANSLATED:
        _TRANSLATED[key] = _translate(sam_template, parameters)
    return copy.deepcopy(_TRANSLATED[key])


def _translate(sam_template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    from samtranslator.metrics.metrics import Metrics
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    fragment = json.loads(json.dumps(sam_template))
    to_py27_compatible_template(fragment, parameters)
    metrics = Metrics()
    translator = Translator(None, Parser(), metrics=metrics)
    policies = _NoManagedPolicies()
    translated: dict[str, Any] = translator.translate(
        fragment, parameter_values=parameters, get_managed_policy_map=policies.load
    )
    metrics.publish()
    return cast(dict[str, Any], undo_mark_unicode_str_in_template(translated))


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    layer_dirs: list[Path] = field(default_factory=list)


@dataclass
class DeployedStack:
    name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id → physical id
    functions: dict[str, FunctionSpec]
    region: str
    parameters: dict[str, str] = field(default_factory=dict)
    emf: list[dict[str, Any]] = field(default_factory=list)
    """Metric records (CloudWatch embedded metric format) the handlers printed, as CloudWatch would ingest them."""
    warm: bool = False
    """Like Lambda keeping a container warm: consecutive invocations of the same function with the same
    environment reuse what its init built (clients, routes). Off: every invocation is a cold start."""
    _last_container: tuple[str, frozenset[tuple[str, str]]] | None = field(default=None, repr=False)
    template_path: Path = TEMPLATE

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Environment of a deployed function as moto resolved it, with /opt paths mapped to layer dirs."""
        client = boto3.client("lambda", region_name=self.region)
        config = client.get_function_configuration(FunctionName=self.resources[logical_id])
        variables = dict(config.get("Environment", {}).get("Variables", {}))
        spec = self.functions[logical_id]
        for name, value in variables.items():
            if value.startswith("/opt/"):
                variables[name] = str(_find_in_layers(value.removeprefix("/opt/"), spec.layer_dirs))
        return variables

    def invoke(self, logical_id: str, event: dict[str, Any], overrides: dict[str, str] | None = None) -> Any:
        """Run a function's handler in this process with the function's environment (plus overrides,
        e.g. another ROUTES_FILE, as a redeploy with a changed routes layer would give)."""
        spec = self.functions[logical_id]
        environment = {**self.function_environment(logical_id), **(overrides or {})}
        environment.update(AWS_LAMBDA_FUNCTION_NAME=self.resources[logical_id], AWS_REGION=self.region)
        handler = load_handler(spec)
        printed = io.StringIO()
        container = (logical_id, frozenset(environment.items()))
        with set_environment(environment):
            from emr_dispatch import wiring

            if not (self.warm and container == self._last_container):
                wiring.reset()
            self._last_container = container
            try:
                # Every AWS call of the handler is authorized against this function's role (offline IAM).
                with contextlib.redirect_stdout(printed), acting_as(function_principal(self, logical_id)):
                    return handler(event, LambdaContext(self.resources[logical_id]))
            finally:
                if not self.warm:
                    wiring.reset()
                self._keep_metrics(printed.getvalue())

    def metric_values(self, name: str, **dimensions: str) -> list[float]:
        """Every value of a metric the handlers emitted in the record with exactly these dimensions (plus
        ``service``); no dimensions: the namespace-wide set the alarms watch."""
        wanted = {"service", *dimensions}
        found: list[float] = []
        for record in self.emf:
            (directive,) = record["_aws"]["CloudWatchMetrics"]
            names = {metric["Name"] for metric in directive["Metrics"]}
            if name not in names or wanted not in [set(keys) for keys in directive["Dimensions"]]:
                continue
            if all(record.get(key) == value for key, value in dimensions.items()):
                value = record[name]
                found += value if isinstance(value, list) else [value]
        return found

    def _keep_metrics(self, printed: str) -> None:
        """Metric records are kept; anything else the handler printed goes on to stdout."""
        for line in printed.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict) and "_aws" in record:
                self.emf.append(record)
            else:
                sys.stdout.write(line + "\n")


@dataclass
class LambdaContext:
    """The parts of the Lambda context object Powertools reads."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def deploy(
    stack_name: str = "emr-dispatch",
    parameters: dict[str, str] | None = None,
    region: str = "us-east-1",
    template_path: Path = TEMPLATE,
) -> DeployedStack:
    """Deploy the template into the moto account that is active in this process (inside mock_aws)."""
    parameters = parameters or {}
    sam_template = load_sam_template(template_path)
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    _point_code_at_s3(sam_template, s3, template_path.parent)
    cfn_template = translate(sam_template, parameters)
    _drop_lambda_triggers(cfn_template)
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn_template),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    deployed = attach(stack_name, region, template_path, dict(parameters))
    _encrypt_tables(cfn_template, deployed)
    return deployed


def attach(
    stack_name: str, region: str, template_path: Path = TEMPLATE, parameters: dict[str, str] | None = None
) -> DeployedStack:
    """A stack already deployed from this template (into moto, or a real account), to run its functions'
    handlers in this process with the environment CloudFormation resolved for them."""
    cloudformation = boto3.client("cloudformation", region_name=region)
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    resources = {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        for resource in page["StackResourceSummaries"]
    }
    functions = function_specs(load_sam_template(template_path), template_path.parent)
    return DeployedStack(
        stack_name, outputs, resources, functions, region, dict(parameters or {}), template_path=template_path
    )


def deploy_with_engines(stack_name: str = "emr-dispatch", region: str = "us-east-1") -> DeployedStack:
    """Deploy as an account that already runs all three engines would: EMR Serverless applications of type
    SPARK and HIVE (stopped, tagged for emr-dispatch to start and stop) and an EMR on EKS virtual cluster, whose ids
    and job roles are the stack's parameters."""
    serverless = boto3.client("emr-serverless", region_name=region)
    application_id = serverless.create_application(
        name="shared-spark",
        releaseLabel="emr-7.5.0",
        type="SPARK",
        clientToken="moto-application",
        tags={"managed-by": "emr-dispatch"},
    )["applicationId"]
    serverless.stop_application(applicationId=application_id)
    # Hive jobs run only on an application of type HIVE (EMR Serverless User Guide): a second one.
    hive_application_id = serverless.create_application(
        name="shared-hive",
        releaseLabel="emr-7.5.0",
        type="HIVE",
        clientToken="moto-hive-application",
        tags={"managed-by": "emr-dispatch"},
    )["applicationId"]
    serverless.stop_application(applicationId=hive_application_id)
    virtual_cluster_id = boto3.client("emr-containers", region_name=region).create_virtual_cluster(
        name="analytics",
        clientToken="moto-virtual-cluster",
        containerProvider={"id": "analytics-eks", "type": "EKS", "info": {"eksInfo": {"namespace": "emr"}}},
    )["id"]
    return deploy(
        stack_name,
        region=region,
        parameters={
            "EmrServerlessApplicationId": application_id,
            "EmrServerlessHiveApplicationId": hive_application_id,
            "EmrServerlessJobRoleName": "emr-dispatch-serverless-job",
            "EmrEksVirtualClusterId": virtual_cluster_id,
            "EmrEksJobRoleName": "emr-dispatch-eks-job",
        },
    )


def seed_sample_job(stack: DeployedStack, overrides: dict[str, str] | None = None) -> str:
    """Make the ids events/emr-*.json carry real: events/s3-put-classic.json launched, and its cluster and
    step renamed in moto to the sample's (moto names clusters at random), with the ledger following. Only in
    moto (its backends are edited): `emr-dispatch invoke` and `make sandbox` use it. The sample job's id."""
    from moto.emr.models import emr_backends

    event = json.loads((ROOT / "events" / "s3-put-classic.json").read_text(encoding="utf-8"))
    (result,) = stack.invoke("LauncherFunction", event, overrides)["results"]
    if result.get("status") != "started":
        raise RuntimeError(f"the sample arrival did not start a job: {result}")
    account = boto3.client("sts", region_name=stack.region).get_caller_identity()["Account"]
    backend = emr_backends[account][stack.region]
    cluster = backend.clusters.pop(result["engine_id"])
    cluster.id = SAMPLE_CLUSTER_ID
    cluster.steps[0].id = SAMPLE_STEP_ID
    backend.clusters[SAMPLE_CLUSTER_ID] = cluster
    boto3.client("dynamodb", region_name=stack.region).update_item(
        TableName=stack.outputs["LedgerTableName"],
        Key={"pk": {"S": f"JOB#{result['job_id']}"}, "sk": {"S": "JOB"}},
        UpdateExpression="SET engine_id = :id, engine_details.cluster_id = :id",
        ExpressionAttributeValues={":id": {"S": SAMPLE_CLUSTER_ID}},
    )
    return str(result["job_id"])


def rule_patterns(sam_template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """EventBridge patterns of the template's function triggers, by '<function>.<event>' name."""
    template = sam_template or load_sam_template()
    patterns: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] == "EventBridgeRule":
                patterns[f"{logical_id}.{event_name}"] = event["Properties"]["Pattern"]
    return patterns


def matching_rules(event: dict[str, Any], patterns: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the rules whose pattern matches the event (moto's own EventBridge matcher)."""
    from moto.events.models import EventPattern

    message: Any = event
    return [name for name, pattern in patterns.items() if EventPattern.load(json.dumps(pattern)).matches_event(message)]


# ---------------------------------------------------------------------------- internals
def function_specs(sam_template: dict[str, Any], base: Path) -> dict[str, FunctionSpec]:
    resources = sam_template["Resources"]
    global_layers = sam_template.get("Globals", {}).get("Function", {}).get("Layers", [])
    specs = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        layer_refs = [*global_layers, *properties.get("Layers", [])]
        layer_dirs = [
            base / resources[ref["Ref"]]["Properties"]["ContentUri"]
            for ref in layer_refs
            if isinstance(ref, dict) and "Ref" in ref
        ]
        specs[logical_id] = FunctionSpec(logical_id, base / properties["CodeUri"], properties["Handler"], layer_dirs)
    return specs


def _point_code_at_s3(sam_template: dict[str, Any], s3: Any, base: Path) -> None:
    for logical_id, resource in sam_template["Resources"].items():
        properties = resource.get("Properties", {})
        for field_name in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(field_name), str):
                key = f"{logical_id}.zip"
                s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=_zip_dir(base / properties[field_name]))
                properties[field_name] = f"s3://{ARTIFACT_BUCKET}/{key}"


def _drop_lambda_triggers(cfn_template: dict[str, Any]) -> None:
    resources = cfn_template["Resources"]
    functions = {name for name, resource in resources.items() if resource["Type"] == "AWS::Lambda::Function"}
    dropped = _LAMBDA_TRIGGER_TYPES | _MOTO_UNSUPPORTED_TYPES
    dropped_names = {name for name, resource in resources.items() if resource["Type"] in dropped}
    for name in dropped_names:
        del resources[name]
    outputs = cfn_template.get("Outputs", {})
    for name in [name for name, output in outputs.items() if _refers_to(output.get("Value"), dropped_names)]:
        del outputs[name]
    for resource in resources.values():
        if resource["Type"] == "AWS::Events::Rule":
            targets = resource["Properties"].get("Targets", [])
            resource["Properties"]["Targets"] = [t for t in targets if not _refers_to(t.get("Arn"), functions)]


def _encrypt_tables(cfn_template: dict[str, Any], stack: DeployedStack) -> None:
    """moto's CloudFormation reads a table's SSESpecification with the API's key names (`Enabled`), not
    CloudFormation's (`SSEEnabled`), so a KMS-encrypted table came out unencrypted: apply it as AWS would (the
    offline IAM checker reads the key from DescribeTable to authorize DynamoDB's use of it on the caller's behalf)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][stack.region].tables
    for logical_id, resource in cfn_template["Resources"].items():
        sse = (
            resource.get("Properties", {}).get("SSESpecification")
            if resource["Type"] == "AWS::DynamoDB::Table"
            else None
        )
        if not sse or not sse.get("SSEEnabled") or sse.get("SSEType") != "KMS":
            continue
        key = sse.get("KMSMasterKeyId")
        if isinstance(key, dict) and "Ref" in key:
            key = f"arn:aws:kms:{stack.region}:{DEFAULT_ACCOUNT_ID}:key/{stack.resources[key['Ref']]}"
        tables[stack.resources[logical_id]].sse_specification = {
            "Enabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": key,
        }


def _refers_to(value: Any, names: set[str]) -> bool:
    if isinstance(value, dict):
        getatt = value.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt and getatt[0] in names:
            return True
        return value.get("Ref") in names
    return False


def _zip_dir(directory: Path) -> bytes:
    """The directory's files as a zip, made once per content (names and bytes: an edited file makes a new one)."""
    files = [p for p in sorted(directory.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    digest = hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        digest.update(f"{path.relative_to(directory).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    key = digest.hexdigest()
    if key not in _ZIPPED:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(directory).as_posix())
        _ZIPPED[key] = buffer.getvalue()
    return _ZIPPED[key]


def _find_in_layers(relative: str, layer_dirs: list[Path]) -> Path:
    for layer_dir in layer_dirs:
        candidate = layer_dir / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"/opt/{relative} is in none of the function's layers: {layer_dirs}")


def load_handler(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    module_name, function_name = spec.handler.rsplit(".", 1)
    code_dir = str(spec.code_dir)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    module = importlib.import_module(module_name)
    handler: Callable[[dict[str, Any], Any], Any] = getattr(module, function_name)
    return handler


@contextlib.contextmanager
def set_environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
