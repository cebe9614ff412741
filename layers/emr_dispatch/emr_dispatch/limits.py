"""API limits that values emr-dispatch derives from route names, keys and tags must respect: the shared ones
here, each engine's own in its declaration (engines/<engine>/__init__.py, ApiLimits).

botocore checks types, required members and minimums only; the maximum lengths, patterns and counts are
what AWS refuses. Each is taken from botocore's service model (``botocore/data/<service>/*/service-2.json``)
or, where the model says nothing (EMR on EC2 tags), from AWS's documentation; tests/unit/test_api_limits.py
reads them back from the installed models so a drift fails a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLIENT_TOKEN_MAX = 64
"""emr-serverless ClientToken (1-64, [A-Za-z0-9._-]+) and emr-containers ClientToken (1-64, .*\\S.*)."""

OWN_TAGS = ("managed-by", "route", "job-id", "attempt")
"""The tags emr-dispatch puts on everything it starts: they count against each engine's tag limit."""


@dataclass(frozen=True)
class TagRules:
    """What an engine accepts as tags on the resource emr-dispatch starts."""

    max_tags: int
    key_max: int
    value_max: int
    key_pattern: re.Pattern[str]
    value_pattern: re.Pattern[str]
    source: str

    def problems(self, tags: dict[str, str], own_tags: int) -> list[str]:
        """Why these route tags would be refused next to emr-dispatch's ``own_tags``, one line per problem."""
        found = []
        if len(tags) + own_tags > self.max_tags:
            found.append(
                f"{len(tags)} tags plus emr-dispatch's {own_tags} exceed the {self.max_tags} a resource may carry"
                f" ({self.source})"
            )
        for key, value in tags.items():
            if key.lower().startswith("aws:") or value.lower().startswith("aws:"):
                found.append(f"tags.{key}: the aws: prefix is reserved for AWS, in keys and values")
            if not 1 <= len(key) <= self.key_max or not self.key_pattern.fullmatch(key):
                found.append(
                    f"tags key {key!r}: must be 1-{self.key_max} characters matching {self.key_pattern.pattern}"
                )
            if len(value) > self.value_max or not self.value_pattern.fullmatch(value):
                found.append(
                    f"tags.{key} value {value!r}: must be at most {self.value_max} characters matching"
                    f" {self.value_pattern.pattern} ({self.source})"
                )
        return found


NON_BLANK = re.compile(r".*\S.*", re.DOTALL)
"""emr-containers EntryPointArgument and both engines' SparkSubmitParameters: at least one non-space character."""


def blank(value: str) -> bool:
    return NON_BLANK.fullmatch(value) is None
