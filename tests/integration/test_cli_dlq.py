"""emr-dispatch dlq list / redrive against template.yaml deployed into moto.

moto runs Lambda functions in Docker, which these machines do not have; its Docker-free Lambda answers every
invoke with a canned success, which is enough to see the CLI invoke the right function and delete what it
delivered. That the tracker really handles a redriven event is shown with the handler run in-process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from emr_dispatch import wiring
from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.cli import EXIT_AWS, EXIT_USAGE, app
from emr_dispatch_tools.cli.dlq import redrive
from moto_helpers import launch_classic, receive_as_lambda_event, set_step_state
from sample_events import for_cluster, load_event

STACK = "emr-dispatch-test"
runner = CliRunner()


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[moto_stack.DeployedStack]:
    """template.yaml in moto, with moto's Docker-free Lambda (invoke answers without running the code)."""
    for name in ("EMR_DISPATCH_TABLE", "EMR_DISPATCH_STACK"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        wiring.reset()
        try:
            yield moto_stack.deploy(STACK, region="us-east-1")
        finally:
            wiring.reset()


def _put(stack: moto_stack.DeployedStack, output: str, *bodies: Any) -> str:
    url = stack.outputs[output]
    sqs = boto3.client("sqs", region_name=stack.region)
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))
    return url


def _depth(url: str) -> tuple[int, int]:
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _cli(*args: str) -> Any:
    return runner.invoke(app, [*args, "--stack", STACK, "--output", "json"])


def test_list_then_redrive_arrivals_back_to_the_arrivals_queue(stack: moto_stack.DeployedStack) -> None:
    # Given an arrival dead-lettered (say the launcher had a bug, now fixed)
    dlq = _put(stack, "ArrivalsDeadLetterQueueUrl", load_event("s3-put-classic.json"))
    # When the dead-letter queues are listed, then each is counted by its name
    result = _cli("dlq", "list")
    assert result.exit_code == 0, result.output
    counts = {row["queue"]: row["messages"] for row in json.loads(result.stdout)}
    assert counts == {"arrivals": 1, "events": 0, "function-failures": 0}
    # When it is redriven
    result = _cli("dlq", "redrive", "arrivals")
    # Then it is back on the arrivals queue, gone from the DLQ, and the launcher starts its job
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["delivered"] == {"arrivals queue": 1}
    assert _depth(dlq) == (0, 0)
    response = stack.invoke("LauncherFunction", receive_as_lambda_event(stack.outputs["ArrivalsQueueUrl"]))
    assert response == {"batchItemFailures": []}


def test_redrive_events_sends_each_event_where_it_belongs_and_keeps_the_rest(
    stack: moto_stack.DeployedStack,
) -> None:
    # Given an S3 arrival, an EMR event and something no function of emr-dispatch takes, all dead-lettered
    dlq = _put(
        stack,
        "EventsDeadLetterQueueUrl",
        load_event("s3-object-created-eventbridge.json"),
        load_event("emr-step-failed.json"),
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
    )
    # When the events DLQ is redriven
    result = _cli("dlq", "redrive", "events")
    # Then the arrival went to the arrivals queue, the EMR event to the tracker, and the stranger stays
    assert result.exit_code == EXIT_AWS, result.output
    report = json.loads(result.stdout)
    assert report["delivered"] == {"arrivals queue": 1, "tracker": 1}
    (failed,) = report["failed"]
    assert "aws.ec2" in failed["error"]
    assert _depth(dlq) == (0, 1)  # kept (invisible until this run's visibility timeout ends)


def test_redrive_function_failures_invokes_the_function_again(stack: moto_stack.DeployedStack) -> None:
    # Given a tracker invocation that failed after Lambda's retries (its on-failure record)
    tracker = boto3.client("lambda", region_name=stack.region).get_function(
        FunctionName=stack.outputs["TrackerFunctionName"]
    )["Configuration"]["FunctionArn"]
    record = {
        "version": "1.0",
        "requestContext": {"functionArn": f"{tracker}:$LATEST", "condition": "RetriesExhausted"},
        "requestPayload": load_event("emr-step-failed.json"),
        "responsePayload": {"errorMessage": "boom"},
    }
    dlq = _put(stack, "FunctionFailuresQueueUrl", record)
    # When it is redriven, then the tracker is invoked again and the record deleted
    result = _cli("dlq", "redrive", "function-failures")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["delivered"] == {stack.outputs["TrackerFunctionName"]: 1}
    assert _depth(dlq) == (0, 0)


def test_redrive_of_an_unknown_queue_is_a_usage_error(aws_env: None) -> None:
    result = _cli("dlq", "redrive", "everything")
    assert result.exit_code == EXIT_USAGE
    assert "arrivals, events, function-failures" in json.loads(result.stdout)["error"]


def test_a_redriven_engine_event_moves_the_job_in_the_tracker(stack: moto_stack.DeployedStack) -> None:
    # Given a job whose step failed, and the event saying so dead-lettered by EventBridge
    launched = launch_classic(stack)
    set_step_state(launched.cluster_id, "FAILED")
    event = for_cluster("emr-step-failed.json", launched.cluster_id, launched.step_id, launched.cluster_name)
    dlq = _put(stack, "EventsDeadLetterQueueUrl", event)
    handled: list[dict[str, Any]] = []

    def to_tracker(body: str) -> str:  # what `function_invoker` does in an account: the tracker runs the event
        handled.append(stack.invoke("TrackerFunction", json.loads(body)))
        return "tracker"

    # When the queue is redriven into the tracker
    report = redrive(boto3.client("sqs", region_name=stack.region), dlq, "events", to_tracker, limit=10)
    # Then the job moved to FAILED, and the DLQ is empty
    assert report.delivered == {"tracker": 1}
    assert [(item["status"], item["state"]) for item in handled] == [("moved", "FAILED")]
    assert _depth(dlq) == (0, 0)
