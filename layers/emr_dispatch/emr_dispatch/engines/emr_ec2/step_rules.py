"""What EMR on EC2 refuses in a route's steps beyond their kinds and count (the declaration's steps_check): pure,
no pydantic, so the declaration stays cheap to import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emr_dispatch.route_steps import Step


def steps_problems(ec2: Any, steps: Sequence[Step]) -> list[str]:
    """With StepConcurrencyLevel above 1, EMR refuses a step that terminates the cluster or cancels the others
    ("If a cluster's StepConcurrencyLevel is greater than 1, do not [...] submit a step with this parameter set to
    CANCEL_AND_WAIT or TERMINATE_CLUSTER", EMR API Reference, StepConfig.ActionOnFailure): such steps must say
    continue. ``ec2``: the route's emr_ec2 section (route_settings.EmrEc2Settings)."""
    concurrency = getattr(ec2, "step_concurrency", 1)
    if concurrency == 1:
        return []
    return [
        f"steps[{index}].action_on_failure: {step.action_on_failure} is refused by EMR when emr_ec2.step_concurrency"
        f" is {concurrency} (above 1): use continue"
        for index, step in enumerate(steps)
        if step.action_on_failure != "continue"
    ]
