"""Placeholders: one regex pass, so a value is never scanned again; {{ and }} are literal braces."""

from __future__ import annotations

import pytest

from emr_dispatch.placeholders import ALL_PLACEHOLDERS, placeholders_in, render, unknown_braces


def test_render_replaces_every_placeholder() -> None:
    # Given a template with several placeholders
    template = "--input={input_uri} --job={job_id}"

    # When it is rendered
    rendered = render(template, {"input_uri": "s3://b/k.csv", "job_id": "orders-1"})

    # Then each is replaced
    assert rendered == "--input=s3://b/k.csv --job=orders-1"


@pytest.mark.parametrize("smuggled", ["{bucket}", "{job_id}", "{{bucket}}", "{input_uri}{key}", "}}{{"])
def test_a_value_containing_a_placeholder_stays_literal(smuggled: str) -> None:
    # Given an object key that itself looks like a placeholder (keys are user data)
    key = f"raw/orders/{smuggled}.csv"

    # When it is rendered into an argument in the single pass
    rendered = render("--input=s3://{bucket}/{key}", {"bucket": "landing", "key": key, "job_id": "x"})

    # Then the key's text is left exactly as it was - never expanded, never unescaped
    assert rendered == f"--input=s3://landing/{key}"


def test_double_braces_are_literal_braces() -> None:
    # Given escaped braces around and next to placeholders
    # When / Then
    assert render("{{literal}}", {}) == "{literal}"
    assert render("{{{job_id}}}", {"job_id": "j-1"}) == "{j-1}"
    assert render("a}}b{{c", {}) == "a}b{c"


def test_unknown_placeholder_raises_key_error_at_render() -> None:
    # Given a name routes validation would have refused / When rendered / Then KeyError, never silently empty
    with pytest.raises(KeyError):
        render("{nope}", {})


def test_placeholders_in_ignores_escaped_braces() -> None:
    # Given / When / Then
    assert placeholders_in("{{key}} {job_id} {input_uri}") == {"job_id", "input_uri"}
    assert {"bucket", "key", "input_uri", "job_id", "work_bucket"} <= ALL_PLACEHOLDERS


@pytest.mark.parametrize(
    ("template", "unbalanced"),
    [
        ("{job_id}", False),
        ("{{x}}", False),
        ("{job_id", True),
        ("job_id}", True),
        ("{Job_Id}", True),  # names are lower-case: anything else is not a placeholder
        ("{ job_id }", True),
    ],
)
def test_unknown_braces(template: str, unbalanced: bool) -> None:
    # Given / When / Then: stray braces are reported so routes validation can refuse them
    assert unknown_braces(template) is unbalanced
