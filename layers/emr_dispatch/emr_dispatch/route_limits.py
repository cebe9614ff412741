"""A route against its engine's API limits: what every start would be refused for (tags, blank arguments, entry
point length), found once when the routes file is loaded instead of at every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emr_dispatch.engines import declaration
from emr_dispatch.limits import OWN_TAGS, blank
from emr_dispatch.placeholders import ALL_PLACEHOLDERS, placeholders_in, render

if TYPE_CHECKING:
    from emr_dispatch.routes import RouteFields

_LONGEST_VALUES = {
    "work_bucket": "b" * 63,  # S3 bucket names: at most 63 characters
    "attempt": "99",
    "output_uri": "s" * 1024,
    "inputs_manifest_uri": "s" * 1024,
}
"""The longest values the static placeholders can take, to bound what an entry point renders to."""


def limit_problems(route: RouteFields) -> list[str]:
    """What the engine's API would refuse at every start of this route (each engine's declaration cites its
    limits), one line per problem: refused once, when the routes file is loaded."""
    limits = declaration(route.engine).limits
    problems = limits.tags.problems(route.tags, len(OWN_TAGS))
    possibly_empty = possibly_empty_placeholders(route)
    spark = route.job
    for index, argument in enumerate(spark.arguments):
        rendered = render(argument, {name: "" if name in possibly_empty else "x" for name in ALL_PLACEHOLDERS})
        if blank(rendered):
            empty_here = sorted(placeholders_in(argument) & possibly_empty.keys())
            because = "; ".join(possibly_empty[name] for name in empty_here)
            problems.append(
                f"job.arguments[{index}]: {argument!r} can render an empty argument"
                + (f" ({because})" if because else "")
                + " — EMR on EKS refuses it and on every engine it shifts the application's arguments"
            )
    for index, parameter in enumerate(spark.spark_submit_parameters):
        if blank(parameter) or (placeholders_in(parameter) & possibly_empty.keys()):
            problems.append(f"job.spark_submit_parameters[{index}]: {parameter!r} can render empty")
    if "output_uri" in placeholders_in(spark.entry_point) and "output_uri" in possibly_empty:
        problems.append("job.entry_point: uses {output_uri} but the route has no output")
    job_id = "j" * (len(route.name) + 17)  # <route>-<16 hex digits>
    longest = len(render(spark.entry_point, {**_LONGEST_VALUES, "route": route.name, "job_id": job_id}))
    if longest > limits.entry_point_max:
        problems.append(
            f"job.entry_point: can render {longest} characters; {route.engine} allows"
            f" {limits.entry_point_max} (EntryPointPath)"
        )
    return problems


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
