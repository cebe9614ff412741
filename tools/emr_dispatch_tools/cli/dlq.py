"""emr-dispatch dlq: the stack's three dead-letter queues, and sending what they hold back where it belongs.

- arrivals: arrival messages the launcher failed 5 times → back to the arrivals queue;
- events: events EventBridge could not deliver → S3 arrivals to the arrivals queue, engine events to the tracker;
- function-failures: tracker and sweeper invocations that failed after Lambda's retries → that function again,
  with the event it failed on (Lambda's on-failure record carries it as requestPayload).

A message is deleted only after it was delivered; one that cannot be is left in the queue and reported.
Messages move one by one (receive, deliver, delete) rather than with SQS's StartMessageMoveTask, because two
of the three queues feed a function, not a queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import typer
from rich.table import Table

from emr_dispatch.control import control_kind
from emr_dispatch.engines import EVENT_SOURCES
from emr_dispatch_tools.cli.common import (
    EXIT_AWS,
    EXIT_NOTHING_DONE,
    EXIT_USAGE,
    CliError,
    Deployment,
    Output,
    OutputOption,
    ProfileOption,
    RegionOption,
    StackOption,
    command,
    console,
    errors,
    nothing_done,
    print_json,
    progress,
)

dlq_app = typer.Typer(help="Dead-letter queues: what they hold, and redrive.", no_args_is_help=True)

QUEUES = {
    "arrivals": "ArrivalsDeadLetterQueueUrl",
    "events": "EventsDeadLetterQueueUrl",
    "function-failures": "FunctionFailuresQueueUrl",
}
"""The dead-letter queues by the name the CLI uses, and the stack output that names each."""


@dataclass
class Redrive:
    queue: str
    delivered: dict[str, int] = field(default_factory=dict)  # destination → messages
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def moved(self) -> int:
        return sum(self.delivered.values())


Deliver = Callable[[str], str]
"""Delivers one message body; returns where it went. Raises DeliveryError to keep the message."""


class DeliveryError(Exception):
    """A message that could not be delivered: it stays in its dead-letter queue."""


@dlq_app.command("list")
@command
def dlq_list(
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """How many messages each dead-letter queue holds."""
    deployment = Deployment.connect(stack, region, profile)
    sqs = deployment.client("sqs")
    rows: list[dict[str, Any]] = []
    for name, output_key in QUEUES.items():
        url = deployment.output(output_key)
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        rows.append(
            {
                "queue": name,
                "url": url,
                "messages": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            }
        )
    if output is Output.json:
        print_json(rows)
        return
    table = Table(title="dead-letter queues", title_justify="left")
    for column in ("queue", "messages", "in flight", "url"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = "bold red" if row["messages"] else ""
        table.add_row(
            row["queue"], f"[{style}]{row['messages']}[/]" if style else "0", str(row["in_flight"]), row["url"]
        )
    console.print(table)


@dlq_app.command("show")
@command
def dlq_show(
    queue: Annotated[str, typer.Argument(help="arrivals | events | function-failures")],
    limit: Annotated[int, typer.Option("--max", min=1, max=100, help="Read at most this many messages.")] = 10,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Read a dead-letter queue's messages before a redrive (each stays in the queue, visible at once)."""
    if queue not in QUEUES:
        raise CliError(f"no dead-letter queue {queue!r}: say one of {', '.join(QUEUES)}", EXIT_USAGE)
    deployment = Deployment.connect(stack, region, profile)
    sqs = deployment.client("sqs")
    url = deployment.output(QUEUES[queue])
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        # VisibilityTimeout 0: looking takes nothing out of the queue (a redrive or another look sees it).
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        ).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen[message["MessageId"]] = {
                "message_id": message["MessageId"],
                "sent": _sent(message.get("Attributes", {}).get("SentTimestamp")),
                "receives": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
                **describe_message(message["Body"]),
            }
    rows = list(seen.values())
    if output is Output.json:
        print_json({"queue": queue, "url": url, "messages": rows})
        return
    if not rows:
        errors.print(f"{queue}: no message visible (dlq list shows any in flight)", highlight=False)
        return
    table = Table(title=f"dead-letter queue {queue} (first {len(rows)})", title_justify="left")
    for column in ("message id", "sent", "what", "detail"):
        table.add_column(column, no_wrap=column == "message id", overflow="fold")
    for row in rows:
        table.add_row(row["message_id"], row["sent"], row["what"], row["detail"])
    console.print(table)
    console.print(f"then: emr-dispatch dlq redrive {queue}", highlight=False, markup=False)


def describe_message(body: str) -> dict[str, str]:
    """What a dead-lettered message is, in a line: an arrival (object and version), a control message, an
    engine event, or a failed invocation (function, condition, error)."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return {"what": "not JSON", "detail": body[:200]}
    if not isinstance(message, dict):
        return {"what": "not a JSON object", "detail": body[:200]}
    if "requestContext" in message:
        context = message["requestContext"]
        error = message.get("responsePayload") or {}
        function = str(context.get("functionArn", "")).split(":function:")[-1]
        detail = f"{context.get('condition', '')}: {error.get('errorType', '')} {error.get('errorMessage', '')}"
        return {"what": f"failed invocation of {function}", "detail": detail.strip()}
    kind = control_kind(message)
    if kind is not None:
        fields = ", ".join(f"{k}={v}" for k, v in sorted(message.items()) if isinstance(v, str) and v != kind)
        return {"what": f"control message {kind}", "detail": fields}
    if message.get("source") in EVENT_SOURCES:
        event_detail: dict[str, Any] = message.get("detail") or {}
        engine_id = event_detail.get("clusterId") or event_detail.get("jobRunId") or event_detail.get("id") or ""
        return {
            "what": f"{message['source']} {message.get('detail-type', '')}",
            "detail": f"{engine_id} {event_detail.get('state', '')}",
        }
    try:
        from emr_dispatch.arrivals import Arrival, parse_s3_event

        items = parse_s3_event(message)
    except Exception as exc:  # noqa: BLE001 - shown, not raised: a bad message is what a DLQ is for
        return {"what": "unreadable event", "detail": str(exc)[:200]}
    arrivals = [item for item in items if isinstance(item, Arrival)]
    detail = "; ".join(f"{item.uri} (version {item.version})" for item in arrivals) or "s3:TestEvent"
    return {"what": f"S3 arrival ({len(arrivals)} object(s))", "detail": detail}


def _sent(timestamp: str | None) -> str:
    from datetime import UTC, datetime

    if not timestamp:
        return "-"
    return datetime.fromtimestamp(int(timestamp) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dlq_app.command("redrive")
@command
def dlq_redrive(
    queue: Annotated[str, typer.Argument(help="arrivals | events | function-failures")],
    limit: Annotated[int, typer.Option("--max", min=1, help="Move at most this many messages.")] = 10_000,
    output: OutputOption = Output.table,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Send a dead-letter queue's messages back where they belong (once their cause is fixed)."""
    if queue not in QUEUES:
        raise CliError(f"no dead-letter queue {queue!r}: say one of {', '.join(QUEUES)}", EXIT_USAGE)
    deployment = Deployment.connect(stack, region, profile)
    deliver = _deliverer(queue, deployment)
    report = redrive(deployment.client("sqs"), deployment.output(QUEUES[queue]), queue, deliver, limit)
    if output is Output.json:
        print_json({**asdict(report), "moved": report.moved})
    else:
        where = ", ".join(f"{count} to {target}" for target, count in report.delivered.items()) or "nothing"
        console.print(
            f"{queue}: moved {report.moved} ({where}); {len(report.failed)} left in the queue", highlight=False
        )
        for failure in report.failed:
            console.print(f"  - {failure['message_id']}: {failure['error']}", highlight=False, markup=False)
    if report.failed:
        raise typer.Exit(EXIT_AWS)
    if not report.moved:
        in_flight = int(
            deployment.client("sqs")
            .get_queue_attributes(
                QueueUrl=deployment.output(QUEUES[queue]), AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            .get("ApproximateNumberOfMessagesNotVisible", 0)
        )
        hint = f" ({in_flight} in flight: an earlier redrive or look holds them; try again later)" if in_flight else ""
        raise (
            typer.Exit(EXIT_NOTHING_DONE)
            if output is Output.json
            else nothing_done(f"{queue} held no visible message{hint}", output)
        )


def redrive(sqs: Any, dlq_url: str, queue: str, deliver: Deliver, limit: int) -> Redrive:
    """Receive, deliver, delete, until the queue is empty or ``limit`` messages were looked at."""
    report = Redrive(queue)
    waiting = int(
        sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"].get(
            "ApproximateNumberOfMessages", 0
        )
    )
    seen = 0
    with progress(f"redriving {queue}", min(waiting, limit)) as advance:
        while seen < limit:
            # Undelivered messages stay invisible for the rest of the run, so they are not tried twice.
            messages = sqs.receive_message(
                QueueUrl=dlq_url, MaxNumberOfMessages=min(10, limit - seen), VisibilityTimeout=300, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                seen += 1
                try:
                    target = deliver(message["Body"])
                except DeliveryError as exc:
                    report.failed.append({"message_id": message["MessageId"], "error": str(exc)})
                else:
                    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                    report.delivered[target] = report.delivered.get(target, 0) + 1
                advance(1)
    return report


def _deliverer(queue: str, deployment: Deployment) -> Deliver:
    sqs = deployment.client("sqs")
    arrivals_url = deployment.output("ArrivalsQueueUrl")

    def to_arrivals(body: str) -> str:
        sqs.send_message(QueueUrl=arrivals_url, MessageBody=body)
        return "arrivals queue"

    if queue == "arrivals":
        return to_arrivals
    invoke = function_invoker(deployment)
    if queue == "events":
        tracker = deployment.output("TrackerFunctionName")

        def by_source(body: str) -> str:
            event = _json(body)
            source = event.get("source")
            if source == "aws.s3":
                return to_arrivals(body)
            if source in EVENT_SOURCES:
                invoke(tracker, event)
                return "tracker"
            raise DeliveryError(f"an event of source {source!r} belongs to no emr-dispatch function")

        return by_source

    def to_failed_function(body: str) -> str:
        record = _json(body)
        function = record.get("requestContext", {}).get("functionArn")
        if not function or "requestPayload" not in record:
            raise DeliveryError("not a Lambda on-failure record (no requestContext.functionArn or requestPayload)")
        invoke(function, record["requestPayload"])
        return str(function).split(":function:")[-1].split(":")[0]

    return to_failed_function


def function_invoker(deployment: Deployment) -> Callable[[str, Any], None]:
    """Invokes a deployed function synchronously with an event; a function error keeps the message."""
    client = deployment.client("lambda")

    def invoke(function: str, event: Any) -> None:
        response = client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event))
        if response.get("FunctionError"):
            detail = response["Payload"].read().decode("utf-8", "replace")[:300]
            raise DeliveryError(f"{function} failed again: {detail}")

    return invoke


def _json(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise DeliveryError(f"message body is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise DeliveryError("message body is not a JSON object")
    return parsed
