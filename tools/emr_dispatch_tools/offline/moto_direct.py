"""moto's DynamoDB without the HTTP round trip, and with an index for its GSI queries (the 10,000-arrival burst).

Profiled at 1,000 arrivals (docs/BENCHMARKS.md, figure 8), the burst spent half its time in moto's generic response
serializer (rendering every item of every DynamoDB answer attribute by attribute), a fifth in moto's Query of a
global secondary index (moto keeps no index: each query checks every item of the table), and a tenth in botocore's
and moto's HTTP layers (signing, the prepared request, URL routing, a werkzeug request). ``direct_dynamodb``
removes those three costs and nothing else:

- botocore runs as always up to the request (events, endpoint, parameter validation, the JSON body); the request is
  then answered in-process by moto's own ``DynamoHandler``: moto's request parser reads the body, moto's handler
  method and backend do the work (conditions, transactions and their cancellation reasons, consumed capacity,
  pagination), and botocore's own response parser reads the answer, raising the modeled error classes as always.
- A successful data-plane answer (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, TransactWriteItems) is
  rendered with ``json.dumps`` instead of moto's serializer: those answers are already JSON-shaped (items are
  DynamoDB-JSON dicts); errors, every other operation and any answer holding a binary attribute keep moto's.
- moto's Query of an index gets the items of the asked partition only, from an index kept beside each table (built
  on its first index query, updated after every write moto makes through its backend). moto still filters, sorts,
  limits and paginates them itself, so the answer is moto's.

Trusted because tests/unit/test_moto_direct.py runs every operation and expression the product uses (conditional
writes and their failures, ReturnValues, transactions with cancellation reasons, GSI queries with Limit,
ScanIndexForward and ExclusiveStartKey, paginated scans) against moto as it is and through this path, and
requires the same answers and errors, field by field. Bench-only: tests run moto as it is.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse, create_request_object
from botocore.client import BaseClient
from botocore.endpoint import convert_to_response_dict

FAST_JSON = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "TransactWriteItems"})
_BINARY = ('"B": ', '"BS": ')  # json.dumps' spelling of a binary attribute value: moto's serializer renders those
_JSON_1_0 = "application/x-amz-json-1.0"
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')  # every JSON string of a json.dumps body (escapes included)
_HOOK = "_make_request"  # botocore.client.BaseClient: the request, built and validated, goes to the endpoint here


def _handler_class() -> type[Any]:
    from moto.dynamodb.responses import DynamoHandler

    class DirectHandler(DynamoHandler):
        _operation = ""
        rendered = False  # the answer is json.dumps' (FAST_JSON, no binary attribute), not moto's serializer

        def serialized(self, action_result: Any) -> Any:
            result = action_result.result
            if self._operation in FAST_JSON and isinstance(result, dict):
                body = json.dumps({key: value for key, value in result.items() if value is not None})
                if not any(marker in body for marker in _BINARY):
                    self.rendered = True
                    return 200, {"Content-Type": _JSON_1_0, **self.response_headers}, body
            return super().serialized(action_result)

    return DirectHandler


def _answer(client: BaseClient, operation_model: Any, request_dict: dict[str, Any], handler_class: Any) -> Any:
    """(http response, parsed) for one DynamoDB request, as botocore's endpoint returns them."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model

    operation = operation_model.name
    handler: Any = handler_class()
    handler._operation = operation
    body = request_dict["body"]
    body = body if isinstance(body, bytes) else str(body).encode("utf-8")
    headers = {"Content-Type": _JSON_1_0, "X-Amz-Target": f"DynamoDB_20120810.{operation}"}
    moto_operation = get_service_model("dynamodb").operation_model(operation)
    parser = PROTOCOL_PARSERS["json"](moto_operation, map_type=handler.PROTOCOL_PARSER_MAP_TYPE)
    request: Any = {"method": "POST", "values": {}, "headers": headers, "body": body, "url_path": "/", "url_params": {}}
    handler.params = parser.parse(request)
    handler.headers = headers
    handler.querystring = {}
    handler.uri_match = {}
    handler.method = "POST"
    handler.region = client.meta.region_name
    handler.partition = "aws"
    handler.current_account = DEFAULT_ACCOUNT_ID
    handler.response_headers = {"server": "amazon.com"}
    handler.raw_body = body
    status, response_headers, response_body = handler.call_action()
    raw = response_body if isinstance(response_body, bytes) else str(response_body).encode("utf-8")
    from moto.core.botocore_stubber import MockRawResponse

    headers_: Any = dict(response_headers)  # as moto's own stubber hands them to botocore
    http = AWSResponse(request_dict["url"], int(status), headers_, MockRawResponse(raw))
    response_dict = convert_to_response_dict(http, operation_model)
    endpoint: Any = getattr(client, "_endpoint")  # noqa: B009 - botocore's private endpoint
    parser_ = endpoint._response_parser_factory.create_parser(client.meta.service_model.metadata["protocol"])
    if handler.rendered and http.status_code < 300 and b"null" not in _STRINGS.sub(b'""', raw):
        parser_._handle_json_body = _plain_json_body(parser_._handle_json_body, operation_model.output_shape)
    parsed = parser_.parse(response_dict, operation_model.output_shape)
    if http.status_code >= 300:
        endpoint._add_modeled_error_fields(response_dict, parsed, operation_model, parser_)
    return http, parsed


def _plain_json_body(original: Callable[[bytes, Any], Any], output_shape: Any) -> Callable[[bytes, Any], Any]:
    """botocore's JSON parser walks the parsed body along the output shape member by member: for these answers
    (FAST_JSON, rendered by json.dumps, no binary attribute, no JSON null outside the strings) that walk keeps each
    top-level member the shape names and copies every value as it is (strings, numbers, booleans, lists and maps of
    them; no blob, timestamp or renamed member in these outputs). ``json.loads`` and the same selection of members
    give the same dict. botocore still adds the response metadata (status, headers, request id)."""

    def handle_json_body(raw_body: bytes, shape: Any) -> Any:
        if shape is not output_shape:
            return original(raw_body, shape)
        members = shape.members
        return {key: value for key, value in json.loads(raw_body).items() if key in members}

    return handle_json_body


class _Stubbed:
    """moto's BotocoreStubber.process_request for the request botocore's endpoint would send, without the endpoint's
    send loop and events, and with its URL lookup kept per URL: moto scans every service's URL patterns, then the
    matched backend's URLs, compiling each, for every request (the same URL always finds the same method while the
    backends stand: the cache lives as long as the block). Then moto's own steps: the request normalized, the
    method called, an HTTPException turned into its status, headers and body."""

    def __init__(self) -> None:
        self._methods: dict[str, Any] = {}

    def __call__(self, request: Any) -> tuple[Any, Any, Any] | None:
        from moto.core import exceptions as moto_exceptions
        from moto.core.request import normalize_request
        from moto.core.utils import get_equivalent_url_in_aws_domain

        parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
        clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
        method = self._methods.get(clean_url)
        if method is None:
            method = self._methods[clean_url] = self._method(clean_url)
        if method is False:
            return None
        http_exception: Any = getattr(moto_exceptions, "HTTPException")  # noqa: B009 - not exported by moto
        normalized = normalize_request(request)
        try:
            status, headers, body = method(normalized, normalized.raw_url, normalized.headers)
        except http_exception as exc:
            return exc.code, exc.get_headers(), exc.get_body()
        return status, headers, body

    @staticmethod
    def _method(clean_url: str) -> Any:
        """moto's lookup (botocore_stubber.process_request), or False where moto would not answer here."""
        import moto.backend_index as backend_index
        import moto.backends as backends
        from moto.core.base_backend import BackendDict
        from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
        from moto.core.models import DEFAULT_ACCOUNT_ID

        if passthrough_url(clean_url):
            return False
        for service, pattern in backend_index.backend_url_patterns:
            if not pattern.match(clean_url):
                continue
            if passthrough_service(service) or not service_whitelisted(service):
                return False  # moto passes it through or raises: its own path decides
            backend_dict: Any = backends.get_backend(service)  # type: ignore[call-overload]
            if isinstance(backend_dict, BackendDict):
                accounts = backend_dict[DEFAULT_ACCOUNT_ID]
                backend = accounts["us-east-1"] if "us-east-1" in accounts else accounts["aws"]
            else:
                backend = backend_dict["global"]
            for url, method_to_execute in backend.urls.items():
                if re.compile(url).match(clean_url):
                    return method_to_execute
            return False
        return False


def _known_to_iam(access_key: str) -> bool:
    """Whether moto's IAM holds this access key in any account (moto.iam.models.get_account_id_from's search)."""
    from moto.iam import models as iam_models

    iam: Any = iam_models  # moto's module does not export PARTITION_NAMES
    return any(
        access_key in account[partition].access_keys
        for _, account in list(iam.iam_backends.items())
        for partition in iam.PARTITION_NAMES
    )


DIRECT_SERVICES = frozenset({"sqs", "emr", "emr-serverless", "emr-containers", "sns"})
"""Services whose requests go to moto's handlers without botocore's send loop (``_Stubbed``)."""


def _answer_stubbed(client: BaseClient, operation_model: Any, request_dict: dict[str, Any], stubbed: _Stubbed) -> Any:
    """(http response, parsed) as botocore's endpoint returns them, or None where moto would not answer. The
    request is made by the endpoint's own ``create_request_object`` and ``prepare_request``, unsigned unless moto's
    IAM knows the caller's access key (then signed by ``create_request``: moto would read the signature); the answer
    is parsed by its parser, with the modeled error fields an error gets there."""
    endpoint: Any = getattr(client, "_endpoint")  # noqa: B009 - botocore's private endpoint
    credentials = client._get_credentials()  # type: ignore[attr-defined]
    if credentials is not None and not _known_to_iam(credentials.access_key):
        # moto reads the signature only for the caller's access key (get_access_key); an access key its IAM does not
        # hold maps to the default account and records nothing, as the unsigned request's "AKIAEXAMPLE" does
        request = endpoint.prepare_request(create_request_object(request_dict))
        request.stream_output = False  # DIRECT_SERVICES: no streaming output (make_request checks)
    else:
        request = endpoint.create_request(request_dict, operation_model)
    answer = stubbed(request)
    if answer is None:
        return None
    from moto.core.botocore_stubber import MockRawResponse

    status, headers, body = answer  # as moto's BotocoreStubber.__call__ hands them to botocore
    http = AWSResponse(request.url, status, headers, MockRawResponse(body))
    response_dict = convert_to_response_dict(http, operation_model)
    parser = endpoint._response_parser_factory.create_parser(client.meta.service_model.metadata["protocol"])
    parsed = parser.parse(response_dict, operation_model.output_shape)
    if http.status_code >= 300:
        endpoint._add_modeled_error_fields(response_dict, parsed, operation_model, parser)
    return http, parsed


@contextlib.contextmanager
def direct_requests() -> Iterator[None]:
    """Inside the block, every DynamoDB client's requests are answered by moto's handler in-process, and those of
    SQS, EMR, EMR Serverless, EMR on EKS and SNS by moto's stubber's handlers without botocore's send loop."""
    from moto import settings
    from moto.core.models import botocore_stubber

    original: Callable[..., Any] = getattr(BaseClient, _HOOK)
    handler_class = _handler_class()
    stubbed = _Stubbed()

    def make_request(self: BaseClient, operation_model: Any, request_dict: dict[str, Any], context: Any) -> Any:
        moto_authorizes = float("inf") > settings.INITIAL_NO_AUTH_ACTION_COUNT  # its IAM checks read the signature
        service = self.meta.service_model.service_name
        if moto_authorizes or not botocore_stubber.enabled:
            return original(self, operation_model, request_dict, context)
        if service == "dynamodb":
            return _answer(self, operation_model, request_dict, handler_class)
        if service in DIRECT_SERVICES and not operation_model.has_streaming_output:
            answered = _answer_stubbed(self, operation_model, request_dict, stubbed)
            if answered is not None:
                return answered
        return original(self, operation_model, request_dict, context)

    setattr(BaseClient, _HOOK, make_request)
    try:
        yield
    finally:
        setattr(BaseClient, _HOOK, original)
