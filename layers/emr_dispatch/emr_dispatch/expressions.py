"""Conditional writes without hand-written expression strings: ``Condition`` and ``Update`` build DynamoDB's
ConditionExpression, UpdateExpression (SET, REMOVE, ADD) and their placeholders from calls.

``#attr`` in a clause names an attribute: every name used is declared in ExpressionAttributeNames (so reserved
words such as ``state``, ``count`` or ``bytes`` need no care). ``:value`` is one of the keyword values, serialized
once; binding one placeholder to two different values is refused. Nothing unused is sent (DynamoDB refuses unused
names and values: "Value provided in ExpressionAttributeValues unused in expressions").
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Self, cast

from boto3.dynamodb.types import TypeSerializer

_SERIALIZER = TypeSerializer()


def serialize(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], _SERIALIZER.serialize(value))


_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)")


class Condition:
    """A condition expression and its placeholders. ``when`` adds a clause (ANDed): ``#attr`` names an attribute
    (declared automatically), ``:value`` one of the keyword values (serialized)."""

    def __init__(self) -> None:
        self._clauses: list[str] = []
        self._values: dict[str, Any] = {}

    def when(self, clause: str, **values: Any) -> Self:
        self._clauses.append(clause)
        self._bind(values)
        return self

    def when_in(self, attribute: str, options: Iterable[str], prefix: str | None = None) -> Self:
        """``#attribute IN (...)``, a placeholder per option (DynamoDB: at most 100 operands)."""
        stem = prefix or attribute
        names = {f"{stem}{index}": option for index, option in enumerate(options)}
        return self.when(f"#{attribute} IN ({', '.join(':' + name for name in names)})", **names)

    def _bind(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self._values and self._values[name] != value:
                raise ValueError(f"placeholder :{name} bound twice to different values")
            self._values[name] = value

    @property
    def condition(self) -> str:
        return " AND ".join(self._clauses)

    def _expressions(self) -> list[str]:
        return [self.condition]

    def request(self) -> dict[str, Any]:
        return self.condition_request()

    def condition_request(self) -> dict[str, Any]:
        """ConditionExpression (if any), ExpressionAttributeNames and ExpressionAttributeValues (if any)."""
        request: dict[str, Any] = {}
        if self.condition:
            request["ConditionExpression"] = self.condition
        names = sorted({name for text in self._expressions() for name in _NAME.findall(text)})
        if names:
            request["ExpressionAttributeNames"] = {f"#{name}": name for name in names}
        if self._values:
            request["ExpressionAttributeValues"] = {f":{name}": serialize(v) for name, v in self._values.items()}
        return request


class Update(Condition):
    """An UpdateExpression (SET, REMOVE, ADD) and its condition, as one request fragment."""

    def __init__(self) -> None:
        super().__init__()
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []

    def set(self, attribute: str, value: Any, placeholder: str | None = None) -> Self:
        """``#attribute = :placeholder`` (the placeholder defaults to the attribute's name)."""
        name = placeholder or attribute
        self._bind({name: value})
        self._set.append(f"#{attribute} = :{name}")
        return self

    def set_expression(self, attribute: str, expression: str, **values: Any) -> Self:
        """``#attribute = expression``: ``if_not_exists``, ``list_append``, arithmetic..."""
        self._bind(values)
        self._set.append(f"#{attribute} = {expression}")
        return self

    def append(self, attribute: str, items: list[Any], placeholder: str | None = None) -> Self:
        """Items appended to a list attribute, created if missing."""
        name = placeholder or attribute
        return self.set_expression(
            attribute, f"list_append(if_not_exists(#{attribute}, :empty), :{name})", empty=[], **{name: items}
        )

    def remove(self, *attributes: str) -> Self:
        self._remove += [f"#{attribute}" for attribute in attributes if f"#{attribute}" not in self._remove]
        return self

    def add(self, attribute: str, amount: int | Decimal | builtins.set[str], placeholder: str | None = None) -> Self:
        """``ADD``: a number added, or strings added to a string set (either created if missing)."""
        name = placeholder or attribute
        self._bind({name: amount})
        self._add.append(f"#{attribute} :{name}")
        return self

    @property
    def expression(self) -> str:
        parts = [
            (word, clauses) for word, clauses in (("SET", self._set), ("REMOVE", self._remove), ("ADD", self._add))
        ]
        return " ".join(f"{word} {', '.join(clauses)}" for word, clauses in parts if clauses)

    def _expressions(self) -> list[str]:
        return [self.expression, self.condition]

    def request(self) -> dict[str, Any]:
        return {"UpdateExpression": self.expression, **super().request()}
