"""Cold start budgets (issue 8) depend on what each function does NOT import at init: these pin it.

Each check runs a fresh interpreter that imports a handler and builds what its first invocation builds,
then lists the heavy modules that got loaded. No timings here: `make bench` measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_CHILD = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from emr_dispatch import wiring
getattr(wiring, sys.argv[2])()
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {"pydantic", "yaml", "aws_xray_sdk"}
      or name.startswith(("aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes")))))
"""


def _loaded_after_init(folder: str, module: str, builder: str) -> list[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / folder), str(ROOT / "layers/emr_dispatch")]),
        "LEDGER_TABLE": "ledger",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "WORK_BUCKET": "work",
        "ROUTES_FILE": str(ROOT / "config/routes.yaml"),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", _CHILD, module, builder],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=ROOT,
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    ("folder", "module", "builder"),
    [("functions/tracker", "track_handler", "tracker"), ("functions/launcher", "launch_handler", "launcher")],
)
def test_init_loads_no_batch_utility_event_data_classes_or_xray(folder: str, module: str, builder: str) -> None:
    # Given a fresh interpreter, when the handler is imported and its object graph built
    loaded = _loaded_after_init(folder, module, builder)

    # Then neither Powertools' batch utility nor its event data classes (asyncio and every event shape)
    # nor the X-Ray SDK were imported
    assert [name for name in loaded if not name.startswith(("pydantic", "yaml"))] == []


def test_the_tracker_never_loads_routes_so_never_imports_pydantic_or_yaml() -> None:
    # Given a fresh interpreter, when the tracker's handler is imported and its object graph built
    loaded = _loaded_after_init("functions/tracker", "track_handler", "tracker")

    # Then pydantic and PyYAML (only needed to validate the routes file) were not imported
    assert loaded == []
