"""Orphans found by the sweeper: engine resources named as emr-dispatch's that no live job owns.

Each is stopped on every sweep that sees it and alerted once (``orphans.OrphanMemory`` remembers the alert). A
resource is an orphan when the ledger has no job of its name, runs an earlier attempt than its job, belongs to a
job that already ended, or its job runs elsewhere; one whose job is still being recorded is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emr_dispatch import metrics
from emr_dispatch.alerts import Alert
from emr_dispatch.engines.base import Engine, RunningResource, job_id_candidates
from emr_dispatch.errors import EmrDispatchError, EngineError
from emr_dispatch.jobs import Job
from emr_dispatch.ledger import Ledger
from emr_dispatch.observability import logger
from emr_dispatch.orphans import OrphanMemory
from emr_dispatch.outcomes import OutcomeRecorder
from emr_dispatch.routes import RoutesFile

if TYPE_CHECKING:
    from emr_dispatch.sweep import SweepReport


class OrphanSweep:
    def __init__(
        self, routes: RoutesFile, ledger: Ledger, outcomes: OutcomeRecorder, memory: OrphanMemory | None
    ) -> None:
        self._routes = routes
        self._ledger = ledger
        self._outcomes = outcomes
        self._memory = memory

    @property
    def memory(self) -> OrphanMemory | None:
        return self._memory

    def stop(self, engine: Engine, resource: RunningResource, report: SweepReport) -> None:
        """Stop one running resource if no live job owns it, and alert it once (remembered in the ledger)."""
        job, why = self._owner(resource)
        if why is None:
            return
        try:
            engine.stop_resource(resource)
            actions = [f"stopped {resource.engine_id}"]
        except EngineError as exc:
            metrics.engine_error(engine.name, exc.code)
            metrics.count(metrics.SWEEP_ITEM_FAILURES, item="orphan-stop")
            logger.error("orphan not stopped", engine=engine.name, engine_id=resource.engine_id, error=str(exc))
            report.errors.append(f"orphan-stop {resource.engine_id}: {exc.code}")
            actions = [f"could not stop {resource.engine_id}: {exc.code} (tried again on every sweep)"]
        logger.warning("orphan found", engine=engine.name, engine_id=resource.engine_id, why=why)
        report.orphans.append(resource.engine_id)
        if self._memory is not None and not self._memory.claim_alert(engine.name, resource.engine_id, why):
            return  # alerted before
        try:
            self._outcomes.publish_orphan(Alert.for_orphan(resource, job, why, actions))
        except EmrDispatchError:
            if self._memory is not None:
                self._memory.release(resource.engine_id)
            raise
        if self._memory is not None:
            self._memory.mark_alerted(resource.engine_id)

    def _owner(self, resource: RunningResource) -> tuple[Job | None, str | None]:
        """The job a running resource belongs to, and why it is an orphan (None: it is not)."""
        parsed = resource.job_id_and_attempt
        if parsed is None:
            return None, None  # named like ours but not in our format: not ours to stop
        named_job_id, attempt = parsed
        # A shortened name of a route no longer in the routes file is found by its engine id (its job runs on).
        job = self._job_named(named_job_id) or self._ledger.find_by_engine_id(resource.engine_id)
        if job is None:
            return None, "the ledger has no job of this name"
        if attempt < job.attempt:
            return job, f"it runs attempt {attempt}; the job is at attempt {job.attempt}"
        if job.state.is_terminal:
            return job, f"its job already ended {job.state.value}"
        if job.engine_id is None:
            return job, None  # the launcher is still recording it (or will recover it by name)
        if job.engine_id != resource.engine_id:
            return job, f"its job runs on {job.engine_id}, not on this one"
        return job, None

    def _job_named(self, named_job_id: str) -> Job | None:
        """The job a resource name stands for; a name the engine's length limit made shorter (EMR on EKS) is
        looked up under each route its kept route part may belong to (engines.base.resource_name)."""
        route_names = [route.name for route in self._routes.routes]
        for job_id in job_id_candidates(named_job_id, route_names):
            job = self._ledger.get(job_id)
            if job is not None:
                return job
        return None
