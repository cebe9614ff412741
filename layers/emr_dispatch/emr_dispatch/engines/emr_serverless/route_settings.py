"""A route's emr_serverless section: which application, and whether emr-dispatch starts and stops it."""

from __future__ import annotations

from pydantic import Field

from emr_dispatch.route_parts import RouteModel as _Model


class EmrServerlessSettings(_Model):
    application_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-z]+$",
        max_length=64,  # emr-serverless ApplicationId
        description="default: the stack's EmrServerlessApplicationId",
    )
    managed_application: bool = Field(
        default=False, description="start the application when a job needs it, stop it when none is active"
    )
