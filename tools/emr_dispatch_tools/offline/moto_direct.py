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

from botocore.awsrequest import AWSResponse
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


@contextlib.contextmanager
def direct_requests() -> Iterator[None]:
    """Inside the block, every DynamoDB client's requests are answered by moto's handler in-process."""
    from moto import settings

    original: Callable[..., Any] = getattr(BaseClient, _HOOK)
    handler_class = _handler_class()

    def make_request(self: BaseClient, operation_model: Any, request_dict: dict[str, Any], context: Any) -> Any:
        moto_authorizes = float("inf") > settings.INITIAL_NO_AUTH_ACTION_COUNT  # its IAM checks read the signature
        if self.meta.service_model.service_name != "dynamodb" or moto_authorizes:
            return original(self, operation_model, request_dict, context)
        return _answer(self, operation_model, request_dict, handler_class)

    setattr(BaseClient, _HOOK, make_request)
    try:
        yield
    finally:
        setattr(BaseClient, _HOOK, original)
