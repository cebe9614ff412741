"""The one engine interface. Launcher, tracker (and the sweeper) talk to engines only through it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from emr_dispatch.aws import THROTTLING_CODES, error_code
from emr_dispatch.errors import EngineError, EngineQuotaError, EngineThrottledError
from emr_dispatch.jobs import Job, StateUpdate
from emr_dispatch.limits import CLIENT_TOKEN_MAX, blank
from emr_dispatch.placeholders import render

if TYPE_CHECKING:
    # Type-only: the tracker never loads routes, so it never pays for pydantic (docs/BENCHMARKS.md).
    from emr_dispatch.route_parts import SparkJob
    from emr_dispatch.route_steps import Step
    from emr_dispatch.routes import Route


@dataclass(frozen=True)
class StartedJob:
    """What the engine returned when it accepted a job."""

    engine_id: str
    details: dict[str, Any] = field(default_factory=dict)
    step_names: tuple[str, ...] = ()  # the steps it runs, in order, as the engine names them (the ledger tracks each)


@dataclass(frozen=True)
class StepStatus:
    """One step of a job as the engine reports it (an event, or a list of the job's steps): job_steps.py records it."""

    name: str  # as the engine names it (StartedJob.step_names)
    state: str
    step_id: str = ""
    started_at: str = ""
    ended_at: str = ""


@dataclass(frozen=True)
class EngineEvent:
    """A state-change event of an engine, parsed defensively into the fields emr-dispatch uses."""

    engine: str
    engine_id: str
    kind: str  # cluster | step | job-run | retry
    state: str
    sub_id: str | None = None  # step id
    name: str = ""
    reason_code: str | None = None
    reason_message: str | None = None
    time: str = ""
    action_on_failure: str = ""  # a step event's: what the engine does after this step fails
    steps: tuple[StepStatus, ...] = ()  # what this event or describe call says about the job's steps


@dataclass(frozen=True)
class Inspection:
    """What an engine tells about a job that reached a terminal state, gathered once."""

    details: dict[str, Any] = field(default_factory=dict)  # failure details, recorded on the job
    log_locations: list[str] = field(default_factory=list)
    resource_alive: bool = False  # a cluster still running that emr-dispatch should stop
    metrics: dict[str, Any] = field(default_factory=dict)  # duration, billed resources


@dataclass(frozen=True)
class RunningResource:
    """A cluster or job run that an engine reports running, named by emr-dispatch."""

    engine: str
    engine_id: str
    name: str
    console_link: str = ""

    @property
    def job_id_and_attempt(self) -> tuple[str, int] | None:
        """Parsed from the name emr-dispatch gives what it starts: emr-dispatch-<job id>-a<attempt>."""
        from emr_dispatch import NAME_PREFIX

        if not self.name.startswith(NAME_PREFIX):
            return None
        job_id, _, attempt = self.name[len(NAME_PREFIX) :].rpartition("-a")
        return (job_id, int(attempt)) if job_id and attempt.isdigit() else None


def our_job_runs(
    engine: str, container_id: str, pages: Iterable[Mapping[str, Any]], action: str = "ListJobRuns"
) -> list[RunningResource]:
    """emr-dispatch's job runs (named ``emr-dispatch-…``) in ListJobRuns pages of one EMR Serverless application or
    EMR on EKS virtual cluster: both APIs answer ``jobRuns[].id`` and ``.name``. A refused page is an EngineError."""
    from botocore.exceptions import ClientError

    from emr_dispatch import NAME_PREFIX

    found = []
    try:
        for page in pages:
            for run in page.get("jobRuns", []):
                if str(run.get("name", "")).startswith(NAME_PREFIX):
                    found.append(RunningResource(engine, f"{container_id}/{run['id']}", run["name"]))
    except ClientError as exc:
        raise EngineError(f"{action} {container_id} failed: {exc}", error_code(exc)) from exc
    return found


def resource_name(job: Job, max_length: int) -> str:
    """The name of everything started for a job's attempt: it is how orphans are recognised.

    ``emr-dispatch-<job id>-a<attempt>``; where that is longer than the engine allows (EMR on EKS: 64), the
    route part of the job id is cut, never its digest: ``emr-dispatch-<route prefix>-<digest>-a<attempt>``
    stays unique (the digest is) and deterministic, and ``job_id_candidates`` finds the job again."""
    from emr_dispatch import NAME_PREFIX

    full = f"{NAME_PREFIX}{job.job_id}-a{job.attempt}"
    if len(full) <= max_length:
        return full
    route, _, digest = job.job_id.rpartition("-")
    suffix = f"-{digest}-a{job.attempt}"
    kept = route[: max(max_length - len(NAME_PREFIX) - len(suffix), 1)].rstrip("-") or route[:1]
    return f"{NAME_PREFIX}{kept}{suffix}"[:max_length]


def job_id_candidates(named_job_id: str, route_names: Iterable[str]) -> list[str]:
    """The job ids a resource name's job id part may stand for: itself, and where ``resource_name`` cut the
    route part, the same digest under every route whose name begins with what was kept."""
    kept, _, digest = named_job_id.rpartition("-")
    longer = sorted(f"{name}-{digest}" for name in route_names if name != kept and name.startswith(kept))
    return [named_job_id, *longer] if kept and digest else [named_job_id]


class ActiveJobs(Protocol):
    def has_active_jobs(self, engine: str, detail: str, value: str) -> bool: ...


class Engine(Protocol):
    name: str
    event_source: str

    def build_request(self, job: Job, route: Route) -> dict[str, Any]:
        """The exact start request this engine would send for the job (pure: `routes explain` renders it)."""
        ...

    def start(self, job: Job, route: Route) -> StartedJob: ...

    def find_started(self, job: Job, until: float | None = None) -> StartedJob | None:
        """The engine resource an earlier, interrupted start of this attempt created, if any. Engines with
        an idempotency token return None: starting again with the same token returns the same run. A lookup that
        cannot finish by ``until`` (epoch seconds; default: invocation.lookup_until) raises EngineStartUnknownError:
        not an answer either way."""
        ...

    def parse_event(self, event: dict[str, Any]) -> EngineEvent | None:
        """The engine's view of an EventBridge event; None when the detail-type is not one it tracks."""
        ...

    def describe(self, job: Job) -> EngineEvent | None:
        """The engine's current truth about a started job, in the shape of the event that would have said
        it (events are best effort: the sweeper replays what was lost). None if the job has no resource."""
        ...

    def interpret(self, event: EngineEvent, job: Job) -> StateUpdate | None:
        """The job state an event implies, or None when it implies no change."""
        ...

    def inspect(self, job: Job, event: EngineEvent, update: StateUpdate) -> Inspection | None:
        """Details worth recording for a terminal update (None: nothing to ask the engine)."""
        ...

    def stop(self, job: Job) -> None:
        """Terminate or cancel the job's engine resource."""
        ...

    def list_running(
        self, until: float | None = None, marks: MutableMapping[str, str] | None = None
    ) -> list[RunningResource]:
        """emr-dispatch's resources the engine is running now (by name), for the orphan search; pages it could only
        list after ``until`` (epoch seconds) are left for the next search, which begins where ``marks`` (kept by the
        caller between searches, token_bucket.ListPacer.pages) say this one was cut."""
        ...

    def stop_resource(self, resource: RunningResource) -> None:
        """Terminate or cancel a resource no job owns."""
        ...

    def on_terminal(self, job: Job) -> list[str]:
        """Housekeeping once a job ended (e.g. stop an idle managed application); actions taken."""
        ...

    def console_link(self, job: Job) -> str: ...

    def log_locations(self, job: Job) -> list[str]: ...


def placeholder_values(job: Job, route: Route, work_bucket: str) -> dict[str, str]:
    """Values of every placeholder for this job. Input placeholders come from its first input."""
    values = {
        "work_bucket": work_bucket,
        "route": route.name,
        "job_id": job.job_id,
        "attempt": str(job.attempt),
    }
    values["output_uri"] = render(route.output, values) if route.output else ""
    first = job.inputs[0] if job.inputs else None
    values["inputs_manifest_uri"] = first.manifest_uri if first else ""
    if first:
        values.update(bucket=first.bucket, key=first.key, input_uri=first.uri)
    return values


def single_step(route: Route) -> Step:
    """The one step of a job-run engine's route (its declaration allows one; `routes check` refused more)."""
    steps = route.run_steps()
    if len(steps) != 1:  # unreachable for a validated route
        raise EngineError(
            f"route {route.name}: {route.engine} runs one step per job, not {len(steps)}", INVALID_REQUEST
        )
    return steps[0]


def spark_submit_parts(
    job: Job, route: Route, work_bucket: str, spark: SparkJob | None = None
) -> tuple[list[str], str, list[str]]:
    """(spark-submit parameters, entry point, application arguments) of a Spark step (default: the route's only
    step), rendered.

    Key-derived values only ever appear in the application arguments, after the entry point, where
    spark-submit hands them to the application instead of reading them as its own options."""
    values = placeholder_values(job, route, work_bucket)
    if spark is None:
        step = single_step(route)
        if step.spark is None:
            raise EngineError(f"route {route.name}: step {step.name!r} is not a Spark step", INVALID_REQUEST)
        spark = step.spark
    arguments = render_data(job, route, [(f"arguments[{i}]", a) for i, a in enumerate(spark.arguments)], values)
    return (
        [render(parameter, values) for parameter in spark.spark_submit_parameters],
        render(spark.entry_point, values),
        arguments,
    )


def render_data(job: Job, route: Route, templates: list[tuple[str, str]], values: dict[str, str]) -> list[str]:
    """Rendered data arguments (application or command arguments); an empty one is refused before any engine
    call: `routes check` refuses what it can foresee ({output_uri} without output); what only an object can
    cause (a marker at the bucket's root makes {key} empty) is refused here."""
    rendered = [render(template, values) for _, template in templates]
    empty = blank_arguments(rendered)
    if empty:
        positions = ", ".join(f"{templates[index][0]} ({templates[index][1]!r})" for index in empty)
        raise EngineError(f"route {route.name}: {positions} rendered empty for job {job.job_id}", INVALID_REQUEST)
    return rendered


def spark_driver(job: Job, route: Route, work_bucket: str) -> dict[str, Any]:
    """The Spark submit driver of the job-run engines (EMR Serverless sparkSubmit, EMR on EKS
    sparkSubmitJobDriver): the same three fields in both APIs, from the route's only step."""
    parameters, entry_point, arguments = spark_submit_parts(job, route, work_bucket)
    driver: dict[str, Any] = {"entryPoint": entry_point, "entryPointArguments": arguments}
    if parameters:
        driver["sparkSubmitParameters"] = " ".join(parameters)
    return driver


def client_token(job: Job) -> str:
    """Idempotency token of one attempt: a retried call sends the same, a new attempt a new one.
    Job ids are [a-z0-9-] and at most 57 characters: ``<job id>-a<attempt>`` fits the 64-character limit up to
    attempt 99999; beyond, a digest of it (still per attempt, still [a-z0-9])."""
    token = f"{job.job_id}-a{job.attempt}"
    if len(token) <= CLIENT_TOKEN_MAX:
        return token
    return hashlib.sha256(token.encode()).hexdigest()[:CLIENT_TOKEN_MAX]


def tags_for(job: Job, route: Route) -> dict[str, str]:
    from emr_dispatch import MANAGED_BY

    # The keys are limits.OWN_TAGS.
    return {
        **route.tags,
        "managed-by": MANAGED_BY,
        "route": route.name,
        "job-id": job.job_id,
        "attempt": str(job.attempt),
    }


QUOTA_CODES = frozenset({"ServiceQuotaExceededException", "LimitExceededException"})
QUOTA_WORDS = ("active clusters", "concurrent", "queue is full", "maximum number of resources", "quota")
"""A ValidationException that names one of these is a capacity quota, not a bad request (docs/decisions.md)."""


def start_error(exc: Exception, action: str, job: Job) -> EngineError | EngineThrottledError:
    """A refused start: a quota (rate or capacity) is a reason to wait; anything else is final. A request
    botocore refuses before sending it (ParamValidationError) is final too: no retry can change it."""
    from botocore.exceptions import ParamValidationError

    if isinstance(exc, ParamValidationError):
        return EngineError(f"{action} request of job {job.job_id} is invalid: {exc}", INVALID_REQUEST)
    code = error_code(exc)
    if code in THROTTLING_CODES:
        return EngineThrottledError(f"{action} throttled for job {job.job_id}")
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).lower()
    if code in QUOTA_CODES or (code == "ValidationException" and any(word in message for word in QUOTA_WORDS)):
        return EngineQuotaError(f"{action} refused job {job.job_id} for a quota: {exc}")
    return EngineError(f"{action} refused job {job.job_id}: {exc}", code or "ENGINE_ERROR")


INVALID_REQUEST = "InvalidRequest"
"""EngineError code of a start request that cannot be valid (rejected by botocore or by emr-dispatch's own
check against the engine's limits) — the job ends FAILED with START_InvalidRequest, never retried."""


def blank_arguments(arguments: list[str]) -> list[int]:
    """Positions of rendered application arguments that are empty or only spaces: EMR on EKS refuses them
    (EntryPointArgument .*\\S.*), and on any engine they shift the application's positional arguments."""
    return [index for index, argument in enumerate(arguments) if blank(argument)]


def parse_reason(raw: Any) -> tuple[str | None, str | None]:
    """EMR's stateChangeReason is JSON inside JSON; accept a string, an object or nothing."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return None, raw
    if not isinstance(raw, dict):
        return None, None
    code = raw.get("code") or raw.get("Code")
    message = raw.get("message") or raw.get("Message")
    return (str(code) if code else None), (str(message) if message else None)


def text_field(detail: dict[str, Any], *names: str) -> str | None:
    """The first of several possible field names that holds a non-empty string (defensive parsing)."""
    for name in names:
        value = detail.get(name)
        if isinstance(value, str) and value:
            return value
    return None
