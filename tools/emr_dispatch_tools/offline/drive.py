"""Drives a deployed stack's arrivals queue as Lambda's SQS event source would, on a virtual clock: batches of up
to 10 visible messages to the launcher, failed records left to come back after the queue's visibility timeout
(and to the DLQ after its maxReceiveCount, as moto's redrive does), delayed control messages delivered when
due, and the sweeper on its schedule. Time jumps to the next thing due, so hours of quota time take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from emr_dispatch_tools.lambda_events import ACCOUNT, sqs_event
from emr_dispatch_tools.offline.clock import VirtualClock

SWEEP_EVERY_SECONDS = 300  # template.yaml: the sweeper's schedule, rate(5 minutes)
BATCH_SIZE = 10  # template.yaml: the arrivals event source mapping


@dataclass
class DriveReport:
    invocations: int = 0
    deliveries: int = 0
    item_failures: int = 0
    sweeps: int = 0


class QueueDriver:
    def __init__(
        self,
        queue_url: str,
        clock: VirtualClock,
        launch: Callable[[dict[str, Any]], Any],
        sweep: Callable[[], Any] | None = None,
        region: str = "us-east-1",
        tick: Callable[[], Any] | None = None,
        next_due: Callable[[], float | None] | None = None,
    ) -> None:
        self._tick = tick  # called before each delivery (e.g. other callers' load on the clock, engines' ends)
        self._other_due = next_due  # when the next thing ``tick`` does falls due (clock seconds), if anything
        self._queue_url = queue_url
        self._clock = clock
        self._launch = launch
        self._sweep = sweep
        self._sqs = boto3.client("sqs", region_name=region)
        self._region = region
        self._next_sweep = clock.monotonic() + SWEEP_EVERY_SECONDS
        self.report = DriveReport()

    def run(self, until_quiet_for: float = 3 * SWEEP_EVERY_SECONDS, limit_seconds: float = 7 * 24 * 3600) -> None:
        """Deliver until nothing has been due for ``until_quiet_for`` seconds (a few sweeps found nothing to do)."""
        quiet_since = self._clock.monotonic()
        deadline = self._clock.monotonic() + limit_seconds
        while self._clock.monotonic() < deadline:
            if self._tick is not None:
                self._tick()
            if self._deliver_batch():
                quiet_since = self._clock.monotonic()
                continue
            due = self._next_due()
            if due is not None and due < self._next_sweep:
                self._clock.advance_to(due)
                continue
            if self._clock.monotonic() - quiet_since >= until_quiet_for and due is None:
                return
            self._clock.advance_to(self._next_sweep)
            self._next_sweep += SWEEP_EVERY_SECONDS
            if self._sweep is not None:
                self._sweep()
                self.report.sweeps += 1

    def _deliver_batch(self) -> bool:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=BATCH_SIZE, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return False
        queue_arn = f"arn:aws:sqs:{self._region}:{ACCOUNT}:{self._queue_url.rsplit('/', 1)[-1]}"
        event = sqs_event(messages, queue_arn, self._region)
        response = self._launch(event)
        self.report.invocations += 1
        self.report.deliveries += len(messages)
        failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        self.report.item_failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:][:10])],
            )
        return True

    def _next_due(self) -> float | None:
        """Virtual seconds at which the next delayed or in-flight message becomes visible (moto's backend)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        name = self._queue_url.rsplit("/", 1)[-1]
        queue = sqs_backends[DEFAULT_ACCOUNT_ID][self._region].queues[name]
        moments = [max(m.delayed_until, m.visible_at) for m in queue._messages]
        other = self._other_due() if self._other_due is not None else None
        if not moments:
            return None if other is None else max(other, self._clock.monotonic())
        start_ms = (self._clock.now().timestamp() - self._clock.monotonic()) * 1000
        due = (min(moments) - start_ms) / 1000 + 0.001
        return max(due if other is None else min(due, other), self._clock.monotonic())
