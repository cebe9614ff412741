"""The sweeper's describes of many-step clusters, paced on what they spend: ListSteps returns 50 steps a page
(botocore's emr model, ListSteps), so a describe of a 256-step cluster makes six ListSteps calls, and ListSteps'
quota (burst 10, 0.5/s: FACTS.md) binds. Tested on a virtual clock, without AWS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import builders
from emr_dispatch import timeutil
from emr_dispatch.engines.emr_ec2 import EmrEc2Engine
from emr_dispatch.engines.emr_ec2.steps import list_steps_pages
from emr_dispatch.job_steps import initial_steps
from emr_dispatch.jobs import Job
from emr_dispatch.sweep_pace import DescribePacer


@pytest.fixture
def slept() -> Iterator[list[float]]:
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += timedelta(seconds=seconds)

    previous_sleep = timeutil.sleeper()
    timeutil.use_clock(lambda: now[0])
    timeutil.use_sleep(sleep)
    yield waits
    timeutil.use_clock(None)
    timeutil.use_sleep(previous_sleep)


def _job(steps: int) -> Job:
    job = builders.job(route_name="steps")
    job.steps = initial_steps(tuple(f"emr-dispatch-s{index}" for index in range(steps)))
    return job


def test_a_describe_costs_one_list_steps_page_per_fifty_steps() -> None:
    # Given jobs of 1, 50, 51 and 256 steps (and one written before steps were tracked)
    # Then a describe of each costs its ListSteps pages
    assert [list_steps_pages(_job(count)) for count in (0, 1, 50, 51, 256)] == [1, 1, 1, 2, 6]


def test_many_step_clusters_are_described_at_list_steps_pace(slept: list[float]) -> None:
    # Given EMR on EC2's describe rate (burst 8, 0.4 per second) and two 256-step jobs (six ListSteps pages each)
    engine = EmrEc2Engine(builders.settings())
    pacer = DescribePacer({"emr-ec2": engine})
    job = _job(256)
    # When the sweeper describes both
    assert pacer.wait_for("emr-ec2", job)
    assert pacer.wait_for("emr-ec2", job)
    # Then the second waits for the six tokens the first spent beyond the two left: (6 - 2) / 0.4 = 10 s
    assert slept == [pytest.approx(10.0)]
    # And a one-step job after them waits for its own token
    assert pacer.wait_for("emr-ec2", _job(1))
    assert slept[1] == pytest.approx(2.5)
