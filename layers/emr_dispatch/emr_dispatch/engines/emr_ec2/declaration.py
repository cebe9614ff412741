"""EMR on EC2's declaration: what the rest of emr-dispatch knows of the engine without loading it (its events,
limits, failure causes, start rate, step kinds), and the tag rules its Management Guide sets."""

from __future__ import annotations

import re

from emr_dispatch.engines.declaration import (
    ApiLimits,
    EngineDeclaration,
    FailureCauses,
    RetryChange,
)
from emr_dispatch.engines.emr_ec2.events import CLUSTER_EVENT, STEP_EVENT
from emr_dispatch.engines.emr_ec2.request import (
    HADOOP_JAR_STEP_MAX,
    LOG_PREFIX,
    NAME,
    NAME_MAX,
    STACK_SETTINGS,
    describe_launch_options,
    retry_launch_options,
    uses_spot,
)
from emr_dispatch.engines.emr_ec2.step_rules import steps_problems
from emr_dispatch.limits import TagRules

SERVICE = "emr"  # boto3's name; IAM's is elasticmapreduce
# EMR on EC2's model limits no tag: its Management Guide ("Restrictions that apply to tagging resources") applies
# EC2's (50 tags, keys up to 128 and values up to 256 characters) and allows "any alphabetic character in any
# language, any numeric character, white spaces, invisible separators, and _ . : / = + - @".
_EMR_TAG_TEXT = r"[\w\s.:/=+\-@]"
TAG_RULES = TagRules(
    max_tags=50,
    key_max=128,
    value_max=256,
    key_pattern=re.compile(_EMR_TAG_TEXT + "+"),
    value_pattern=re.compile(_EMR_TAG_TEXT + "*"),
    source="Amazon EMR Management Guide, tag restrictions",
)

DECLARATION = EngineDeclaration(
    name=NAME,
    label="EMR on EC2",
    event_source="aws.emr",
    services=(SERVICE, "elasticmapreduce"),
    detail_types=(CLUSTER_EVENT, STEP_EVENT),
    route_settings="emr_dispatch.engines.emr_ec2.route_settings:EmrEc2Settings",
    engine_class="emr_dispatch.engines.emr_ec2:build",
    log_prefix=LOG_PREFIX,
    limits=ApiLimits(
        name_max=NAME_MAX,
        entry_point_max=10280,
        argument_max=10280,
        tags=TAG_RULES,
        step_total_max=HADOOP_JAR_STEP_MAX,
    ),
    failure_causes=FailureCauses(
        capacity=frozenset({"INSTANCE_FAILURE"}),
        spot=frozenset({"INSTANCE_FLEET_TIMEOUT"}),  # fleets could not get their (Spot) capacity in time
        spot_if_route_uses_spot=frozenset({"INSTANCE_FAILURE"}),
        internal=frozenset({"INTERNAL_ERROR"}),
    ),
    retry=RetryChange(retry_launch_options, describe_launch_options, uses_spot),
    stack_settings=STACK_SETTINGS,
    # EMR RunJobFlow: burst 10, refill 0.5/s (FACTS.md, issue 14).
    start_per_second=0.5,
    start_burst=10,
    # RunJobFlow runs steps of every kind through command-runner.jar; "You can have up to 256 PENDING and RUNNING
    # steps in a cluster" (Amazon EMR Management Guide, "Submit work to an Amazon EMR cluster").
    step_kinds=("spark", "hive", "command"),
    max_steps=256,
    steps_check=steps_problems,
    per_object_burst=(
        "every object starts its own EMR cluster and {overall} caps how many run at once (a burst of 1,000 files is"
        " 1,000 clusters; EMR allows 500 active clusters per account by default)"
    ),
)
