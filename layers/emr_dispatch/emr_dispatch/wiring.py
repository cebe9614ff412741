"""Builds the launcher and tracker from the environment, once per container (on first use)."""

from __future__ import annotations

from functools import cache

from emr_dispatch import aws
from emr_dispatch.alerts import Alerter
from emr_dispatch.batches import Batches
from emr_dispatch.capacity import Capacity
from emr_dispatch.control import QueueSignal
from emr_dispatch.engines import Engine, build_engines
from emr_dispatch.launch import Launcher
from emr_dispatch.ledger import Ledger
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import load_routes
from emr_dispatch.settings import get_settings
from emr_dispatch.sweep import Sweeper
from emr_dispatch.track import Tracker


@cache
def _ledger() -> Ledger:
    return Ledger(get_settings().ledger_table, aws.dynamodb())


@cache
def _capacity() -> Capacity:
    return Capacity(get_settings().ledger_table, aws.dynamodb())


@cache
def _outcomes() -> OutcomeRecorder:
    settings = get_settings()
    return OutcomeRecorder(
        _ledger(),
        Alerter(settings.alerts_topic_arn),
        _capacity(),
        QueueSignal(settings.arrivals_queue_url),
        load_routes(settings.routes_file),
    )


@cache
def _engines() -> dict[str, Engine]:
    return build_engines(get_settings(), _ledger())


@cache
def launcher() -> Launcher:
    settings = get_settings()
    batches = Batches(
        settings.ledger_table, settings.work_bucket, aws.dynamodb(), QueueSignal(settings.arrivals_queue_url)
    )
    return Launcher(
        load_routes(settings.routes_file),
        _ledger(),
        _capacity(),
        batches,
        _engines(),
        _outcomes(),
        settings.work_bucket,
    )


@cache
def tracker() -> Tracker:
    return Tracker(_ledger(), _engines(), _outcomes())


@cache
def sweeper() -> Sweeper:
    settings = get_settings()
    return Sweeper(
        load_routes(settings.routes_file),
        _ledger(),
        _engines(),
        _outcomes(),
        QueueSignal(settings.arrivals_queue_url),
        _capacity(),
    )


def reset() -> None:
    """Forget everything built (tests that change the environment or enter/leave moto)."""
    for cached in (_ledger, _capacity, _outcomes, _engines, launcher, tracker, sweeper, get_settings, load_routes):
        cached.cache_clear()
    aws.reset_clients()
