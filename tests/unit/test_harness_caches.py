"""The test harness keeps what is constant (a template's parse and translation, a code directory's zip, botocore's
loaded JSON) and nothing that is not: an edited template, changed code, other credentials are seen at once."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import boto3
import pytest

from emr_dispatch_tools import moto_stack
from emr_dispatch_tools.offline import iam_requests

_SMALL_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Label:
    Type: String
    Default: first
Resources:
  Inbox:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${AWS::StackName}-${Label}'
"""


def test_a_parsed_template_is_a_copy_of_its_own_and_an_edited_template_is_parsed_again(tmp_path: Path) -> None:
    # Given a template read once and its parse changed by the caller
    path = tmp_path / "template.yaml"
    path.write_text(_SMALL_TEMPLATE, encoding="utf-8")
    first = moto_stack.load_sam_template(path)
    first["Resources"]["Inbox"]["Properties"]["QueueName"] = "changed by the caller"

    # When it is read again, then after an edit of the file
    again = moto_stack.load_sam_template(path)
    path.write_text(_SMALL_TEMPLATE.replace("Default: first", "Default: second"), encoding="utf-8")
    edited = moto_stack.load_sam_template(path)

    # Then the caller's change stayed its own, and the edit is seen
    assert again["Resources"]["Inbox"]["Properties"]["QueueName"] == {"Fn::Sub": "${AWS::StackName}-${Label}"}
    assert again["Parameters"]["Label"]["Default"] == "first"
    assert edited["Parameters"]["Label"]["Default"] == "second"


def test_a_translation_is_a_copy_of_its_own_and_follows_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the shipped template translated, and a caller changing what it got
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sam_template = moto_stack.load_sam_template()
    for properties in (resource.get("Properties", {}) for resource in sam_template["Resources"].values()):
        for name in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(name), str):
                properties[name] = "s3://artifacts/code.zip"
    first = moto_stack.translate(sam_template, {})
    first["Resources"].clear()

    # When it is translated again, then with one function's memory changed
    again = moto_stack.translate(sam_template, {})
    sam_template["Resources"]["LauncherFunction"]["Properties"]["MemorySize"] = 1769
    changed = moto_stack.translate(sam_template, {})

    # Then the caller's change stayed its own, and the changed template has its own translation
    assert "LauncherFunction" in again["Resources"]
    assert again["Resources"]["LauncherFunction"]["Properties"].get("MemorySize") != 1769
    assert changed["Resources"]["LauncherFunction"]["Properties"]["MemorySize"] == 1769


def test_a_code_zip_follows_the_files(tmp_path: Path) -> None:
    # Given a code directory zipped once
    (tmp_path / "handler.py").write_text("VALUE = 1\n", encoding="utf-8")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    before = moto_stack._zip_dir(tmp_path)

    # When a file changes, then a file is added
    (tmp_path / "handler.py").write_text("VALUE = 2\n", encoding="utf-8")
    changed = moto_stack._zip_dir(tmp_path)
    (tmp_path / "extra.py").write_text("", encoding="utf-8")
    added = moto_stack._zip_dir(tmp_path)

    # Then each zip holds the files as they were when it was asked for (never the compiled cache)
    def files(archive: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            return {name: opened.read(name) for name in opened.namelist()}

    assert files(before) == {"handler.py": b"VALUE = 1\n"}
    assert files(changed) == {"handler.py": b"VALUE = 2\n"}
    assert files(added) == {"extra.py": b"", "handler.py": b"VALUE = 2\n"}
    assert moto_stack._zip_dir(tmp_path) == added


def test_the_checkers_clients_use_the_credentials_of_the_moment_and_a_session_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given one set of credentials, then another
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FIRSTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = iam_requests.harness_client("sqs", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "SECONDKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret")
    second = iam_requests.harness_client("sqs", "us-east-1")

    # Then each client signs with the credentials it was made under, and neither shares the event hooks of
    # boto3's default session (where tests register recorders and fault injectors) nor of each other
    assert first._request_signer._credentials.access_key == "FIRSTKEY"
    assert second._request_signer._credentials.access_key == "SECONDKEY"
    default_hooks = boto3.client("sqs", region_name="us-east-1").meta.events
    assert len({id(first.meta.events), id(second.meta.events), id(default_hooks)}) == 3
