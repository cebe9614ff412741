"""The route a job runs under, once created: its snapshot while its route is still in the routes file, and
ROUTE_REMOVED once the route is renamed or removed (the job's work then ends without its route)."""

from __future__ import annotations

from pydantic import ValidationError

from emr_dispatch.errors import RoutesError
from emr_dispatch.jobs import Job
from emr_dispatch.routes import Route, RoutesFile

ROUTE_REMOVED = "ROUTE_REMOVED"
"""Reason code of work whose route was renamed or removed from the routes file (docs/RUNBOOK.md)."""


def route_removed_message(job: Job) -> str:
    return (
        f"route {job.route!r} is no longer in the routes file (renamed or removed): "
        f"this {job.state.value.lower()} job was not started"
    )


def route_from_snapshot(snapshot: str) -> Route:
    """The route a job was created under, from its snapshot (validated again, as at load)."""
    try:
        return Route.model_validate_json(snapshot)
    except ValidationError as exc:
        problems = [f"{error['loc']}: {error['msg']}" for error in exc.errors()]
        raise RoutesError(problems, "job's route snapshot") from exc


def route_of(job: Job, routes: RoutesFile) -> Route | None:
    """The route a job runs under: its snapshot while its route still exists in the routes file, None once the
    route is gone (renamed or removed: its work ends ROUTE_REMOVED). A job created before snapshots existed
    runs under the current route."""
    current = routes.get(job.route)
    if current is None or not job.route_snapshot:
        return current
    return route_from_snapshot(job.route_snapshot)
