"""Every `emr-dispatch ...` command the docs and the alerts tell people to run exists in the CLI, with its options."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer
from documented import DOCS, ROOT, documented_commands
from typer.testing import CliRunner

from builders import job
from emr_dispatch.alerts import Alert
from emr_dispatch_tools.cli import app


def _all_documented() -> list[tuple[str, str]]:
    commands = [(name, command) for name in DOCS for command in documented_commands((ROOT / name).read_text("utf-8"))]
    alert = Alert.for_job(job(), log_locations=[], console_link="")
    commands += [("alerts", command.removeprefix("emr-dispatch ")) for command in alert.next_commands]
    return commands


def test_the_docs_do_tell_people_commands() -> None:
    documented = {command.split()[0] for _, command in _all_documented()}
    assert {"jobs", "dlq", "replay", "routes", "invoke"} <= documented


@pytest.mark.parametrize(("source", "command"), _all_documented())
def test_each_documented_command_exists_with_its_options(source: str, command: str) -> None:
    # Given a command as the docs write it
    words = [word.strip("[]") for word in shlex.split(command)]
    # When its words are walked down the CLI's command tree
    current: Any = typer.main.get_command(app)  # typer's own click: groups are told by their commands
    path: list[str] = []
    for word in words:
        if not hasattr(current, "commands"):
            break
        assert word in current.commands, f"{source}: emr-dispatch {' '.join([*path, word])} is not a command"
        current = current.commands[word]
        path.append(word)
    # Then it ends on a command (not a group), every option it uses is one of that command's
    assert not hasattr(current, "commands"), f"{source}: emr-dispatch {' '.join(path)} needs a subcommand"
    options = {opt for param in current.params for opt in param.opts} | {"--help"}
    for word in words:
        if word.startswith("-"):
            assert word.split("=")[0] in options, f"{source}: {command!r}: no option {word}"
    # ... and its help runs
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
