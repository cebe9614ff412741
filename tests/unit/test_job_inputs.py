"""Typed job inputs (inputs.py): the ledger stores them in the shape jobs had when inputs were plain dicts, so a
job written by an earlier release, read back from a deployed table, decodes to the same inputs."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeSerializer

import builders
from emr_dispatch.arrivals import Arrival
from emr_dispatch.engines.base import placeholder_values
from emr_dispatch.inputs import ManifestInput, MarkerInput, ObjectInput, input_from_item
from emr_dispatch.table import OBJECT_URI, OBJECT_VERSION, decode_job, encode_job

OBJECT: dict[str, Any] = {
    "bucket": "landing",
    "key": "raw/orders/2026-11-23/a b+c.csv",
    "size": 1024,
    "etag": "9b2cf535f27731c974343645a3985328",
    "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    "sequencer": "0055AED6DCD90281E5",
    "event_time": "2026-11-23T08:15:43.000Z",
}
MARKER: dict[str, Any] = {
    **OBJECT,
    "key": "raw/exports/2026-11-23/",
    "size": 0,
    "marker": "raw/exports/2026-11-23/_SUCCESS",
}
MANIFEST: dict[str, Any] = {
    "bucket": "work",
    "key": "manifests/clicks-batch/clicks-batch-w1.json",
    "manifest": "s3://work/manifests/clicks-batch/clicks-batch-w1.json",
    "count": 3,
    "size": 4096,
}


def _stored_item(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """A job item as a deployed table holds it today: DynamoDB-typed, numbers as N."""
    serializer = TypeSerializer()
    plain = {
        "pk": "JOB#orders-daily-0123456789abcdef",
        "sk": "JOB",
        "job_id": "orders-daily-0123456789abcdef",
        "route": "orders-daily",
        "engine": "emr-ec2",
        "state": "SUBMITTED",
        "attempt": 1,
        "inputs": inputs,
        "created_at": "2026-11-23T08:15:44.000Z",
        "updated_at": "2026-11-23T08:15:45.000Z",
    }
    return {name: serializer.serialize(value) for name, value in plain.items()}


def test_jobs_stored_in_todays_shape_decode_to_their_typed_inputs() -> None:
    # Given job items written by the release before typed inputs: an object, a marker's prefix, a batch manifest
    for stored, expected in (
        (OBJECT, ObjectInput(**OBJECT)),
        (MARKER, MarkerInput(MARKER["key"], ObjectInput(**{**OBJECT, "key": MARKER["marker"], "size": 0}))),
        (MANIFEST, ManifestInput("work", MANIFEST["key"], 3, 4096)),
    ):
        # When the ledger reads one back
        job = decode_job(_stored_item([stored]))
        # Then its input is of its kind, with every field, and writes back to exactly the stored shape
        assert job.inputs == [expected]
        assert job.inputs[0].to_item() == stored
        assert job.input_uris == [f"s3://{stored['bucket']}/{stored['key']}"]


def test_an_input_from_an_early_release_without_its_later_fields_still_decodes() -> None:
    # Given an object input with neither sequencer nor event time, and a size stored as a string
    job = decode_job(_stored_item([{"bucket": "landing", "key": "raw/orders/x.csv", "size": "7", "etag": "e"}]))
    # Then it is an object input with those fields empty
    assert job.inputs == [ObjectInput("landing", "raw/orders/x.csv", 7, "e", "", "", "")]


def test_a_new_job_item_stores_inputs_in_the_same_shape_and_indexes_the_object() -> None:
    # Given a marker job's typed input, made from the marker object's arrival
    marker = Arrival("landing", "raw/exports/d/_SUCCESS", 0, "e", "v1", "01", "2026-11-23T08:15:43.000Z", "eventbridge")
    job = builders.job(key="raw/exports/d/")
    job.inputs = [MarkerInput.of(marker, "raw/exports/d/")]
    # When the claim's item is built
    item = encode_job(job)
    # Then the input is stored as before (prefix as key, the marker's key beside it), and jobs find indexes the marker
    assert TypeSerializer().serialize([MarkerInput.of(marker, "raw/exports/d/").to_item()]) == item["inputs"]
    assert item["inputs"]["L"][0]["M"]["key"] == {"S": "raw/exports/d/"}
    assert item["inputs"]["L"][0]["M"]["marker"] == {"S": "raw/exports/d/_SUCCESS"}
    assert (item[OBJECT_URI], item[OBJECT_VERSION]) == ({"S": "s3://landing/raw/exports/d/_SUCCESS"}, {"S": "v1"})
    # ... and a batch job's manifest is never indexed as an object
    job.inputs = [input_from_item(MANIFEST)]
    assert OBJECT_URI not in encode_job(job)


def test_placeholders_read_each_kind_of_input() -> None:
    # Given one job of each kind of input
    route = builders.route()
    values = {}
    for item in (OBJECT, MARKER, MANIFEST):
        job = builders.job()
        job.inputs = [input_from_item(item)]
        values[item["key"]] = placeholder_values(job, route, "work")
    # Then {key} and {input_uri} name the object, the marker's prefix or the manifest; {inputs_manifest_uri} only
    # a manifest
    assert {key: (v["key"], v["input_uri"], v["inputs_manifest_uri"]) for key, v in values.items()} == {
        OBJECT["key"]: (OBJECT["key"], f"s3://landing/{OBJECT['key']}", ""),
        MARKER["key"]: (MARKER["key"], f"s3://landing/{MARKER['key']}", ""),
        MANIFEST["key"]: (MANIFEST["key"], MANIFEST["manifest"], MANIFEST["manifest"]),
    }
