"""Function settings read from the environment that template.yaml sets, once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from emr_dispatch.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    ledger_table: str
    alerts_topic_arn: str
    work_bucket: str
    routes_file: str
    region: str
    arrivals_queue_url: str = ""
    engine_settings: Mapping[str, str] = field(default_factory=dict)
    """The engines' stack settings (each engine declares its variables: engines/*/__init__.py), by variable."""


_REQUIRED = ("LEDGER_TABLE", "ALERTS_TOPIC_ARN", "WORK_BUCKET", "ROUTES_FILE")


@cache
def get_settings() -> Settings:
    """Read the environment once; a missing variable is a deployment error, named precisely."""
    return settings_from(os.environ)


def settings_from(env: Mapping[str, str]) -> Settings:
    """Settings from a function's environment (this process's, or a deployed function's for the CLI)."""
    from emr_dispatch.engines import DECLARATIONS  # here, not at the top: the engines read Settings

    missing = [name for name in _REQUIRED if not env.get(name)]
    if missing:
        raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
    return Settings(
        ledger_table=env["LEDGER_TABLE"],
        alerts_topic_arn=env["ALERTS_TOPIC_ARN"],
        work_bucket=env["WORK_BUCKET"],
        routes_file=env["ROUTES_FILE"],
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        arrivals_queue_url=env.get("ARRIVALS_QUEUE_URL", ""),
        engine_settings={
            setting.variable: env.get(setting.variable, setting.default)
            for declared in DECLARATIONS
            for setting in declared.stack_settings
        },
    )
