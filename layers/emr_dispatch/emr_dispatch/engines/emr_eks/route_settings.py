"""A route's emr_eks section: which virtual cluster, which release."""

from __future__ import annotations

from pydantic import Field

from emr_dispatch.route_parts import ReleaseLabel
from emr_dispatch.route_parts import RouteModel as _Model


class EmrEksSettings(_Model):
    virtual_cluster_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-z]+$",
        max_length=64,  # emr-containers ResourceIdString
        description="default: the stack's EmrEksVirtualClusterId",
    )
    release_label: ReleaseLabel
