"""EMR on EC2 grown up: fleets with Spot and an on-demand fallback, groups, bootstrap, configurations."""

from __future__ import annotations

import pytest

from builders import job, route, settings
from emr_dispatch.engines.emr_ec2 import build_run_job_flow_request
from emr_dispatch.errors import RoutesError

FLEETS = {
    "release_label": "emr-7.5.0",
    "fleets": {
        "primary": {"instance_types": ["m7g.xlarge"], "on_demand_capacity": 1},
        "core": {"instance_types": ["m7g.2xlarge", "r7g.xlarge"], "spot_capacity": 4},
        "spot": {"timeout_minutes": 15},
    },
    "bootstrap_actions": [{"name": "deps", "path": "s3://{work_bucket}/bootstrap/install.sh", "args": ["{route}"]}],
    "configurations": [
        {
            "classification": "spark-defaults",
            "properties": {"spark.dynamicAllocation.enabled": "true"},
        },
        {"classification": "hadoop-env", "configurations": [{"classification": "export", "properties": {"A": "1"}}]},
    ],
    "step_concurrency": 2,
    "security_configuration": "at-rest-and-in-transit",
}


def test_fleets_use_spot_with_an_on_demand_fallback() -> None:
    # Given a route with a Spot core fleet
    request = build_run_job_flow_request(job(), route(emr_ec2=FLEETS), settings(emr_subnet_id="subnet-1"))
    fleets = {fleet["InstanceFleetType"]: fleet for fleet in request["Instances"]["InstanceFleets"]}
    # Then the core fleet asks for Spot, switching to on-demand when Spot cannot be had in time
    spot = fleets["CORE"]["LaunchSpecifications"]["SpotSpecification"]
    assert spot == {
        "TimeoutDurationMinutes": 15,
        "TimeoutAction": "SWITCH_TO_ON_DEMAND",
        "AllocationStrategy": "price-capacity-optimized",
    }
    assert fleets["CORE"]["TargetSpotCapacity"] == 4
    assert [c["InstanceType"] for c in fleets["CORE"]["InstanceTypeConfigs"]] == ["m7g.2xlarge", "r7g.xlarge"]
    # And the primary is one on-demand node; fleets take a list of subnets
    assert fleets["MASTER"]["TargetOnDemandCapacity"] == 1
    assert "SpotSpecification" not in fleets["MASTER"]["LaunchSpecifications"]
    assert request["Instances"]["Ec2SubnetIds"] == ["subnet-1"]
    assert "InstanceGroups" not in request["Instances"]


def test_bootstrap_configurations_concurrency_and_security_configuration() -> None:
    request = build_run_job_flow_request(job(), route(emr_ec2=FLEETS), settings())
    # Then bootstrap paths are rendered with static placeholders only
    assert request["BootstrapActions"] == [
        {"Name": "deps", "ScriptBootstrapAction": {"Path": "s3://work-bucket/bootstrap/install.sh", "Args": ["orders"]}}
    ]
    # And configurations keep their nesting in EMR's shape
    assert request["Configurations"][0] == {
        "Classification": "spark-defaults",
        "Properties": {"spark.dynamicAllocation.enabled": "true"},
    }
    assert request["Configurations"][1]["Configurations"] == [{"Classification": "export", "Properties": {"A": "1"}}]
    assert request["StepConcurrencyLevel"] == 2
    assert request["SecurityConfiguration"] == "at-rest-and-in-transit"


def test_instance_groups_with_spot_task_group() -> None:
    # Given uniform instance groups with a Spot task group
    groups = {
        "release_label": "emr-7.5.0",
        "instances": {
            "primary": {"instance_type": "m7g.xlarge"},
            "core": {"instance_type": "m7g.xlarge", "count": 2},
            "task": {"instance_type": "m7g.xlarge", "count": 3, "market": "SPOT"},
        },
    }
    request = build_run_job_flow_request(job(), route(emr_ec2=groups), settings())
    roles = {group["InstanceRole"]: group for group in request["Instances"]["InstanceGroups"]}
    # Then every group is present with its market
    assert set(roles) == {"MASTER", "CORE", "TASK"}
    assert roles["TASK"]["Market"] == "SPOT"
    assert roles["TASK"]["InstanceCount"] == 3


@pytest.mark.parametrize(
    ("emr_ec2", "message"),
    [
        ({"release_label": "emr-7.5.0"}, "exactly one of instances"),
        (
            {
                "release_label": "emr-7.5.0",
                "fleets": {"primary": {"instance_types": ["m7g.xlarge"], "on_demand_capacity": 2}},
            },
            "primary fleet capacity must be 1",
        ),
        (
            {
                "release_label": "emr-7.5.0",
                "instances": {"primary": {"instance_type": "m7g.xlarge"}},
                "bootstrap_actions": [{"name": "x", "path": "s3://b/{key}.sh"}],
            },
            "placeholder {key} not allowed",
        ),
    ],
)
def test_invalid_cluster_shapes_name_route_and_field(emr_ec2: dict[str, object], message: str) -> None:
    # Given an invalid EMR on EC2 section, then validation names the route and the problem
    with pytest.raises(RoutesError, match="route 'orders'") as caught:
        route(emr_ec2=emr_ec2)
    assert message in str(caught.value)
