"""moto's DynamoDB at a cost that does not grow with the table, with the same answers (the quota burst's profile).

``item_level_rollback``: moto's TransactWriteItems backs up every table a transaction names with ``copy.deepcopy``
of the whole table (once per item that names it) so that it can roll back: a ledger of thousands of jobs made
each claim cost a good part of a second, and a burst's wall time grew with the square of its size (60% of the
quota burst's time was that deepcopy). This backs up only the items the transaction touches (at most 100, by
their keys) and puts exactly those back when moto cancels the transaction: the answer, the errors and the table
afterwards are the same as moto's own.

``partition_queries``: moto's Query lists every item of the table, sorted, then keeps those of the partition (or
of the index key) asked for: each query cost O(n log n) in the table's size. A query of the table reads only its
partition; a query of an index still checks every item (moto keeps no index) but skips the sort it redoes after.

``faster_moto`` installs both. Tests (tests/integration/test_moto_speed.py) hold both to moto's own answers.
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


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """Inside the block, moto's Query reads the asked partition only (table) or skips the whole-table sort (index)."""
    original: Callable[..., Any] = Table.query

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name") if len(args) < 7 else args[6]
        if index_name:
            every = [item for partition in self.items.values() for item in _items_of(self, partition)]
            self.all_items = lambda: every  # type: ignore[method-assign]  # sorted again by moto after filtering
        else:
            partition = self.items.get(hash_key) if hash_key is not None else None
            found = list(_items_of(self, partition)) if partition is not None else []
            self.all_items = lambda: found  # type: ignore[method-assign]
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]


def _items_of(table: Table, partition: Any) -> Any:
    return partition.values() if table.range_key_attr else [partition]


@contextlib.contextmanager
def faster_moto() -> Iterator[None]:
    with item_level_rollback(), partition_queries():
        yield
