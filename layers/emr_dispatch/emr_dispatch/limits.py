"""The engines' API limits that values emr-dispatch derives from route names, keys and tags must respect.

botocore checks types, required members and minimums only; the maximum lengths, patterns and counts below are
what AWS refuses. Each is taken from botocore's service model (``botocore/data/<service>/*/service-2.json``)
or, where the model says nothing (EMR on EC2 tags), from AWS's documentation; tests/unit/test_api_limits.py
reads them back from the installed models so a drift fails a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_MAX = {
    "emr-ec2": 256,  # emr RunJobFlow Name: XmlStringMaxLen256
    "emr-serverless": 256,  # emr-serverless StartJobRun name: String256, .*\S.*
    "emr-eks": 64,  # emr-containers StartJobRun name: ResourceNameString, [\.\-_/#A-Za-z0-9]+
}
CLIENT_TOKEN_MAX = 64
"""emr-serverless ClientToken (1-64, [A-Za-z0-9._-]+) and emr-containers ClientToken (1-64, .*\\S.*)."""

EKS_ENTRY_POINT_MAX = 256
"""emr-containers EntryPointPath: 1-256 (EMR Serverless allows 4096)."""

ENTRY_POINT_MAX = {"emr-ec2": 10280, "emr-serverless": 4096, "emr-eks": EKS_ENTRY_POINT_MAX}
ARGUMENT_MAX = {"emr-ec2": 10280, "emr-serverless": None, "emr-eks": 10280}


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


# EMR on EC2's model limits no tag: its Management Guide ("Restrictions that apply to tagging resources") applies
# EC2's (50 tags, keys up to 128 and values up to 256 characters) and allows "any alphabetic character in any
# language, any numeric character, white spaces, invisible separators, and _ . : / = + - @".
_EMR_TAG_TEXT = r"[\w\s.:/=+\-@]"
TAG_RULES = {
    "emr-ec2": TagRules(
        max_tags=50,
        key_max=128,
        value_max=256,
        key_pattern=re.compile(_EMR_TAG_TEXT + "+"),
        value_pattern=re.compile(_EMR_TAG_TEXT + "*"),
        source="Amazon EMR Management Guide, tag restrictions",
    ),
    # The model's TagMap allows 200; the EMR Serverless User Guide ("Tagging limitations") says 50 user-created
    # tags per resource: the stricter one holds.
    "emr-serverless": TagRules(
        max_tags=50,
        key_max=128,
        value_max=256,
        key_pattern=re.compile(r"[A-Za-z0-9 /_.:=+@-]+"),
        value_pattern=re.compile(r"[A-Za-z0-9 /_.:=+@-]*"),
        source="emr-serverless TagKey, TagValue; EMR Serverless User Guide, tagging limitations",
    ),
    "emr-eks": TagRules(
        max_tags=50,
        key_max=128,
        value_max=256,
        key_pattern=re.compile(r".*\S.*", re.DOTALL),
        value_pattern=re.compile(r".*\S.*", re.DOTALL),
        source="emr-containers TagMap, String128, StringEmpty256 (.*\\S.*: never empty)",
    ),
}

NON_BLANK = re.compile(r".*\S.*", re.DOTALL)
"""emr-containers EntryPointArgument and both engines' SparkSubmitParameters: at least one non-space character."""


def blank(value: str) -> bool:
    return NON_BLANK.fullmatch(value) is None
