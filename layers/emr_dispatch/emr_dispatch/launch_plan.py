"""The launch plan: what the launcher does with one arrival, decided without any AWS call.

``plan_arrival`` is the one place that decision is made: the launcher (launch.py) acts on the plan, `routes
explain` (operations.explain) shows it with the engine request it renders, so the two cannot disagree. The plan
says: skip (and why, and whether ``jobs find`` should remember it), join the route's batch, or start a job —
which route, which job (its id and typed inputs), and the exact request its engine builds for it (``request``;
the launcher's engine start builds that same request from the same job and route).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emr_dispatch.arrivals import Arrival, TestEvent
from emr_dispatch.inputs import JobInput, ManifestInput, MarkerInput, ObjectInput
from emr_dispatch.jobs import Job, JobState, job_id_for
from emr_dispatch.locations import manifest_key
from emr_dispatch.timeutil import now_iso

if TYPE_CHECKING:
    from emr_dispatch.engines.base import Engine
    from emr_dispatch.routes import Route, RoutesFile

SKIP = "skip"
BATCH = "batch"
START = "start"
FOLDER_MARKER = "folder marker"
TEST_EVENT = "s3 test event"
WAITING_FOR_MARKER = "waiting for the marker object"
PREVIEW_BATCH_ID = "<batch id>"
PREVIEW_WORK_BUCKET = "<work bucket>"


@dataclass(frozen=True)
class LaunchPlan:
    """The decision for one arrival."""

    outcome: str  # START | BATCH | SKIP
    reason: str
    uri: str
    route: Route | None = None
    job: Job | None = None  # START: the job to claim
    remember: bool = False  # a skip that `emr-dispatch jobs find` answers with (ledger.record_skip)
    marker_uri: str = ""  # WAITING_FOR_MARKER: the object whose job will read this one

    def preview(self) -> Job | None:
        """START: the job; BATCH: the batch's job as it will be, but for its batch id and work bucket (known once
        the batch opens; built only when asked, not on the launcher's hot path)."""
        if self.outcome != BATCH or self.route is None:
            return self.job
        manifest = ManifestInput(PREVIEW_WORK_BUCKET, manifest_key(self.route.name, PREVIEW_BATCH_ID), 1, 1)
        return batch_job(self.route, PREVIEW_BATCH_ID, manifest)

    def request(self, engines: dict[str, Engine]) -> dict[str, Any] | None:
        """The exact start request of the previewed job (pure; raises EngineError where the engine would refuse)."""
        job = self.preview()
        if job is None or self.route is None:
            return None
        return engines[self.route.engine].build_request(job, self.route)


def plan_arrival(item: Arrival | TestEvent, routes: RoutesFile, work_bucket: str) -> LaunchPlan:
    """What becomes of an arrival under ``routes`` in a stack whose work bucket is ``work_bucket``."""
    if isinstance(item, TestEvent):
        return LaunchPlan(SKIP, TEST_EVENT, f"s3://{item.bucket}")
    if item.is_folder_marker:
        return LaunchPlan(SKIP, FOLDER_MARKER, item.uri)
    decision = routes.decide(item.bucket, item.key, work_bucket)
    route = decision.route
    if route is None:
        return LaunchPlan(SKIP, decision.reason, item.uri, remember=True)
    batching = route.batching
    if batching.mode == "batch":
        return LaunchPlan(BATCH, f"joins the route's {batching.window_seconds} s batch", item.uri, route)
    if batching.mode == "marker":
        folder, _, name = item.key.rpartition("/")
        prefix = f"{folder}/" if folder else ""
        if name != batching.marker:
            marker_uri = f"s3://{item.bucket}/{prefix}{batching.marker}"
            return LaunchPlan(SKIP, WAITING_FOR_MARKER, item.uri, route, remember=True, marker_uri=marker_uri)
        job = new_job(route, item.identity(), [MarkerInput.of(item, prefix)])
        return LaunchPlan(START, f"marker object: one job over s3://{item.bucket}/{prefix}", item.uri, route, job)
    return LaunchPlan(
        START, "one job per object", item.uri, route, new_job(route, item.identity(), [ObjectInput.of(item)])
    )


def batch_job(route: Route, batch_id: str, manifest: ManifestInput) -> Job:
    """The one job of a closed batch, over its manifest: its id is derived from the batch."""
    return new_job(route, batch_identity(batch_id), [manifest])


def batch_identity(batch_id: str) -> str:
    return f"batch\x00{batch_id}"


def new_job(route: Route, identity: str, inputs: list[JobInput]) -> Job:
    """A job as the launcher claims it: first attempt, SUBMITTING, the route's snapshot and policies."""
    now = now_iso()
    return Job(
        job_id=job_id_for(route.name, identity),
        route=route.name,
        engine=route.engine,
        state=JobState.SUBMITTING,
        attempt=1,
        inputs=inputs,
        created_at=now,
        updated_at=now,
        max_attempts=route.retry.max_attempts,
        route_snapshot=route.snapshot(),
        timeout_minutes=route.timeout_minutes,
    )
