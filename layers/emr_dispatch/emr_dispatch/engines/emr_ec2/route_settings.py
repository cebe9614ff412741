"""A route's emr_ec2 section: release, instance groups or fleets (Spot with on-demand fallback), bootstrap."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from emr_dispatch.placeholders import STATIC_PLACEHOLDERS
from emr_dispatch.route_parts import ReleaseLabel, S3Template
from emr_dispatch.route_parts import RouteModel as _Model
from emr_dispatch.route_parts import check_template as _check_template

InstanceType = Annotated[str, Field(pattern=r"^[a-z0-9]+[a-z0-9-]*\.[a-z0-9]+$")]


class InstanceGroup(_Model):
    instance_type: InstanceType
    count: int = Field(default=1, ge=1, le=256)
    market: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"


class Ec2Instances(_Model):
    """Uniform instance groups: one primary node, optional core and task groups."""

    primary: InstanceGroup
    core: InstanceGroup | None = None
    task: InstanceGroup | None = None

    @model_validator(mode="after")
    def _single_primary(self) -> Ec2Instances:
        if self.primary.count != 1:
            raise ValueError("primary.count must be 1 (one primary node)")
        return self


class InstanceFleet(_Model):
    instance_types: list[InstanceType] = Field(min_length=1, max_length=30)
    on_demand_capacity: int = Field(default=0, ge=0)
    spot_capacity: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _some_capacity(self) -> InstanceFleet:
        if self.on_demand_capacity + self.spot_capacity == 0:
            raise ValueError("a fleet needs on_demand_capacity or spot_capacity")
        return self


class SpotOptions(_Model):
    timeout_minutes: int = Field(default=10, ge=5, le=1440)
    timeout_action: Literal["SWITCH_TO_ON_DEMAND", "TERMINATE_CLUSTER"] = "SWITCH_TO_ON_DEMAND"
    allocation_strategy: Literal["price-capacity-optimized", "capacity-optimized", "lowest-price", "diversified"] = (
        "price-capacity-optimized"
    )


class Ec2Fleets(_Model):
    """Instance fleets: several instance types per role, Spot with an on-demand fallback."""

    primary: InstanceFleet
    core: InstanceFleet | None = None
    task: InstanceFleet | None = None
    spot: SpotOptions = Field(default_factory=SpotOptions)

    @model_validator(mode="after")
    def _single_primary(self) -> Ec2Fleets:
        if self.primary.on_demand_capacity + self.primary.spot_capacity != 1:
            raise ValueError("primary fleet capacity must be 1 (one primary node)")
        return self


class BootstrapAction(_Model):
    name: str = Field(min_length=1, max_length=256)
    path: S3Template
    args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _static_only(self) -> BootstrapAction:
        for where, text in [("path", self.path)] + [(f"args[{i}]", a) for i, a in enumerate(self.args)]:
            _check_template(text, STATIC_PLACEHOLDERS, where, "input placeholders are only allowed in job.arguments")
        return self


class EmrConfiguration(_Model):
    """An EMR configuration classification, e.g. spark-defaults; nested configurations allowed."""

    classification: str = Field(min_length=1)
    properties: dict[str, str] = Field(default_factory=dict)
    configurations: list[EmrConfiguration] = Field(default_factory=list)


class EmrEc2Settings(_Model):
    release_label: ReleaseLabel
    applications: list[str] = Field(default_factory=lambda: ["Spark"], min_length=1)
    instances: Ec2Instances | None = None
    fleets: Ec2Fleets | None = None
    idle_timeout_seconds: int = Field(default=600, ge=60, le=604800)
    ebs_root_volume_size_gb: int | None = Field(default=None, ge=15, le=100)
    bootstrap_actions: list[BootstrapAction] = Field(default_factory=list, max_length=16)
    configurations: list[EmrConfiguration] = Field(default_factory=list)
    step_concurrency: int = Field(default=1, ge=1, le=256)
    security_configuration: str | None = None

    @model_validator(mode="after")
    def _groups_or_fleets(self) -> EmrEc2Settings:
        if (self.instances is None) == (self.fleets is None):
            raise ValueError("give exactly one of instances (instance groups) or fleets (instance fleets)")
        return self
