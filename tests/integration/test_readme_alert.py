"""The README's sample alert is what the tracker really sends for events/emr-step-failed.json."""

from __future__ import annotations

import re
from pathlib import Path

from emr_dispatch_tools.moto_stack import DeployedStack
from moto_helpers import launch_classic, set_step_state, subscribe_queue
from sample_events import EXAMPLE_CLUSTER_ID, EXAMPLE_STEP_ID, for_cluster

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_JOB_ID = "orders-daily-17c3ac63b97f7b66"


def _readme_sample() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"A sample, from `events/emr-step-failed.json` through the tracker:\n\n```\n(.*?)```", text, re.S)
    assert match, "README.md lost its sample alert"
    return match.group(1)


def test_the_readme_sample_alert_is_what_the_tracker_sends(stack: DeployedStack) -> None:
    # Given a launched EMR on EC2 job and the step failure of events/
    inbox = subscribe_queue(stack.outputs["AlertsTopicArn"], "readme-alerts")
    launched = launch_classic(stack)
    set_step_state(launched.cluster_id, "FAILED")

    # When the tracker receives it
    stack.invoke("TrackerFunction", for_cluster("emr-step-failed.json", launched.cluster_id, launched.step_id))

    # Then the one alert, with this deployment's ids put back to the example's, is the README's sample
    (alert,) = inbox()
    text = f"Subject: {alert.subject}\n{alert.message.split('--- machine-readable ---')[0].rstrip()}\n"
    for real, example in [
        (launched.cluster_id, EXAMPLE_CLUSTER_ID),
        (launched.step_id, EXAMPLE_STEP_ID),
        (launched.job_id, EXAMPLE_JOB_ID),
        (stack.outputs["LandingBucketName"], "<landing bucket>"),
        (stack.outputs["WorkBucketName"], "<work bucket>"),
    ]:
        text = text.replace(real, example)
    assert text == _readme_sample(), f"update README.md's sample alert to:\n{text}"
