"""Hive jobs on EMR Serverless: the StartJobRun ``jobDriver.hive`` of a route's Hive step.

EMR Serverless takes a Hive job's options as ONE string, ``parameters``, of ``--hiveconf name=value`` and
``--hivevar name=value`` flags that the service splits itself (EMR Serverless User Guide, "Using Hive
configurations when you run EMR Serverless jobs"; it refuses other flags at StartJobRun: "Flag '-hivevar' is
not supported", aws-samples/emr-serverless-samples#46). How it splits — on spaces only, or with shell quoting
— is not documented, so nothing is quoted: every word emr-dispatch puts there is made only of characters that
no splitting rule reads as a separator, a quote, an escape or a substitution (``WORD_CHARACTERS``). A Hive
variable whose value comes from an object key that is not such a word is refused per object, when the object
arrives (``key_refusal``): skipped with the reason, never crashing a batch, never started.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from emr_dispatch.engines.base import INVALID_REQUEST, placeholder_values, single_step
from emr_dispatch.errors import EngineError
from emr_dispatch.placeholders import INPUT_PLACEHOLDERS, placeholders_in, render

if TYPE_CHECKING:
    from emr_dispatch.jobs import Job
    from emr_dispatch.route_steps import HiveStep, Step
    from emr_dispatch.routes import RouteFields

QUERY_MAX = 10280
INIT_QUERY_FILE_MAX = 256
PARAMETERS_MAX = 102400
"""emr-serverless Hive.query, Hive.initQueryFile, Hive.parameters: String, 1 to these lengths, pattern .*\\S.*
(botocore emr-serverless service-2.json, shape Hive)."""

HIVE_PREFIX = "emr-serverless-hive/"
"""Key prefix, in the work bucket, of the Hive scratch and warehouse directories a route does not set."""

DEFAULT_HIVECONF = {
    "hive.exec.scratchdir": "s3://{work_bucket}/" + HIVE_PREFIX + "scratch/",
    "hive.metastore.warehouse.dir": "s3://{work_bucket}/" + HIVE_PREFIX + "warehouse/",
}
"""The two properties every EMR Serverless Hive example in the User Guide passes (the job role must read and
write both): defaults under the work bucket, a route's ``hiveconf`` overrides either."""

WORD_CHARACTERS = "letters, digits and . _ ~ / : = @ + , % -"
_WORD = re.compile(r"[A-Za-z0-9._~/:=@+,%-]")


def word_problem(value: str) -> str | None:
    """Why ``value`` cannot be one word of the parameters string, or None. Non-ASCII letters and digits stay
    (keys in any script); spaces, quotes, backslashes, ``$`` (Hive's own ``${...}`` substitution), ``;`` and
    every other punctuation are refused: each could end the word, open a quote or change the query."""
    for position, character in enumerate(value):
        if _WORD.fullmatch(character) or (ord(character) > 127 and character.isalnum()):
            continue
        return f"{character!r} (U+{ord(character):04X}) at {position}"
    return None


def hive_parameters(step: HiveStep, values: Mapping[str, str], checked: Mapping[str, str] | None = None) -> str:
    """The ``parameters`` string: the default and the route's ``--hiveconf`` properties, then ``--hivevar``
    variables, each ``name=value`` rendered and checked to stay one word (EngineError otherwise). ``checked``:
    the values the check renders with (default ``values``); `routes explain` without a stack renders the work
    bucket as ``<WorkBucket>``, which is no bucket name, so its check stands a real-looking bucket in."""
    conf = {**DEFAULT_HIVECONF, **step.hiveconf}
    words: list[str] = []
    for flag, where, settings in (("--hiveconf", "hiveconf", conf), ("--hivevar", "variables", step.variables)):
        for name, template in settings.items():
            value = render(template, values)
            problem = word_problem(render(template, checked or values))
            if problem:
                raise EngineError(
                    f"hive {where}.{name} renders {value!r}, which has {problem}: EMR Serverless reads its Hive"
                    f" parameters as one string, so only {WORD_CHARACTERS} are passed",
                    INVALID_REQUEST,
                )
            words += [flag, f"{name}={value}"]
    return " ".join(words)


def hive_driver(job: Job, route: RouteFields, step: HiveStep, work_bucket: str) -> dict[str, Any]:
    """StartJobRun ``jobDriver.hive`` of one attempt: ``query`` (the script), ``initQueryFile`` and
    ``parameters``, within the model's lengths (EngineError INVALID_REQUEST otherwise: no start could pass)."""
    values = placeholder_values(job, route, work_bucket)
    driver = {"query": render(step.script, values)}
    if step.init_script:
        driver["initQueryFile"] = render(step.init_script, values)
    # A bucket name is one word (S3 bucket naming rules): the check stands one in for the work bucket, whatever
    # `routes explain` shows in its place; everything else is checked as rendered.
    checked = placeholder_values(job, route, "work-bucket")
    driver["parameters"] = hive_parameters(step, values, checked)
    for field, limit in (("query", QUERY_MAX), ("initQueryFile", INIT_QUERY_FILE_MAX), ("parameters", PARAMETERS_MAX)):
        if len(driver.get(field, "")) > limit:
            raise EngineError(
                f"hive {field} of job {job.job_id} is {len(driver[field])} characters; EMR Serverless allows {limit}",
                INVALID_REQUEST,
            )
    return driver


def key_refusal(step: HiveStep, key: str) -> str | None:
    """Why an object key is refused by this Hive step, or None: a key that a variable would carry but that is
    not one word (a space, a quote, "$", ";"…) — the object is skipped with this reason."""
    carriers = sorted(name for name, value in step.variables.items() if placeholders_in(value) & INPUT_PLACEHOLDERS)
    problem = word_problem(key) if carriers else None
    if problem is None:
        return None
    return (
        f"object key has {problem}: hive variable {carriers[0]} would carry it into EMR Serverless' one-string Hive"
        f" parameters, where only {WORD_CHARACTERS} are passed"
    )


def route_problems(step: HiveStep, where: str) -> list[str]:
    """What every start of this Hive step would be refused for, found when the routes file is loaded: the
    route's own text in the parameters (hiveconf values, the fixed part of variable values) that is not one
    word. Rendered values are checked again at each start (hive_parameters)."""
    problems = []
    for field, settings in (("hiveconf", step.hiveconf), ("variables", step.variables)):
        for name, template in settings.items():
            fixed = render(template, {placeholder: "x" for placeholder in placeholders_in(template)})
            problem = word_problem(fixed)
            if problem:
                problems.append(
                    f"{where}.{field}.{name}: {template!r} has {problem}; EMR Serverless reads Hive parameters as"
                    f" one string: use only {WORD_CHARACTERS}"
                )
    return problems


def hive_step(route: RouteFields) -> HiveStep | None:
    """The route's Hive step, if its one step is one (EMR Serverless runs one step per job: its declaration)."""
    return single_step(route).hive


def steps_problems(settings: Any, steps: Sequence[Step]) -> list[str]:
    """What EMR Serverless refuses in a route's steps beyond their kinds and count (the declaration's
    steps_check): a job run has no action on failure, a Hive step's own text must stay one word in the
    parameters string, and its init script must fit initQueryFile."""
    problems = [
        f"steps[{index}].action_on_failure: EMR Serverless has no action on failure (EMR on EC2 steps have)"
        for index, step in enumerate(steps)
        if step.action_on_failure != "terminate_cluster"
    ]
    for index, step in enumerate(steps):
        if step.hive is None:
            continue
        where = f"steps[{index}].hive"
        problems += route_problems(step.hive, where)
        if step.hive.init_script:
            longest = len(render(step.hive.init_script, _LONGEST_STATIC))
            if longest > INIT_QUERY_FILE_MAX:
                problems.append(
                    f"{where}.init_script: can render {longest} characters; EMR Serverless allows"
                    f" {INIT_QUERY_FILE_MAX} (Hive.initQueryFile)"
                )
    return problems


def steps_key_refusal(steps: Sequence[Step], key: str) -> str | None:
    """The declaration's key_check: why a route with these steps refuses an object key (key_refusal)."""
    return next((reason for step in steps if step.hive and (reason := key_refusal(step.hive, key))), None)


_LONGEST_STATIC = {
    "work_bucket": "b" * 63,
    "route": "r" * 40,
    "job_id": "j" * 57,
    "attempt": "99",
    "output_uri": "s" * 1024,
    "inputs_manifest_uri": "s" * 1024,
}
"""The longest values a script's static placeholders take (S3 bucket names ≤ 63, route names ≤ 40, job ids ≤ 57)."""
