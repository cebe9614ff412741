"""A route against its engine's API limits: what every start would be refused for (tags, blank arguments, entry
point length), found once when the routes file is loaded instead of at every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emr_dispatch import engines
from emr_dispatch.limits import OWN_TAGS, blank
from emr_dispatch.placeholders import ALL_PLACEHOLDERS, placeholders_in, render

if TYPE_CHECKING:
    from emr_dispatch.route_steps import Step
    from emr_dispatch.routes import RouteFields

STEP_NAME_MAX = 256
"""emr StepConfig.Name: XmlStringMaxLen256 (botocore's emr model)."""

_LONGEST_VALUES = {
    "work_bucket": "b" * 63,  # S3 bucket names: at most 63 characters
    "attempt": "99",
    "output_uri": "s" * 1024,
    "inputs_manifest_uri": "s" * 1024,
}
"""The longest values the static placeholders can take, to bound what an entry point renders to."""

JOB_ITEM_MAX = 400 * 1024
"""DynamoDB's item size limit, attribute names and values together (DynamoDB Developer Guide, "Service, account,
and table quotas in Amazon DynamoDB"): every job item carries its route's snapshot."""
JOB_FIELDS_RESERVE = 100 * 1024
"""Left on a job item for everything but the snapshot and the steps map: input, engine details, attempts, alert
and reasons (a few KB in practice; a quarter of the item kept so a long failure message never fails the write)."""
_STEP_ENTRY_OVERHEAD = 160
"""A step's entry in the job's ``steps`` map beside its name: the key, attribute names, state, rank, step id and
two times (job_steps.py)."""


def limit_problems(route: RouteFields) -> list[str]:
    """What the engine's API would refuse at every start of this route (each engine's declaration cites its
    limits), one line per problem: refused once, when the routes file is loaded."""
    limits = engines.declaration(route.engine).limits
    problems = limits.tags.problems(route.tags, len(OWN_TAGS))
    possibly_empty = possibly_empty_placeholders(route)
    longest_values = {**_LONGEST_VALUES, "route": route.name, "job_id": "j" * (len(route.name) + 17)}
    for where, step in _steps_with_fields(route):
        problems += _step_problems(route.engine, limits.entry_point_max, where, step, possibly_empty, longest_values)
        shortest = sum(len(render(text, dict.fromkeys(ALL_PLACEHOLDERS, ""))) for text in _step_texts(step))
        if limits.step_total_max is not None and shortest > limits.step_total_max:
            problems.append(
                f"{where.rstrip('.')}: its arguments render at least {shortest} characters; {route.engine} allows"
                f" {limits.step_total_max} in one step"
            )
    problem = snapshot_problem(route)
    return problems + ([problem] if problem else [])


def snapshot_problem(route: RouteFields) -> str | None:
    """Why no job of this route could be written (its snapshot and steps map outgrow a DynamoDB item), or None."""
    from emr_dispatch import NAME_PREFIX

    snapshot = len(route.snapshot().encode())
    steps_map = sum(len((NAME_PREFIX + step.name).encode()) + _STEP_ENTRY_OVERHEAD for step in route.run_steps())
    budget = JOB_ITEM_MAX - JOB_FIELDS_RESERVE
    if snapshot + steps_map <= budget:
        return None
    return (
        f"the route is {snapshot // 1024} KB as each job item carries it (its snapshot) and its steps' ledger entries"
        f" {steps_map // 1024} KB: together at most {budget // 1024} KB (DynamoDB's item holds {JOB_ITEM_MAX // 1024}"
        " KB, the rest is kept for the job's own fields): shorten the arguments or split the steps across routes"
    )


def _step_texts(step: Step) -> list[str]:
    """Every template a step's arguments are rendered from."""
    if step.spark is not None:
        return [step.spark.entry_point, *step.spark.spark_submit_parameters, *step.spark.arguments]
    if step.hive is not None:
        hive = step.hive
        variables = [f"{name}={value}" for name, value in (hive.variables | hive.hiveconf).items()]
        return [hive.script, *([hive.init_script] if hive.init_script else []), *variables]
    return list(step.command.command) if step.command is not None else []


def _steps_with_fields(route: RouteFields) -> list[tuple[str, Step]]:
    """(field prefix, step): ``job.`` for the single-job form, ``steps[i].<kind>.`` for each step."""
    if route.steps is None:
        return [("job.", step) for step in route.run_steps()]
    return [(f"steps[{index}].{step.kind}.", step) for index, step in enumerate(route.steps)]


def _step_problems(
    engine: str,
    entry_point_max: int,
    where: str,
    step: Step,
    possibly_empty: dict[str, str],
    longest_values: dict[str, str],
) -> list[str]:
    from emr_dispatch import NAME_PREFIX

    problems = []
    if len(NAME_PREFIX + step.name) > STEP_NAME_MAX:
        problems.append(
            f"{where.split('.')[0]}.name: EMR names the step {NAME_PREFIX}<name>: at most"
            f" {STEP_NAME_MAX - len(NAME_PREFIX)} characters"
        )
    for field, argument in _data_fields(step):
        rendered = render(argument, {name: "" if name in possibly_empty else "x" for name in ALL_PLACEHOLDERS})
        if step.hive is None and blank(rendered):
            empty_here = sorted(placeholders_in(argument) & possibly_empty.keys())
            because = "; ".join(possibly_empty[name] for name in empty_here)
            problems.append(
                f"{where}{field}: {argument!r} can render an empty argument"
                + (f" ({because})" if because else "")
                + " — EMR on EKS refuses it and on every engine it shifts the application's arguments"
            )
    statics: list[tuple[str, str]] = []
    if step.spark is not None:
        for index, parameter in enumerate(step.spark.spark_submit_parameters):
            if blank(parameter) or (placeholders_in(parameter) & possibly_empty.keys()):
                problems.append(f"{where}spark_submit_parameters[{index}]: {parameter!r} can render empty")
        statics.append(("entry_point", step.spark.entry_point))
    if step.hive is not None:
        statics += [("script", step.hive.script)] + (
            [("init_script", step.hive.init_script)] if step.hive.init_script else []
        )
    if step.command is not None:
        statics.append(("command[0]", step.command.command[0]))
    for field, template in statics:
        if "output_uri" in placeholders_in(template) and "output_uri" in possibly_empty:
            problems.append(f"{where}{field}: uses {{output_uri}} but the route has no output")
        longest = len(render(template, longest_values))
        if longest > entry_point_max:
            problems.append(
                f"{where}{field}: can render {longest} characters; {engine} allows {entry_point_max} (EntryPointPath)"
            )
    return problems


def _data_fields(step: Step) -> list[tuple[str, str]]:
    """(field relative to the step's kind, template) of every data place of a step."""
    prefix = f"{step.kind}."
    return [(where.removeprefix(prefix), template) for where, template in step.data_arguments()]


def possibly_empty_placeholders(route: RouteFields) -> dict[str, str]:
    """Placeholders that can render empty for this route, and why."""
    empty = {}
    if route.output is None:
        empty["output_uri"] = "{output_uri} is empty without output"
    if route.batching.mode != "batch":
        empty["inputs_manifest_uri"] = "{inputs_manifest_uri} is empty unless batching mode is batch"
    if route.batching.mode == "marker" and not route.match.prefix:
        empty["key"] = "{key} is the marker's folder: empty for a marker at the bucket's root"
    return empty
