"""Builds the launcher, tracker and sweeper from the environment, once per container (on first use).

Each builder imports only what its function uses, inside the builder: the tracker loads the routes file only
when a failure needs its route's retry policy, so its init imports neither pydantic nor PyYAML (cold start,
docs/BENCHMARKS.md). Keep these imports here.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING

from emr_dispatch import aws
from emr_dispatch.settings import get_settings

if TYPE_CHECKING:
    from emr_dispatch.capacity import Capacity
    from emr_dispatch.engines import Engine
    from emr_dispatch.launch import Launcher
    from emr_dispatch.ledger import Ledger
    from emr_dispatch.outcomes import OutcomeRecorder
    from emr_dispatch.routes import RoutesFile
    from emr_dispatch.sweep import Sweeper
    from emr_dispatch.track import Tracker


@cache
def _ledger() -> Ledger:
    from emr_dispatch.ledger import Ledger

    return Ledger(get_settings().ledger_table, aws.dynamodb())


@cache
def _capacity() -> Capacity:
    from emr_dispatch.capacity import Capacity

    return Capacity(get_settings().ledger_table, aws.dynamodb())


@cache
def _outcomes() -> OutcomeRecorder:
    from emr_dispatch.alerts import Alerter
    from emr_dispatch.control import QueueSignal
    from emr_dispatch.outcomes import OutcomeRecorder
    from emr_dispatch.tagging import InputTagger, TagWork

    settings = get_settings()
    return OutcomeRecorder(
        _ledger(),
        Alerter(settings.alerts_topic_arn),
        _capacity(),
        QueueSignal(settings.arrivals_queue_url),
        _routes,  # read on the first failure that needs a retry policy, not at the tracker's init
        tags=TagWork(_ledger().table, InputTagger(aws.s3())),
    )


def _routes() -> RoutesFile:
    from emr_dispatch.routes import load_routes

    return load_routes(get_settings().routes_file)


@cache
def _engines() -> dict[str, Engine]:
    from emr_dispatch.engines import build_engines

    return build_engines(get_settings(), _ledger())


@cache
def launcher() -> Launcher:
    from emr_dispatch.batches import Batches
    from emr_dispatch.control import QueueSignal
    from emr_dispatch.launch import Launcher
    from emr_dispatch.pacing import StartPacer
    from emr_dispatch.routes import load_routes

    settings = get_settings()
    batches = Batches(
        settings.ledger_table, settings.work_bucket, aws.dynamodb(), QueueSignal(settings.arrivals_queue_url)
    )
    routes = load_routes(settings.routes_file)
    return Launcher(
        routes,
        _ledger(),
        _capacity(),
        batches,
        _engines(),
        _outcomes(),
        settings.work_bucket,
        pacer=StartPacer(settings.ledger_table, aws.dynamodb(), routes.start_rate),
        signal=QueueSignal(settings.arrivals_queue_url),
    )


@cache
def tracker() -> Tracker:
    from emr_dispatch.track import Tracker

    return Tracker(_ledger(), _engines(), _outcomes())


@cache
def sweeper() -> Sweeper:
    from emr_dispatch.batches import Batches
    from emr_dispatch.control import QueueSignal
    from emr_dispatch.orphans import OrphanMemory
    from emr_dispatch.routes import load_routes
    from emr_dispatch.sweep import Sweeper

    settings = get_settings()
    signal = QueueSignal(settings.arrivals_queue_url)
    return Sweeper(
        load_routes(settings.routes_file),
        _ledger(),
        _engines(),
        _outcomes(),
        signal,
        _capacity(),
        orphans=OrphanMemory(settings.ledger_table, aws.dynamodb()),
        batches=Batches(settings.ledger_table, settings.work_bucket, aws.dynamodb(), signal),
    )


def reset() -> None:
    """Forget everything built (tests that change the environment or enter/leave moto)."""
    for cached in (_ledger, _capacity, _outcomes, _engines, launcher, tracker, sweeper, get_settings):
        cached.cache_clear()
    routes = sys.modules.get("emr_dispatch.routes")  # only loaded once some function read the routes file
    if routes is not None:
        routes.load_routes.cache_clear()
    aws.reset_clients()
