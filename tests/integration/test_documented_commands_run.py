"""Every `emr-dispatch` command README.md and docs/RUNBOOK.md give runs as written against `make sandbox`.

The sandbox runs as `make sandbox` runs it (its own process, a moto server that stays up, the triggers it plays);
its `export` lines are the whole environment the commands get. Each command is run as the documents write it, in
their order, then again with `-o json` (its stdout must be one JSON document, whatever happened); each result is
checked against what the documents say it does. At the end no object version has two jobs, and Ctrl-C stops the
sandbox cleanly.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from documented import ROOT, all_documented
from typer.testing import CliRunner

from emr_dispatch import wiring
from emr_dispatch.inputs import MarkerInput
from emr_dispatch.jobs import Job
from emr_dispatch.ledger import Ledger
from emr_dispatch.pauses import RoutePauses
from emr_dispatch_tools.cli import app

runner = CliRunner()
STARTUP_SECONDS = 300


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """`make sandbox` in its own process; the variables its export lines set."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EMR_DISPATCH_"))}
    environment.update(AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1")
    log = (tmp_path / "sandbox.err").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "emr_dispatch_tools.sandbox", "--port", "0"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        exports = _read_exports(process)
        for name in [k for k in os.environ if k.startswith(("AWS_", "EMR_DISPATCH_"))]:
            monkeypatch.delenv(name)
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(ROOT)  # the documents' paths (config/, events/) are the repository's
        yield process, exports
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        wiring.reset()


def _read_exports(process: subprocess.Popen[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("export "):
                for word in shlex.split(line.removeprefix("export ")):
                    name, _, value = word.partition("=")
                    found[name] = value
            if "EMR_DISPATCH_STACK" in found and "AWS_ENDPOINT_URL" in found:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(STARTUP_SECONDS)
    assert "EMR_DISPATCH_STACK" in found, f"the sandbox printed no export lines: {''.join(lines)}"
    return found


def test_every_documented_command_runs_against_the_sandbox(
    sandbox: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    process, exports = sandbox
    checked: list[str] = []
    # Given the sandbox's world, as its export lines describe it
    world = World(exports)
    # When each documented command runs as written (then with -o json)
    for source, written in all_documented():
        words = [word for word in shlex.split(os.path.expandvars(written)) if word not in ("[", "]")]
        words = [word.strip("[]") for word in words]
        if len(words) < 2 and words[0] in ("invoke", "jobs", "routes", "dlq"):
            continue  # a command group named in prose, not a command
        expect = world.expectation(words)
        json_words = [*words, "--output", "json"] if "--output" not in words else words
        if words[0] == "invoke" and "--aws" not in words:
            result = as_json = runner.invoke(app, json_words)  # a fresh moto each time: once is enough
        else:
            result = runner.invoke(app, words)
            world.settle()
            as_json = runner.invoke(app, json_words)
        world.settle()
        # Then it does what the documents say, and its JSON parses
        document = json.loads(as_json.stdout)
        assert result.exit_code in expect.codes, f"{source}: emr-dispatch {written}: {result.output}"
        expect.check(as_json, document)
        checked.append(f"{source}: emr-dispatch {written} -> exit {result.exit_code} ({expect.says})")
    sys.stdout.write("\n".join(checked) + "\n")
    # ... and nothing was started twice: one job per object version, whatever was replayed, redriven, retried
    world.settle()
    seen: dict[tuple[str, str], str] = {}
    for job in world.ledger().list_jobs():
        for item in job.inputs:
            version = item.marker if isinstance(item, MarkerInput) else item
            key = (f"s3://{version.bucket}/{version.key}", str(getattr(version, "etag", None)))
            assert key not in seen, f"{key} has two jobs: {seen[key]} and {job.job_id}"
            seen[key] = job.job_id
    # ... and Ctrl-C stops the sandbox cleanly
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0


class Expect:
    def __init__(self, codes: set[int], says: str, check: Callable[[Any, Any], None] | None = None) -> None:
        self.codes, self.says, self._check = codes, says, check

    def check(self, result: Any, document: Any) -> None:
        if self._check is not None:
            self._check(result, document)


class World:
    """What the sandbox holds, read through its endpoint, to know what each command should answer."""

    def __init__(self, exports: dict[str, str]) -> None:
        self.exports = exports
        cloudformation = boto3.client("cloudformation", region_name=exports["AWS_REGION"])
        stack = cloudformation.describe_stacks(StackName=exports["EMR_DISPATCH_STACK"])["Stacks"][0]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def ledger(self) -> Ledger:
        return Ledger(self.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=self.exports["AWS_REGION"]))

    def pauses(self) -> RoutePauses:
        return RoutePauses(
            self.outputs["LedgerTableName"], boto3.client("dynamodb", region_name=self.exports["AWS_REGION"])
        )

    def job(self) -> Job:
        job = self.ledger().get(self.exports["JOB_ID"])
        assert job is not None
        return job

    def settle(self) -> None:
        """Wait for the sandbox's trigger to drain the arrivals queue (what a command sent is handled)."""
        sqs: Any = boto3.client("sqs", region_name=self.exports["AWS_REGION"])
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(QueueUrl=self.outputs["ArrivalsQueueUrl"], AttributeNames=names)
            if not any(int(attributes["Attributes"][name]) for name in names):
                return  # the trigger deletes a message only once the launcher handled it
            time.sleep(0.5)
        raise AssertionError("the sandbox did not drain its arrivals queue within 60 s")

    def expectation(self, words: list[str]) -> Expect:
        command = " ".join(words[:2])
        if words[0] == "invoke":
            return Expect({0}, "the function's answer on stdout", _invoked(words))
        if command == "routes check":
            return Expect({0}, "valid", lambda _, doc: _equal(doc.get("valid"), True))
        if command == "routes schema":
            return Expect({0}, "the JSON Schema", lambda _, doc: _equal("Route" in doc.get("$defs", {}), True))
        if command == "routes explain":
            return Expect({0}, "route orders-daily", lambda _, doc: _equal(doc["route"], "orders-daily"))
        if command in ("routes pause", "routes resume"):
            paused = self.pauses().get(words[2]) is not None
            changes = paused == (command == "routes resume")
            says = ("paused" if command == "routes pause" else "resumed") if changes else "nothing to do"
            wanted = command == "routes pause"
            return Expect({0} if changes else {8}, says, lambda _, doc: _equal(doc["paused"], wanted))
        if command == "jobs list":
            return Expect({0}, "a list", lambda _, doc: _equal(type(doc), list))
        if command in ("jobs show", "jobs find"):
            return Expect({0}, "the job", lambda _, doc: _equal(bool(doc), True))
        if command == "jobs retry":
            ended = self.job().state.is_terminal
            return Expect({0} if ended else {7}, "a new attempt" if ended else "refused: not ended")
        if command == "jobs cancel":
            running = not self.job().state.is_terminal
            return Expect({0} if running else {7}, "cancelled" if running else "refused: already ended")
        if words[0] == "replay":
            return Expect({0, 8}, "sent what has no job yet; 8 when nothing", _replayed)
        if command == "dlq list":
            return Expect({0}, "three queues", lambda _, doc: _equal(len(doc), 3))
        if command == "dlq show":
            return Expect({0}, "the messages", lambda _, doc: _equal("messages" in doc, True))
        if command == "dlq redrive":
            return Expect({0, 8}, "moved; 8 when nothing was visible", _redriven)
        if words[0] == "doctor":
            return Expect({0, 9}, "its checks; 9 when one found a problem", _doctored)
        raise AssertionError(f"no expectation for documented command {words}")


def _equal(found: Any, wanted: Any) -> None:
    assert found == wanted, (found, wanted)


def _invoked(words: list[str]) -> Callable[[Any, Any], None]:
    def check(_: Any, document: Any) -> None:
        answers = document if isinstance(document, list) else [document]
        if words[1] == "TrackerFunction":
            # The sample events' cluster is the sample arrival's job (README: moved FAILED, then ignored)
            assert all(answer["job_id"] == "orders-daily-17c3ac63b97f7b66" for answer in answers), answers
        else:
            assert all(result["route"] == "orders-daily" for answer in answers for result in answer["results"])

    return check


def _replayed(result: Any, document: Any) -> None:
    actions = {row["action"] for row in document}
    nothing = actions <= {"skipped"}
    assert (result.exit_code == 8) == nothing, (result.exit_code, document)


def _doctored(result: Any, document: Any) -> None:
    problems = [check["name"] for check in document["checks"] if check["status"] == "problem"]
    assert (result.exit_code == 9) == bool(problems) == (not document["healthy"]), (result.exit_code, problems)


def _redriven(result: Any, document: Any) -> None:
    assert (result.exit_code == 0) == bool(document.get("moved")), (result.exit_code, document)
