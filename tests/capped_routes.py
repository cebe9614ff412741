"""Routes files of capped EMR on EC2 routes, and arrivals delivered to the deployed launcher: the shared Given of
the capacity and waiting-job tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from emr_dispatch_tools.moto_stack import DeployedStack
from sample_events import load_event

ROUTE = """
  - name: {name}
    match: {{prefix: {name}/}}
    engine: emr-ec2
    max_concurrent: {cap}
    emr_ec2:
      release_label: emr-7.5.0
      instances: {{primary: {{instance_type: m7g.xlarge}}}}
    job:
      entry_point: s3://{{work_bucket}}/jobs/clean_csv.py
      arguments: ["--input={{input_uri}}"]
"""


def capped_routes(tmp_path: Path, *names: str, cap: int = 1) -> dict[str, str]:
    """A routes file with one capped route per name (prefix ``<name>/``), as launcher overrides."""
    path = tmp_path / "routes.yaml"
    routes = "".join(ROUTE.format(name=name, cap=cap) for name in names)
    path.write_text("version: 1\nroutes:" + routes, encoding="utf-8")
    return {"ROUTES_FILE": str(path)}


def arrive(stack: DeployedStack, overrides: dict[str, str], key: str) -> dict[str, Any]:
    """One EventBridge "Object Created" arrival of ``key`` in the landing bucket, through the launcher."""
    event = load_event("s3-object-created-eventbridge.json")
    event["detail"]["bucket"]["name"] = stack.outputs["LandingBucketName"]
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    time.sleep(0.002)  # distinct arrival times: FIFO is by claim time
    result: dict[str, Any] = stack.invoke("LauncherFunction", event, overrides)["results"][0]
    return result
