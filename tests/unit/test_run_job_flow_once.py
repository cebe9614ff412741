"""RunJobFlow has no idempotency token: it is sent exactly once (no SDK retry), and an ambiguous outcome (a
5xx, a throttled reply, a read timeout) looks for the cluster by its name before anyone starts it again — so
one arrival never starts two clusters. The wire is replaced by botocore's own before-send hook: the real
client, its retry handler and its parsers run; nothing leaves the process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError, ReadTimeoutError

from builders import job, route, settings
from emr_dispatch import aws
from emr_dispatch.engines import emr_ec2
from emr_dispatch.engines.emr_ec2 import EmrEc2Engine, cluster_name
from emr_dispatch.errors import EngineError, EngineStartUnknownError, EngineThrottledError

JOB = job()
NAME = cluster_name(JOB)


class _Body:
    def __init__(self, payload: dict[str, Any]) -> None:
        self._data = json.dumps(payload).encode()

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(status: int, payload: dict[str, Any]) -> AWSResponse:
    return AWSResponse("https://elasticmapreduce.us-east-1.amazonaws.com/", status, HTTPHeaders(), _Body(payload))


class Wire:
    """What EMR answers each operation, and how many times each was sent."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.answers: dict[str, Callable[[], AWSResponse]] = {}

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse:
        operation = str(kwargs["event_name"]).rsplit(".", 1)[-1]
        self.sent[operation] = self.sent.get(operation, 0) + 1
        return self.answers[operation]()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    fake = Wire()
    for client in (emr_ec2.client(), emr_ec2.run_job_flow_client()):
        client.meta.events.register("before-send.emr", fake)  # type: ignore[arg-type]  # returns the response
    try:
        yield fake
    finally:
        aws.reset_clients()


def _server_fault() -> AWSResponse:
    return _response(500, {"__type": "InternalServerError", "message": "We encountered an internal error."})


def _throttled() -> AWSResponse:
    return _response(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})


def _read_timeout() -> AWSResponse:
    raise ReadTimeoutError(endpoint_url="https://elasticmapreduce.us-east-1.amazonaws.com/")


def _clusters(*names: str) -> Callable[[], AWSResponse]:
    found = [
        {"Id": f"j-{index}FOUND", "Name": name, "Status": {"State": "STARTING"}} for index, name in enumerate(names)
    ]
    return lambda: _response(200, {"Clusters": found})


def _engine() -> EmrEc2Engine:
    return EmrEc2Engine(settings())  # its own clients, as the launcher builds it


def test_the_run_job_flow_client_sends_each_call_once_where_the_general_client_retries(wire: Wire) -> None:
    # Given EMR answering every RunJobFlow with a 500
    wire.answers["RunJobFlow"] = _server_fault
    request = _engine().build_request(JOB, route())
    # When the general EMR client and RunJobFlow's own client each send one request
    sends = []
    for client in (emr_ec2.client(), emr_ec2.run_job_flow_client()):
        wire.sent.clear()
        with pytest.raises(ClientError, match="InternalServerError"):
            client.run_job_flow(**request)
        sends.append(wire.sent["RunJobFlow"])
    # Then the general client resent it (its retries) and RunJobFlow's own client sent it exactly once
    assert sends[0] > 1
    assert sends[1] == 1


def test_a_5xx_after_which_the_cluster_exists_adopts_that_cluster(wire: Wire) -> None:
    # Given EMR created the cluster but answered 500
    wire.answers["RunJobFlow"] = _server_fault
    wire.answers["ListClusters"] = _clusters("someone-elses-cluster", NAME)
    # When the engine starts the job
    started = _engine().start(JOB, route())
    # Then RunJobFlow was sent once and the job is on the cluster found by its name
    assert wire.sent["RunJobFlow"] == 1
    assert started.engine_id == "j-1FOUND"
    assert started.details["recovered"] is True


def test_a_5xx_after_which_no_cluster_exists_is_a_refused_start_after_one_call(wire: Wire) -> None:
    # Given EMR answered 500 and created nothing
    wire.answers["RunJobFlow"] = _server_fault
    wire.answers["ListClusters"] = _clusters("someone-elses-cluster")
    # When the engine starts the job
    with pytest.raises(EngineError) as refused:
        _engine().start(JOB, route())
    # Then it was sent once, looked up once, and reported as the service's fault (the retry policy decides)
    assert wire.sent == {"RunJobFlow": 1, "ListClusters": 1}
    assert refused.value.code == "InternalServerError"


def test_a_throttled_reply_after_which_the_cluster_exists_adopts_that_cluster(wire: Wire) -> None:
    # Given EMR created the cluster but answered ThrottlingException (seen in the wild)
    wire.answers["RunJobFlow"] = _throttled
    wire.answers["ListClusters"] = _clusters(NAME)
    # When the engine starts the job
    started = _engine().start(JOB, route())
    # Then the found cluster is the job's; the arrival is not released to start a second one
    assert wire.sent["RunJobFlow"] == 1
    assert started.engine_id == "j-0FOUND"


def test_a_throttled_reply_with_no_cluster_is_throttling(wire: Wire) -> None:
    wire.answers["RunJobFlow"] = _throttled
    wire.answers["ListClusters"] = _clusters()
    with pytest.raises(EngineThrottledError):
        _engine().start(JOB, route())
    assert wire.sent["RunJobFlow"] == 1


def test_a_read_timeout_with_no_cluster_found_keeps_the_claim_for_a_lookup_before_any_new_call(wire: Wire) -> None:
    # Given RunJobFlow was sent and no answer came back, and no cluster of the job's name is listed yet
    wire.answers["RunJobFlow"] = _read_timeout
    wire.answers["ListClusters"] = _clusters()
    # When the engine starts the job
    with pytest.raises(EngineStartUnknownError):
        _engine().start(JOB, route())
    # Then it neither resent RunJobFlow nor called the start refused: the claim stays for the lookup by name
    assert wire.sent == {"RunJobFlow": 1, "ListClusters": 1}


def test_a_read_timeout_after_which_the_cluster_exists_adopts_it(wire: Wire) -> None:
    wire.answers["RunJobFlow"] = _read_timeout
    wire.answers["ListClusters"] = _clusters(NAME)
    assert _engine().start(JOB, route()).engine_id == "j-0FOUND"
    assert wire.sent["RunJobFlow"] == 1
