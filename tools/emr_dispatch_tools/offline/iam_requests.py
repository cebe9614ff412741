"""One API call → the authorization requests IAM evaluates for it (iam.py): the action (renamed or versioned where
the operation's name is not the action's), each resource's ARN built from request members, the roles it passes,
the request's tags and how to read the target's tags from moto. Fails closed (CannotEvaluateError)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from botocore.model import ServiceModel

from emr_dispatch_tools.offline import sar
from emr_dispatch_tools.offline.checks import suspended
from emr_dispatch_tools.offline.iam_model import AuthorizationRequest, CannotEvaluateError, Principal

_RENAMED_ACTIONS = {
    # API operation → IAM action, where the names differ (Service Authorization Reference / each service's
    # "actions, resources and condition keys" page).
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("sns", "PublishBatch"): "Publish",
    ("lambda", "Invoke"): "InvokeFunction",
}
_VERSIONED_ACTIONS = {
    # S3 operations authorized as another action when the request names a version (VersionId): Service
    # Authorization Reference (Amazon S3) and the S3 API reference's permissions section of each operation.
    "GetObject": "GetObjectVersion",
    "HeadObject": "GetObjectVersion",
    "GetObjectTagging": "GetObjectVersionTagging",
    "PutObjectTagging": "PutObjectVersionTagging",
    "DeleteObjectTagging": "DeleteObjectVersionTagging",
    "DeleteObject": "DeleteObjectVersion",
}
_NO_AUTHORIZATION = frozenset({("sts", "GetCallerIdentity")})
"""Operations IAM does not authorize ("No permissions are required", STS API reference)."""

_PASSED_ROLES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    # Members naming a role the service will assume: IAM checks iam:PassRole on it with iam:PassedToService.
    ("elasticmapreduce", "RunJobFlow"): (
        ("ServiceRole", "elasticmapreduce.amazonaws.com"),
        ("JobFlowRole", "ec2.amazonaws.com"),  # the instance profile; its role has the same name here
    ),
    ("emr-serverless", "StartJobRun"): (("executionRoleArn", "emr-serverless.amazonaws.com"),),
}
_PASSED_ROLE_MEMBERS = {("elasticmapreduce", "RunJobFlow"): {"AutoScalingRole"}}
"""Role-passing members this checker does not map (fail closed when a request sets one)."""

_ARN_VARIABLE_MEMBERS: dict[str, tuple[str, ...]] = {
    # ARN-format variable of the reference → request members that hold its value (besides its own name).
    "BucketName": ("Bucket",),
    "ObjectName": ("Key",),
    "QueueName": ("QueueUrl",),
    "TopicName": ("TopicArn", "TargetArn"),
    "ClusterId": ("JobFlowIds", "ResourceId"),
    "JobRunId": ("jobRunId", "id"),
    "VirtualClusterId": ("virtualClusterId", "id"),
    "FunctionName": ("FunctionName",),
    "StackName": ("StackName",),
    "LogGroupName": ("logGroupName",),
}


def authorization_requests(
    service_model: ServiceModel, operation: str, params: Mapping[str, Any], principal: Principal, region: str
) -> list[AuthorizationRequest]:
    prefix = service_model.signing_name
    if (prefix, operation) in _NO_AUTHORIZATION:
        return []
    requests = []
    for action_name, members in _expand(prefix, operation, params):
        try:
            action = sar.action(f"{prefix}:{action_name}")
        except sar.UnknownToReferenceError as exc:
            raise CannotEvaluateError(f"{service_model.service_name}.{operation}: {exc}") from exc
        tags = _request_tags(members)
        for arn, resource_type in _resources(action, members, principal, region):
            lookup = _tag_reader(resource_type, arn, members, region) if resource_type else None
            requests.append(AuthorizationRequest(action, arn, resource_type, tags, {}, lookup, members))
            requests += _key_requests(action, arn, region)
        for member, service in _PASSED_ROLES.get((prefix, operation), ()):
            if members.get(member):
                role = str(members[member])
                role_arn = (
                    role
                    if role.startswith("arn:")
                    else f"arn:{principal.partition}:iam::{principal.account}:role/{role}"
                )
                requests.append(
                    AuthorizationRequest(
                        sar.action("iam:PassRole"), role_arn, None, None, {"iam:passedtoservice": [service]}
                    )
                )
        for member in _PASSED_ROLE_MEMBERS.get((prefix, operation), set()):
            if members.get(member):
                raise CannotEvaluateError(f"{prefix}:{operation} passes a role in {member}, which is not mapped")
    return requests


_KEY_ACTIONS: dict[str, tuple[str, ...]] = {
    # Actions on a resource encrypted with a customer-managed KMS key that the service performs with the caller's
    # own KMS permissions (SQS and SNS developer guides, "key management" for producers and consumers; DynamoDB
    # reads and writes of a table under a customer-managed key).
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "dynamodb:GetItem": ("kms:Decrypt",),
    "dynamodb:Query": ("kms:Decrypt",),
    "dynamodb:Scan": ("kms:Decrypt",),
    "dynamodb:PutItem": ("kms:Decrypt",),
    "dynamodb:UpdateItem": ("kms:Decrypt",),
    "dynamodb:DeleteItem": ("kms:Decrypt",),
    "dynamodb:ConditionCheckItem": ("kms:Decrypt",),
    "dynamodb:BatchGetItem": ("kms:Decrypt",),
}
_KEY_CACHE: dict[str, str | None] = {}


def _key_requests(action: sar.Action, arn: str, region: str) -> list[AuthorizationRequest]:
    """The KMS requests an action implies when its target is encrypted with a customer-managed key."""
    wanted = _KEY_ACTIONS.get(action.full_name)
    if not wanted or arn == "*":
        return []
    key = _encryption_key(action.service, arn, region)
    if key is None:
        return []
    return [AuthorizationRequest(sar.action(name), key, sar.action(name).resource_types[0], None) for name in wanted]


def _encryption_key(service: str, arn: str, region: str) -> str | None:
    """The ARN of the customer-managed key encrypting a queue, topic or table (None: none, or AWS-owned)."""
    target = arn.split("/index/")[0] if service == "dynamodb" else arn
    if target in _KEY_CACHE:
        return _KEY_CACHE[target]
    parts = target.split(":")
    account, name = parts[4], parts[5]
    key: str | None = None
    with suspended():
        try:
            if service == "sqs":
                client = harness_client("sqs", region)
                url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])
                key = attributes.get("Attributes", {}).get("KmsMasterKeyId")
            elif service == "sns":
                attributes = harness_client("sns", region).get_topic_attributes(TopicArn=target)["Attributes"]
                key = attributes.get("KmsMasterKeyId")
            elif service == "dynamodb":
                table = harness_client("dynamodb", region).describe_table(TableName=name.split("/", 1)[1])["Table"]
                sse = table.get("SSEDescription", {})
                key = sse.get("KMSMasterKeyArn") if sse.get("SSEType") == "KMS" else None
        except ClientError:
            return None  # no such queue/topic/table: the call itself will say so
    if key and not key.startswith("arn:"):
        if key.startswith("alias/"):
            if key.startswith("alias/aws/"):
                key = None  # AWS managed keys: their key policy lets the service use them for the account
            else:
                raise CannotEvaluateError(f"{target} is encrypted with {key}: aliases are not resolved offline")
        else:
            key = f"arn:{parts[1]}:kms:{parts[3]}:{account}:key/{key}"
    _KEY_CACHE[target] = key
    return key


def _expand(prefix: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The IAM actions one API call is authorized as, each with the request members that describe it."""
    if prefix == "dynamodb" and operation == "TransactWriteItems":
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        expanded = []
        for item in params.get("TransactItems", []):
            ((kind, body),) = item.items()
            expanded.append((kinds[kind], body))
        return expanded
    if prefix == "dynamodb" and operation == "TransactGetItems":
        return [("GetItem", item["Get"]) for item in params.get("TransactItems", [])]
    if prefix == "dynamodb" and operation == "BatchWriteItem":
        return [
            ("PutItem" if "PutRequest" in request else "DeleteItem", {"TableName": table})
            for table, requests in params.get("RequestItems", {}).items()
            for request in requests
        ]
    if prefix == "dynamodb" and operation == "BatchGetItem":
        return [("BatchGetItem", {"TableName": table}) for table in params.get("RequestItems", {})]
    if prefix == "s3" and operation == "CopyObject":
        source = params["CopySource"]
        if isinstance(source, str):
            bucket, _, key = source.lstrip("/").partition("/")
            source = {"Bucket": bucket, "Key": key.split("?versionId=")[0]}
        return [("GetObject", source), ("PutObject", params)]
    if prefix == "s3" and operation == "DeleteObjects":
        return [("DeleteObject", {"Bucket": params["Bucket"], "Key": o["Key"]}) for o in params["Delete"]["Objects"]]
    if prefix == "s3" and params.get("VersionId") and operation in _VERSIONED_ACTIONS:
        return [(_VERSIONED_ACTIONS[operation], params)]
    return [(_RENAMED_ACTIONS.get((prefix, operation), operation), params)]


def _resources(
    action: sar.Action, members: Mapping[str, Any], principal: Principal, region: str
) -> list[tuple[str, sar.ResourceType | None]]:
    if not action.resource_types:
        return [("*", None)]
    best: list[tuple[str, sar.ResourceType]] = []
    best_score = -1
    for resource_type in action.resource_types:
        built = _build_arns(resource_type, members, principal, region)
        if built is None:
            continue
        score = len(resource_type.variables)
        if score > best_score:
            best, best_score = [(arn, resource_type) for arn in built], score
        elif score == best_score:
            best += [(arn, resource_type) for arn in built]
    if best:
        return list(best)
    if any(resource_type.required for resource_type in action.resource_types):
        names = [resource_type.name for resource_type in action.resource_types]
        raise CannotEvaluateError(
            f"{action.full_name}: no ARN of its resource types {names} can be built from the request members "
            f"{sorted(members)}"
        )
    return [("*", None)]


def _build_arns(
    resource_type: sar.ResourceType, members: Mapping[str, Any], principal: Principal, region: str
) -> list[str] | None:
    # A member that already holds an ARN of this type (TopicArn, resourceArn, ...) names the resource itself.
    for value in members.values():
        if isinstance(value, str) and value.startswith("arn:") and resource_type.arn_pattern.fullmatch(value):
            return [value]
    if (resource_type.service, resource_type.name) == ("cloudformation", "stack") and members.get("StackName"):
        stack_id = _stack_id(str(members["StackName"]), region)
        return [stack_id] if stack_id else None
    iam_member = _IAM_NAMED.get((resource_type.service, resource_type.name))
    if iam_member and members.get(iam_member):
        return [_iam_arn(resource_type.name, str(members[iam_member]), principal, region)]
    arns = [resource_type.arn_format]
    for variable in resource_type.variables:
        fixed = {"Partition": principal.partition, "Region": region, "Account": principal.account}
        if variable in fixed:
            values = [fixed[variable]]
        else:
            found = _member_values(variable, members)
            if found is None:
                return None
            values = found
        arns = [arn.replace("${" + variable + "}", value, 1) for arn in arns for value in values]
    return arns


_LOADER: list[Any] = []
"""One botocore data loader for the checker's sessions: it holds the parsed service models and endpoints, read
from botocore's JSON files once per process (a new session read them again: ≈ 80 ms of CPU per lookup)."""
_LOADER_LOCK = threading.Lock()


def harness_client(service: str, region: str) -> Any:
    """A client of the checker's own (a session apart, new for each lookup): handlers tests register on boto3's
    default session (call recorders, fault injectors) never see the checker's lookups, and the credentials and
    endpoint are the environment's at the time of the lookup. Only the loaded JSON data is shared."""
    import botocore.session

    with _LOADER_LOCK:
        if not _LOADER:
            _LOADER.append(botocore.session.Session().get_component("data_loader"))
        loader = _LOADER[0]
    session = botocore.session.Session()
    session.register_component("data_loader", loader)
    return session.create_client(service, region_name=region)


_IAM_NAMED = {("iam", "role"): "RoleName", ("iam", "instance-profile"): "InstanceProfileName"}
"""IAM resources a request names without their path, which their ARN (what IAM authorizes on) carries."""


def _iam_arn(kind: str, name: str, principal: Principal, region: str) -> str:
    """The ARN of a role or instance profile, path included (read from the account), or the path-less ARN IAM
    evaluates when there is no such entity."""
    with suspended():
        client = harness_client("iam", region)
        try:
            if kind == "role":
                return str(client.get_role(RoleName=name)["Role"]["Arn"])
            return str(client.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"])
        except ClientError:
            return f"arn:{principal.partition}:iam::{principal.account}:{kind}/{name}"


def _stack_id(name: str, region: str) -> str | None:
    """A stack's ARN (its StackId) from its name: IAM authorizes stack actions on the ARN, whose last part is a
    generated id no request carries."""
    with suspended():
        try:
            stacks = harness_client("cloudformation", region).describe_stacks(StackName=name)["Stacks"]
        except ClientError:
            return None
    return str(stacks[0]["StackId"])


def _member_values(variable: str, members: Mapping[str, Any]) -> list[str] | None:
    names = [variable, *_ARN_VARIABLE_MEMBERS.get(variable, ())]
    by_lower = {name.lower(): name for name in members}
    for name in names:
        member = by_lower.get(name.lower())
        if member is None or members[member] in (None, "", []):
            continue
        raw = members[member]
        values = [str(item) for item in raw] if isinstance(raw, list | tuple) else [str(raw)]
        if member == "QueueUrl":
            values = [value.rstrip("/").rsplit("/", 1)[-1] for value in values]
        elif member in ("TopicArn", "TargetArn"):
            values = [value.rsplit(":", 1)[-1] for value in values]
        elif variable.endswith("Id") and name.lower() == "resourceid":
            values = [value for value in values if not value.startswith("arn:")]
        return values or None
    return None


def _request_tags(members: Mapping[str, Any]) -> dict[str, str] | None:
    for name in ("Tags", "tags"):
        tags = members.get(name)
        if isinstance(tags, Mapping):
            return {str(key): str(value) for key, value in tags.items()}
        if isinstance(tags, list):
            return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags}
    return None


def _tag_reader(
    resource_type: sar.ResourceType, arn: str, members: Mapping[str, Any], region: str
) -> Callable[[], dict[str, str] | None]:
    """Reads the target's tags from the account (moto) when a condition needs them."""

    def read() -> dict[str, str] | None:
        client: Any
        key = (resource_type.service, resource_type.name)
        ids = arn.split(":", 5)[5]
        with suspended():
            try:
                if key == ("elasticmapreduce", "cluster"):
                    client = harness_client("emr", region)
                    cluster = client.describe_cluster(ClusterId=ids.split("/")[1])["Cluster"]
                    return {tag["Key"]: tag["Value"] for tag in cluster.get("Tags", [])}
                if key[0] == "emr-serverless":
                    parts = ids.strip("/").split("/")  # applications/<id>[/jobruns/<id>]
                    client = harness_client("emr-serverless", region)
                    if key[1] == "application":
                        return dict(client.get_application(applicationId=parts[1])["application"].get("tags", {}))
                    if key[1] == "jobRun":
                        run = client.get_job_run(applicationId=parts[1], jobRunId=parts[3])["jobRun"]
                        return dict(run.get("tags", {}))
                if key[0] == "emr-containers":
                    parts = ids.strip("/").split("/")  # virtualclusters/<id>[/jobruns/<id>]
                    client = harness_client("emr-containers", region)
                    if key[1] == "virtualCluster":
                        return dict(client.describe_virtual_cluster(id=parts[1])["virtualCluster"].get("tags", {}))
                    if key[1] == "jobRun":
                        run = client.describe_job_run(id=parts[3], virtualClusterId=parts[1])["jobRun"]
                        return dict(run.get("tags", {}))
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("ResourceNotFoundException", "InvalidRequestException"):
                    return None  # no such resource: no tags in the request context
                raise
        raise CannotEvaluateError(f"reading the tags of a {resource_type.service} {resource_type.name} ({arn})")

    return read
