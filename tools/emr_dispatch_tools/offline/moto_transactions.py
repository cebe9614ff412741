"""moto's TransactWriteItems, with the same all-or-nothing answer at a cost that does not grow with the table.

moto backs up every table a transaction names with ``copy.deepcopy`` of the whole table (once per item that
names it) so that it can roll back: a ledger of 10,000 jobs made each claim cost seconds, and a burst's wall time
grew with the square of its size (the quota burst bench's profile: 60% of the time in that deepcopy). This
backs up only the items the transaction touches (at most 100, by their keys) and puts exactly those back when
moto cancels the transaction; the answer, the errors and the table afterwards are the same as moto's own.
"""

from __future__ import annotations

import contextlib
import copy
import types
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type as _dynamo_type
from moto.dynamodb.models.table import Table

_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")


def _no_table_copy(original: Callable[..., Any]) -> Callable[..., Any]:
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else original(value, memo)

    return deepcopy


def _touched(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item as it is now or None) for each item the transaction names."""
    touched = []
    for entry in transact_items:
        for operation, request in entry.items():
            if operation not in _OPERATIONS or request.get("TableName") not in backend.tables:
                continue
            table = backend.tables[request["TableName"]]
            attributes = request["Item"] if operation == "Put" else request.get("Key", {})
            if table.hash_key_attr not in attributes:
                continue  # moto answers this one with a validation error, before any write
            hash_key = _dynamo_type.DynamoType(attributes[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attributes:
                    continue
                range_key = _dynamo_type.DynamoType(attributes[table.range_key_attr])
            current = table.get_item(hash_key, range_key)
            touched.append((table, hash_key, range_key, copy.deepcopy(current)))
    return touched


def _restore(touched: list[tuple[Table, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, before in reversed(touched):
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
            continue
        partition = table.items[hash_key]
        if before is None:
            partition.pop(range_key, None)
            if not partition:
                del table.items[hash_key]
        else:
            partition[range_key] = before


@contextlib.contextmanager
def item_level_rollback() -> Iterator[None]:
    """Inside the block, moto's TransactWriteItems backs up and restores only the items it names."""
    import moto.dynamodb.models as models

    original: Callable[..., Any] = DynamoDBBackend.transact_write_items
    module_copy = getattr(models, "copy")  # noqa: B009 - moto's module does not export it

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        touched = _touched(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            _restore(touched)  # moto put its (uncopied, so unchanged) table objects back; the items are ours
            raise

    shim = types.SimpleNamespace(**{name: getattr(copy, name) for name in ("copy", "deepcopy")})
    shim.deepcopy = _no_table_copy(copy.deepcopy)
    setattr(models, "copy", shim)  # noqa: B010
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        setattr(models, "copy", module_copy)  # noqa: B010
