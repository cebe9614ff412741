"""moto's DynamoDB at a cost that does not grow with the table, with the same answers (the quota burst's profile).

``item_level_rollback``: moto's TransactWriteItems backs up every table a transaction names with ``copy.deepcopy``
of the whole table (once per item that names it) so that it can roll back: a ledger of thousands of jobs made
each claim cost a good part of a second, and a burst's wall time grew with the square of its size (60% of the
quota burst's time was that deepcopy). This backs up only the items the transaction touches (at most 100, by
their keys) and puts exactly those back when moto cancels the transaction: the answer, the errors and the table
afterwards are the same as moto's own.

``partition_queries``: moto's Query lists every item of the table, sorted, then keeps those of the partition (or
of the index key) asked for: each query cost O(n log n) in the table's size. A query of the table reads only its
partition; a query of an index reads the items of that index partition, from an index kept beside the table (moto
keeps none): built on the index's first query, refreshed for the key of every write moto's backend makes
(PutItem, UpdateItem, DeleteItem, and each item of a transaction, also a cancelled one). moto still filters,
sorts, limits and pages what it is given.
Its sort of the found items is keyed on plain strings when every sort attribute is a string (the same order as
DynamoType's comparisons, without one per step), and the found items are not deep-copied before moto projects
and filters them (both make new items or only read; the handler renders them at once).

``faster_moto`` installs both. Tests (tests/integration/test_moto_speed.py) hold both to moto's own answers.
"""

from __future__ import annotations

import base64
import bisect
import collections
import contextlib
import copy
import inspect
import pickle
import string
import types
from collections.abc import Callable, Iterator
from typing import Any, cast

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type as _dynamo_type
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models.dynamo_type import Item
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


class _Index:
    """One global or local secondary index of a moto table: moto's items in each index partition (by the index's
    hash value), by primary key. Built when first queried, then refreshed for every key
    a write names (``refresh``), so it follows moto's in-place updates too.

    Each partition also keeps its items in moto's query order (``sorted_keys``): the tuple of the values moto
    sorts an index query by (``Table._generate_attr_to_sort_by``: the index's keys, then the table's), when every
    one is a string (moto compares two strings' DynamoTypes as Python compares the strings). An item moto would
    leave out of the index (a range key attribute missing) is not in that order; an item with a non-string or
    missing sort value makes its partition unordered (``window`` then answers None: moto sorts it all)."""

    def __init__(self, table: Table, index_name: str) -> None:
        self._table = table
        index = next((i for i in [*table.global_indexes, *table.indexes] if i.name == index_name), None)
        hashes = [] if index is None else [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        ranges = [] if index is None else [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        self.attribute = hashes[0] if hashes else ""
        self.single_hash = len(hashes) == 1
        self.range_names = ranges
        self.sort_names: list[str] = []
        self.range_attribute = ""  # what moto's index query compares a range condition with
        if index is not None and hashes:
            # moto's Table.query for an index: the same lists, then the same function
            if ranges:
                range_attrs: list[str | None] = [*ranges, table.range_key_attr]
                self.range_attribute = ranges[0]
            elif isinstance(index, table_module.GlobalSecondaryIndex) and table.range_key_attr:
                range_attrs = [table.range_key_attr, table.range_key_attr]
                self.range_attribute = table.range_key_attr
            else:
                range_attrs = [table.hash_key_attr, table.range_key_attr]
                self.range_attribute = table.hash_key_attr
            self.sort_names = table._generate_attr_to_sort_by([*hashes, table.hash_key_attr], range_attrs)
        self._partitions: dict[tuple[str, Any], dict[tuple[Any, Any], Any]] = {}  # → moto's Item (current)
        self._where: dict[tuple[Any, Any], tuple[str, Any]] = {}
        self._sorted: dict[tuple[str, Any], list[tuple[str, ...]]] = {}  # sort values, ascending
        self._at: dict[tuple[str, Any], dict[tuple[str, ...], Any]] = {}  # sort values → moto's Item
        self._order: dict[tuple[Any, Any], tuple[str, ...]] = {}  # primary key → its sort values
        self._unordered: dict[tuple[str, Any], set[tuple[Any, Any]]] = {}  # keys whose sort values are not strings
        for partition in table.items.values():
            for item in _items_of(table, partition):
                self.refresh(item.hash_key, item.range_key)

    def refresh(self, hash_key: Any, range_key: Any) -> None:
        key = (hash_key, range_key)
        before = self._where.pop(key, None)
        if before is not None:
            self._partitions[before].pop(key, None)
            self._unordered.get(before, set()).discard(key)
            order = self._order.pop(key, None)
            if order is not None:
                keys = self._sorted[before]
                del keys[bisect.bisect_left(keys, order)]
                del self._at[before][order]
        item = self._table.get_item(hash_key, range_key)
        value = item.attrs.get(self.attribute) if item is not None else None
        if item is not None and value is not None:
            where = (value.type, _hashable(value.value))
            self._partitions.setdefault(where, {})[key] = item
            self._where[key] = where
            if not all(item.attrs.get(name) is not None for name in self.range_names):
                return  # moto leaves it out of an index query (has_all_range_keys)
            values = [item.attrs.get(name) for name in self.sort_names]
            if any(v is None or v.type != "S" for v in values):
                self._unordered.setdefault(where, set()).add(key)
                return
            order = tuple(str(v.value) for v in values if v is not None)
            bisect.insort(self._sorted.setdefault(where, []), order)
            self._at.setdefault(where, {})[order] = item
            self._order[key] = order

    def items(self, hash_value: Any) -> list[Any]:
        return list(self._partitions.get((hash_value.type, _hashable(hash_value.value)), {}).values())

    def window(self, hash_value: Any, query: dict[str, Any]) -> list[Any] | None:
        """The run of the partition's items, in moto's order, that moto's loop over the whole sorted partition
        reads before it stops (None: moto gets every item and sorts them). moto's loop (Table.query) skips the
        items up to ExclusiveStartKey, then stops at the first item after ``limit`` accepted ones (accepted: the
        range condition holds; nothing else is counted), or at the 1 MB page inside that run. The run given here
        starts after the start key (bisect on the same sort values: moto skips the items at or before it) and
        ends one item after the ``limit``-th accepted one (``DynamoType.compare``, moto's own test), or at the
        partition's end; without a limit it is the rest of the partition. Descending queries take the run that
        ends at the start key, walked backwards. moto then sorts, reverses, pages, filters and projects it."""
        where = (hash_value.type, _hashable(hash_value.value))
        if not self.single_hash or not self.sort_names or self._unordered.get(where):
            return None
        conditions = query.get("range_key_conditions") or []
        if len(conditions) > 1 or query.get("filter_kwargs"):
            return None
        keys = self._sorted.get(where, [])
        start, end = 0, len(keys)
        forward = query.get("scan_index_forward") is not False
        exclusive = query.get("exclusive_start_key")
        if exclusive is not None:
            values = [exclusive.get(name) for name in self.sort_names]
            if any(not isinstance(v, dict) or list(v) != ["S"] or not isinstance(v["S"], str) for v in values):
                return None
            order = tuple(v["S"] for v in values)
            if forward:  # moto skips every item at or before the key (_item_comes_before_dct)
                start = bisect.bisect_right(keys, order)
            else:
                end = bisect.bisect_left(keys, order)
        limit = query.get("limit")
        at = self._at.get(where, {})
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return [at[order] for order in keys[start:end]]
        comparison = query.get("range_comparison")
        attribute = conditions[-1][0] if conditions else self.range_attribute
        objects = query.get("range_objs")
        accepted = 0
        run: list[Any] = []
        positions = range(start, end) if forward else range(end - 1, start - 1, -1)
        for position in positions:
            item = at[keys[position]]
            run.append(item)
            if accepted == limit:
                break
            value = item.attrs.get(attribute)
            if not comparison or (value is not None and value.compare(comparison, objects)):
                accepted += 1
        return run if forward else run[::-1]


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value


class _Indexes:
    def __init__(self) -> None:
        self._by_table: dict[int, tuple[Table, dict[str, _Index]]] = {}  # the table itself kept: ids stay unique

    def of(self, table: Table, index_name: str) -> _Index:
        _, indexes = self._by_table.setdefault(id(table), (table, {}))
        if index_name not in indexes:
            indexes[index_name] = _Index(table, index_name)
        return indexes[index_name]

    def written(self, backend: DynamoDBBackend, table_name: str, attributes: Any) -> None:
        """Refresh the item at the key ``attributes`` names (an Item or a Key) in every index built for its table."""
        table = backend.tables.get(table_name)
        entry = self._by_table.get(id(table)) if table is not None else None
        if table is None or entry is None or not isinstance(attributes, dict):
            return
        if table.hash_key_attr not in attributes:
            return
        range_attribute = table.range_key_attr
        if range_attribute is not None and range_attribute not in attributes:
            return
        hash_key = _dynamo_type.DynamoType(attributes[table.hash_key_attr])
        range_key = _dynamo_type.DynamoType(attributes[range_attribute]) if range_attribute is not None else None
        for index in entry[1].values():
            index.refresh(hash_key, range_key)


def _sorted_items(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's sort of query results, keyed on the values when every sort attribute is a string: DynamoType
    compares two strings as Python does (``__eq__`` on type and value, ``__lt__`` on the value), so the order is
    the same, without a DynamoType comparison per step. Anything else: moto's own sort."""

    def sorted_items(
        self: Table, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]
    ) -> Any:
        names = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        keys = []
        for item in items:
            values = [item.attrs.get(name) for name in names]
            if any(value is None or value.type != "S" for value in values):
                return original(self, hash_key_attrs, range_key_attrs, items)
            keys.append(tuple(value.value for value in values))
        order = sorted(range(len(items)), key=keys.__getitem__)  # stable, as list.sort
        items[:] = [items[i] for i in order]
        return items

    return sorted_items


def _no_results_copy(original: Callable[..., Any]) -> Callable[..., Any]:
    """Table.query copies the items it found before projecting and filtering them, which only make new items
    (Item.project) or read them; the handler renders them at once. A list of items is handed over as is."""

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, list) and all(isinstance(item, Item) for item in value):
            return list(value)
        return original(value, memo)

    return deepcopy


_WRITES = ("put_item", "update_item", "delete_item")  # every write of moto's backend (transactions call these)


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """Inside the block, moto's Query reads only the asked partition: of the table, or of an index (from an index
    kept beside the table, refreshed after every write moto's backend makes)."""
    original: Callable[..., Any] = Table.query
    sorted_items: Callable[..., Any] = Table.sorted_items
    writes: dict[str, Callable[..., Any]] = {name: getattr(DynamoDBBackend, name) for name in _WRITES}
    transact: Callable[..., Any] = DynamoDBBackend.transact_write_items
    indexes = _Indexes()
    signature = inspect.signature(original)

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, hash_key, *args, **kwargs)
        bound.apply_defaults()
        asked_query = dict(bound.arguments)
        index_name = asked_query.get("index_name")
        if index_name:
            index = indexes.of(self, index_name)
            asked = dict(asked_query.get("hash_key_conditions") or [])  # moto keeps the items matching all of them
            if index.attribute not in asked:
                return original(self, hash_key, *args, **kwargs)  # moto answers (every item, or its error)
            window = index.window(asked[index.attribute], asked_query) if len(asked) == 1 else None
            found = index.items(asked[index.attribute]) if window is None else window
        else:
            partition = self.items.get(hash_key) if hash_key is not None else None
            found = list(_items_of(self, partition)) if partition is not None else []
        self.all_items = lambda: found  # type: ignore[method-assign]  # moto filters, sorts and pages them
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    def indexed(name: str) -> Callable[..., Any]:
        write = writes[name]

        def wrapped(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return write(self, table_name, *args, **kwargs)
            finally:
                indexes.written(self, table_name, args[0] if args else kwargs.get("item_attrs", kwargs.get("key")))

        return wrapped

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        try:
            transact(self, transact_items)
        finally:  # a cancelled transaction put its items back as they were: refresh them too
            for entry in transact_items:
                for operation, request in entry.items():
                    if operation in _OPERATIONS and isinstance(request, dict) and "TableName" in request:
                        attributes = request.get("Item") if operation == "Put" else request.get("Key")
                        indexes.written(self, request["TableName"], attributes)

    Table.query = query  # type: ignore[method-assign]
    Table.sorted_items = _sorted_items(Table.sorted_items)  # type: ignore[method-assign]
    module_copy = getattr(table_module, "copy")  # noqa: B009 - moto's module does not export it
    shim = types.SimpleNamespace(**{name: getattr(copy, name) for name in ("copy", "deepcopy")})
    shim.deepcopy = _no_results_copy(copy.deepcopy)
    setattr(table_module, "copy", shim)  # noqa: B010
    for name in _WRITES:
        setattr(DynamoDBBackend, name, indexed(name))
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]
        Table.sorted_items = sorted_items  # type: ignore[method-assign]
        setattr(table_module, "copy", module_copy)  # noqa: B010
        for name, write in writes.items():
            setattr(DynamoDBBackend, name, write)
        DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]


def _items_of(table: Table, partition: Any) -> Any:
    return partition.values() if table.range_key_attr else [partition]


@contextlib.contextmanager
def retention_from_the_queue() -> Iterator[None]:
    """moto's ReceiveMessage checks each message's retention through GetQueueAttributes, which renders every
    attribute of the queue, its message counts included (each a pass over all its messages), three times: a
    receive cost grew with the square of the backlog. Inside the block the check reads the same value,
    ``MessageRetentionPeriod``, from the queue itself, and compares it as moto does."""
    import moto.sqs.models as sqs_models

    original: Callable[..., Any] = sqs_models.SQSBackend.is_message_valid_based_on_retention_period

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > getattr(sqs_models, "unix_time")())  # noqa: B009 - not exported

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    try:
        yield
    finally:
        sqs_models.SQSBackend.is_message_valid_based_on_retention_period = original  # type: ignore[method-assign]


def _value_size(value: Any) -> int:
    """DynamoType.size, computed without building a DynamoType per nested value (moto's map branch wraps each
    value again, which re-wraps its whole subtree): the same branches in the same order, so the same number."""
    if type(value) is not _dynamo_type.DynamoType:
        value = _dynamo_type.DynamoType(value)  # as moto's map branch does with what it finds
    kind, raw = value.type, value.value
    if kind == "N":
        return len(str(raw))
    if kind in ("SS", "NS", "BS"):
        if kind == "NS":
            return sum(len(str(element)) for element in raw)
        return sum(1 if isinstance(element, bool) else _bytesize(element) for element in raw)
    if kind == "L":
        return sum(_value_size(element) for element in raw)
    if kind == "M":
        return sum(_bytesize(key) + _value_size(element) for key, element in raw.items())
    if isinstance(raw, bool):
        return 1
    return _bytesize(raw)


def _bytesize(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def _item_size(item: Item) -> int:
    return sum(_bytesize(key) + _value_size(value) for key, value in item.attrs.items())


_SIZE = "_emr_dispatch_size"  # an Item's size, kept on the item until moto's backend writes its key again


def _kept_item_size(item: Item) -> int:
    size: int | None = item.__dict__.get(_SIZE)
    if size is None:
        size = item.__dict__[_SIZE] = _item_size(item)
    return size


def _item_at(backend: DynamoDBBackend, table_name: str, attributes: Any) -> Item | None:
    """The item stored at the key ``attributes`` names (an Item's attributes or a Key), if any."""
    table = backend.tables.get(table_name)
    if table is None or not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None
    range_attribute = table.range_key_attr
    if range_attribute is not None and range_attribute not in attributes:
        return None
    hash_key = _dynamo_type.DynamoType(attributes[table.hash_key_attr])
    range_key = _dynamo_type.DynamoType(attributes[range_attribute]) if range_attribute is not None else None
    found: Item | None = table.get_item(hash_key, range_key)
    return found


@contextlib.contextmanager
def item_sizes() -> Iterator[None]:
    """Inside the block, moto's DynamoType.size and Item.size (every write checks the 400 KB item limit, per
    attribute set; every query adds up its results' sizes against the 1 MB page, twice per item) are computed by
    ``_value_size``: the same sizes without rewrapping. An Item's size is also kept on the item until moto's
    backend writes its key again (PutItem puts a new item; UpdateItem changes the stored one in place, and is the
    only path that does; DeleteItem removes it; transactions and batches write through these three): queries
    return the same queued jobs many times. Profiled at 1,000 arrivals: 29 s of 251 s."""
    originals = (_dynamo_type.DynamoType.size, Item.size)
    writes: dict[str, Callable[..., Any]] = {name: getattr(DynamoDBBackend, name) for name in _WRITES}

    def forgetting(name: str) -> Callable[..., Any]:
        write = writes[name]

        def wrapped(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return write(self, table_name, *args, **kwargs)
            finally:
                item = _item_at(self, table_name, args[0] if args else kwargs.get("item_attrs", kwargs.get("key")))
                if item is not None:
                    item.__dict__.pop(_SIZE, None)

        return wrapped

    setattr(_dynamo_type.DynamoType, "size", _value_size)  # noqa: B010 - mypy: a function in place of a method
    setattr(Item, "size", _kept_item_size)  # noqa: B010
    for name in _WRITES:
        setattr(DynamoDBBackend, name, forgetting(name))
    try:
        yield
    finally:
        setattr(_dynamo_type.DynamoType, "size", originals[0])  # noqa: B010
        setattr(Item, "size", originals[1])  # noqa: B010
        for name, write in writes.items():
            setattr(DynamoDBBackend, name, write)


@contextlib.contextmanager
def handler_methods_once() -> Iterator[None]:
    """moto's BaseResponse.call_action lists the handler class's methods (``inspect.getmembers``, every attribute
    of the class) on every request to find the action's method; inside the block each class's list is made once.
    Classes do not change during a run, so the list is the same (6 s of 251 s at 1,000 arrivals). Also moto's
    ``_enrich_response`` runs a regular expression over every answer's body to put the request id into an XML
    ``<RequestId>``: a body without one is left as it is, without the pass (3 s of 88 s at 500 arrivals)."""
    import moto.core.responses as responses_module

    responses: Any = responses_module  # moto's module does not export the name
    original: Callable[[object], list[str]] = responses.method_names_from_class
    known: dict[object, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        if clazz not in known:
            known[clazz] = original(clazz)
        return known[clazz]

    base: Any = responses.BaseResponse
    enrich = base.__dict__["_enrich_response"]

    def enrich_response(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return cast(tuple[dict[str, Any], Any], enrich.__func__(headers, body))
        # moto's own steps but its re.sub over the whole body, which changes only a body holding <RequestId>
        # (a bytes body raises TypeError there, which moto ignores): the same headers, the same body
        if "status" in headers:
            headers["status"] = str(headers["status"])
        responses.gen_amzn_requestid_long(headers)
        return headers, body

    responses.method_names_from_class = method_names_from_class
    base._enrich_response = staticmethod(enrich_response)
    try:
        yield
    finally:
        responses.method_names_from_class = original
        base._enrich_response = enrich


@contextlib.contextmanager
def expressions_parsed_once() -> Iterator[None]:
    """moto parses an UpdateExpression (twice per UpdateItem, once more per transaction Update), deep-copies the
    parsed tree before each validation, and lexes a ConditionExpression, for every request, though the ledger
    sends a handful of distinct expression texts. Inside the block:

    - ``UpdateExpressionParser.make`` parses each text once and hands the same tree out again: moto's callers only
      read it (``find_clauses``) or deep-copy it first (the validator);
    - the validator's copy of such a tree is ``pickle.loads`` of the tree pickled when it was parsed (the same
      nodes with the same values, shared references kept, as ``copy.deepcopy`` makes them; a sixth of the cost);
    - ``ConditionExpressionParser`` lexes each text once; every parse gets fresh nodes equal to the lexer's (its
      nodes are immutable named tuples whose only mutable part, ``children``, is always an empty list).

    - ``find_clauses`` of a kept tree (moto lists its placeholders on every request) is answered from the first
      answer for the same clause types: a new list of the same nodes;
    - the validator's three checks that read only the tree, ExpressionAttributeNames and the table's key
      attributes (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator: each returns the
      node it is given, or raises) are skipped for a kept tree once a validation with the same names and key
      attributes has passed them; the seven that read the item and the values run every time.

    Parsing errors are not kept: a bad text is parsed again, and raises again. Profiled at 1,000 arrivals, parsing,
    copying and lexing were 13.7 s, 12.3 s and 6.6 s of 251 s; at 500 arrivals after them, the validators'
    traversals were 22 s of 88 s and find_clauses 6 s."""
    from moto.dynamodb import comparisons
    from moto.dynamodb.parsing import ast_nodes as ast_nodes_module
    from moto.dynamodb.parsing import expressions as expressions_module
    from moto.dynamodb.parsing import validators as validators_module

    expressions: Any = expressions_module  # moto's modules are untyped or do not export these names
    ast_nodes: Any = ast_nodes_module
    validators: Any = validators_module

    parser_class: Any = expressions.UpdateExpressionParser
    make = parser_class.__dict__["make"]
    lex = comparisons.ConditionExpressionParser._lex_condition_expression
    module_deepcopy = validators.deepcopy
    parsed: dict[str, Any] = {}
    pickled: dict[int, tuple[Any, bytes]] = {}  # id(tree) → (the tree, kept so that the id stays its own; pickle)
    lexed: dict[str, tuple[Any, ...]] = {}

    def make_once(cls: Any, expression_str: str) -> Any:
        tree = parsed.get(expression_str)
        if tree is None:
            tree = make.__func__(cls, expression_str)
            parsed[expression_str] = tree
            pickled[id(tree)] = (tree, pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL))
        return tree

    def deepcopy(value: Any, memo: Any = None) -> Any:
        entry = pickled.get(id(value))
        if entry is not None and entry[0] is value and memo is None:
            return pickle.loads(entry[1])  # noqa: S301 - our own pickle of moto's tree, made in this process
        return module_deepcopy(value, memo)

    def lex_once(self: Any) -> Any:
        text = self.condition_expression
        nodes = lexed.get(text)
        if nodes is None:
            found = lex(self)
            if any(node.children for node in found):
                return found  # not the lexer's shape: moto's own answer, nothing kept
            nodes = lexed[text] = tuple(found)
        return collections.deque(node._replace(children=[]) for node in nodes)

    def kept(tree: Any) -> bool:
        entry = pickled.get(id(tree))
        return entry is not None and entry[0] is tree

    node_class: Any = ast_nodes.Node
    find_clauses = node_class.find_clauses
    clauses_found: dict[tuple[int, tuple[Any, ...]], list[Any]] = {}

    def find_clauses_once(self: Any, clause_types: Any) -> Any:
        if not kept(self):
            return find_clauses(self, clause_types)
        key = (id(self), tuple(clause_types))
        if key not in clauses_found:
            clauses_found[key] = find_clauses(self, clause_types)
        return list(clauses_found[key])

    validator_class: Any = validators.UpdateExpressionValidator
    tree_only = (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )
    init, processors_of, validate = (
        validator_class.__init__,
        validator_class.get_ast_processors,
        validator_class.validate,
    )
    passed: set[tuple[int, str, str]] = set()

    def checked_key(self: Any) -> tuple[int, str, str] | None:
        tree = self.__dict__.get("_emr_dispatch_tree")
        if tree is None or not kept(tree):
            return None
        names = repr(sorted((self.expression_attribute_names or {}).items()))
        return (id(tree), names, repr(self.table.table_key_attrs))

    def init_keeping_tree(self: Any, *args: Any, **kwargs: Any) -> None:
        self._emr_dispatch_tree = args[0] if args else kwargs.get("expression")
        init(self, *args, **kwargs)

    def processors_unchecked(self: Any) -> Any:
        processors = processors_of(self)
        if checked_key(self) in passed:
            return [processor for processor in processors if not isinstance(processor, tree_only)]
        return processors

    def validate_noting(self: Any) -> Any:
        node = validate(self)
        key = checked_key(self)
        if key is not None:
            passed.add(key)
        return node

    own_methods = {name: validator_class.__dict__.get(name) for name in ("__init__", "validate")}
    parser_class.make = classmethod(make_once)
    validators.deepcopy = deepcopy
    comparisons.ConditionExpressionParser._lex_condition_expression = lex_once  # type: ignore[method-assign]
    node_class.find_clauses = find_clauses_once
    validator_class.__init__ = init_keeping_tree
    validator_class.get_ast_processors = processors_unchecked
    validator_class.validate = validate_noting
    try:
        yield
    finally:
        parser_class.make = make
        validators.deepcopy = module_deepcopy
        comparisons.ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]
        node_class.find_clauses = find_clauses
        validator_class.get_ast_processors = processors_of
        for name, own in own_methods.items():  # __init__ and validate are the base class's: inherited again
            if own is None:
                delattr(validator_class, name)
            else:
                setattr(validator_class, name, own)


_PLAIN = (str, int, float, bool, type(None))


@contextlib.contextmanager
def plain_results() -> Iterator[None]:
    """moto turns every DynamoDB answer (items, keys) into plain data with ``dynamo_to_dict``: a recursive
    function that asks each value in turn whether it is a datetime, a DynamoType, has ``to_json``, a dict or a list.
    Inside the block the values whose type is exactly dict, list, str, int, float, bool or None, and DynamoTypes
    other than binary ones, take the branch moto's function takes for them without the questions before it; every
    other value (binary attributes, items, datetimes, subclasses) goes to moto's own function, whose recursion
    comes back here. Profiled at 1,000 arrivals: 11 s of 251 s."""
    from moto.dynamodb import responses as responses_module
    from moto.dynamodb.models import utilities as utilities_module

    responses: Any = responses_module  # moto's modules do not export the name
    utilities: Any = utilities_module
    original: Callable[[Any], Any] = utilities.dynamo_to_dict
    dynamo_type = _dynamo_type.DynamoType

    def dynamo_to_dict(obj: Any) -> Any:
        kind = type(obj)
        if kind in _PLAIN:
            return obj
        if kind is dict:
            return {key: dynamo_to_dict(value) for key, value in obj.items()}
        if kind is list:
            return [dynamo_to_dict(value) for value in obj]
        if kind is dynamo_type and obj.type not in ("B", "BS"):
            return {obj.type: dynamo_to_dict(obj.value)}
        return original(obj)

    utilities.dynamo_to_dict = responses.dynamo_to_dict = dynamo_to_dict
    try:
        yield
    finally:
        utilities.dynamo_to_dict = responses.dynamo_to_dict = original


_SENDS = ("send_message", "send_message_batch")  # SendMessageBatch validates each entry, then sends it


@contextlib.contextmanager
def sends_without_counts() -> Iterator[None]:
    """moto's SendMessage (and each entry of SendMessageBatch) reads the queue's ``ContentBasedDeduplication``
    through ``Queue.attributes``, which renders every attribute, the three message counts included (each a pass
    over all the queue's messages): a burst of n messages cost O(n²) (10,000 arrivals land as 13,000 messages).
    Inside the block, while moto's backend sends to a queue, that queue's ``attributes`` holds what moto's own
    holds under that name and nothing else: ``ContentBasedDeduplication`` of a FIFO queue ("true"/"false" as moto
    renders a bool), absent for a standard queue, and it is the only attribute SendMessage reads (moto's
    _validate_message, send_message and Queue.add_message). Everything else reads moto's own."""
    import moto.sqs.models as sqs_models

    queue_class: Any = sqs_models.Queue
    backend_class: Any = sqs_models.SQSBackend
    rendered = queue_class.__dict__["attributes"]
    sends: dict[str, Callable[..., Any]] = {name: getattr(backend_class, name) for name in _SENDS}
    sending: list[Any] = []

    def attributes(self: Any) -> dict[str, Any]:
        if not sending or sending[-1] is not self:
            return cast(dict[str, Any], rendered.fget(self))
        if not self.fifo_queue:
            return {}
        value = self.content_based_deduplication
        return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}

    def sending_to(name: str) -> Callable[..., Any]:
        send = sends[name]

        def wrapped(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            sending.append(self.get_queue(queue_name))
            try:
                return send(self, queue_name, *args, **kwargs)
            finally:
                sending.pop()

        return wrapped

    queue_class.attributes = property(attributes)
    for name in _SENDS:
        setattr(backend_class, name, sending_to(name))
    try:
        yield
    finally:
        queue_class.attributes = rendered
        for name, send in sends.items():
            setattr(backend_class, name, send)


@contextlib.contextmanager
def traversals_mapped_once() -> Iterator[None]:
    """moto's DepthFirstTraverser (each of the update validator's processors) asks ``_processing_map()`` for a new
    dict of its processing methods twice per node it visits (``nodes_to_be_processed`` and ``process``), and calls
    ``pre_processing_of_child`` for every child though only one processor defines it. Every processor's map is a
    constant literal of its own methods, so inside the block a traversal asks once, keeps the classes and methods,
    and calls the hook only where a processor overrides it: the same visits in the same order, the same nodes
    processed by the same methods, the same replacements in the tree. A traverser that overrides the traversal
    itself keeps moto's. Profiled at 1,000 arrivals: 12 s of 146 s (2.6 million visits)."""
    from moto.dynamodb.parsing import ast_nodes as ast_nodes_module

    ast_nodes: Any = ast_nodes_module  # moto's module is untyped
    base = ast_nodes.DepthFirstTraverser
    node_class = ast_nodes.Node
    traverse = base.traverse
    own = {name: base.__dict__[name] for name in ("traverse_node_recursively", "process", "nodes_to_be_processed")}
    base_hook = base.pre_processing_of_child

    def traverse_mapped(self: Any, node: Any) -> Any:
        kind = type(self)
        if any(getattr(kind, name) is not method for name, method in own.items()):
            return traverse(self, node)
        mapping = list(self._processing_map().items())
        classes = tuple(class_key for class_key, _ in mapping)
        hook = self.pre_processing_of_child if kind.pre_processing_of_child is not base_hook else None

        def visit(node: Any, child_id: int = -1) -> Any:
            if isinstance(node, node_class):
                parent_node = node.parent
                if node.children is not None:
                    for i, child_node in enumerate(node.children):
                        if hook is not None:
                            hook(node, i)
                        visit(child_node, i)
                if isinstance(node, classes):
                    node = next(processor for class_key, processor in mapping if isinstance(node, class_key))(node)
                    node.parent = parent_node
                    if parent_node:
                        parent_node.children[child_id] = node
            return node

        return visit(node)

    base.traverse = traverse_mapped
    try:
        yield
    finally:
        base.traverse = traverse


@contextlib.contextmanager
def queues_read_lazily() -> Iterator[None]:
    """Two of moto's SQS costs that grow with the backlog (13,000 messages at 10,000 arrivals):

    - ReceiveMessage iterates ``queue.messages``, a list of every visible, undelayed message built in full (two
      clock reads per message) before the loop takes the first ``count``. Inside the block, while moto's backend
      receives from a queue, ``messages`` is that same filter over a copy of the queue's list, evaluated as the
      loop goes: the loop changes no message it has not reached yet (it marks the one it took invisible, and
      moves dead-lettered ones after the loop), and time does not move inside it, so it takes the same messages.
    - DeleteMessage scans the whole queue twice (is the handle known? then a new list without the message). Inside
      the block the scan stops at the message holding the handle, which is removed from the list in place.
      moto removes every message that ever had the handle; a handle is 185 random lowercase letters made at each
      receive (``generate_receipt_handle``), so one message has it. An unknown handle raises as moto does.
    """
    import moto.sqs.models as sqs_models

    queue_class: Any = sqs_models.Queue
    backend_class: Any = sqs_models.SQSBackend
    listed = queue_class.__dict__["messages"]
    delete = queue_class.__dict__["delete_message"]
    receive = backend_class.__dict__["receive_message"]
    invalid: Any = getattr(sqs_models, "ReceiptHandleIsInvalid")  # noqa: B009 - moto's module does not export it
    receiving: list[Any] = []

    class Visible:
        """The queue's visible, undelayed messages, found as they are read (true and sized as moto's list is)."""

        def __init__(self, queue: Any) -> None:
            self._queue = queue

        def __iter__(self) -> Iterator[Any]:
            return (message for message in list(self._queue._messages) if message.visible and not message.delayed)

        def __bool__(self) -> bool:
            return any(True for _ in self)

        def __len__(self) -> int:  # moto's own reads during a receive (its retention check counts them)
            return sum(1 for _ in self)

    def messages(self: Any) -> Any:
        if not receiving or receiving[-1] is not self:
            return listed.fget(self)
        return Visible(self)

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        receiving.append(self.get_queue(queue_name))
        try:
            return receive(self, queue_name, *args, **kwargs)
        finally:
            receiving.pop()

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto answers as for a success
        for position, message in enumerate(self._messages):
            if message.had_receipt_handle(receipt_handle):
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                del self._messages[position]
                return
        raise invalid()

    queue_class.messages = property(messages)
    queue_class.delete_message = delete_message
    backend_class.receive_message = receive_message
    try:
        yield
    finally:
        queue_class.messages = listed
        queue_class.delete_message = delete
        backend_class.receive_message = receive


@contextlib.contextmanager
def job_runs_by_id() -> Iterator[None]:
    """moto's EMR Serverless GetJobRun lists every job run of the application twice (their ids, then the match):
    a sweep over thousands of runs cost O(runs) per call. Inside the block the run is found in a map of the
    application's runs by id, extended as moto appends to its list (StartJobRun only appends; a list that is
    replaced or shrinks is mapped again). Unknown application or run: moto's own answer (its errors)."""
    import moto.emrserverless.models as serverless_models

    backend_class: Any = serverless_models.EMRServerlessBackend
    get_job_run = backend_class.__dict__["get_job_run"]
    maps: dict[int, tuple[Any, int, dict[str, Any]]] = {}  # id(list) → (the list, runs mapped, id → run)

    def get_job_run_mapped(self: Any, application_id: str, job_run_id: str) -> Any:
        runs = self.job_runs.get(application_id)
        if runs is None:
            return get_job_run(self, application_id, job_run_id)
        entry = maps.get(id(runs))
        if entry is None or entry[0] is not runs or entry[1] > len(runs):
            entry = (runs, 0, {})
        _, mapped, by_id = entry
        for run in runs[mapped:]:
            by_id.setdefault(run.id, run)
        maps[id(runs)] = (runs, len(runs), by_id)
        if job_run_id not in by_id or len(by_id) != len(runs):
            return get_job_run(self, application_id, job_run_id)  # moto's error (or its assertion on a twin id)
        return by_id[job_run_id]

    backend_class.get_job_run = get_job_run_mapped
    try:
        yield
    finally:
        backend_class.get_job_run = get_job_run


@contextlib.contextmanager
def random_strings_drawn_at_once() -> Iterator[None]:
    """moto draws every random identifier a character at a time (``MotoRandom.get_random_string``: 52 ``choice``
    calls for the request id of every answer; ``generate_receipt_handle``: 185 for every message received; 1.9 s of
    146 s at 1,000 arrivals, 1.9 million calls). Inside the block the same lengths from the same alphabets are drawn
    by one ``choices`` call of the same generator (moto's seedable singleton): identifiers of the same form, each
    character uniformly drawn as before, though not the same characters for a given seed."""
    import moto.sqs.models as sqs_models
    from moto.moto_api._internal import moto_random as moto_random_module

    random_class: Any = moto_random_module.MotoRandom
    own = random_class.__dict__["get_random_string"]
    handle = getattr(sqs_models, "generate_receipt_handle")  # noqa: B009 - moto's module does not export it
    from moto.moto_api._internal import mock_random

    def get_random_string(self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        drawn = "".join(self.choices(pool, k=length))
        return drawn.lower() if lower_case else drawn

    def generate_receipt_handle() -> str:
        return "".join(mock_random.choices(string.ascii_lowercase, k=185))

    random_class.get_random_string = get_random_string
    setattr(sqs_models, "generate_receipt_handle", generate_receipt_handle)  # noqa: B010
    try:
        yield
    finally:
        random_class.get_random_string = own
        setattr(sqs_models, "generate_receipt_handle", handle)  # noqa: B010


@contextlib.contextmanager
def no_unread_item_copies() -> Iterator[None]:
    """Two deep copies of the item every UpdateItem makes (also each Update of a transaction), read by nothing here:

    - moto's backend copies the item before updating it (``orig_item``) only to hand the old image to the table's
      stream (``table.stream_shard.add``): inside the block the copy is skipped while the table has no stream;
    - moto's UpdateItem handler copies the stored item before the update only to take ``to_json()`` of it at once
      (the changed attributes and the old values of ReturnValues): ``to_json`` builds new dicts and lists, nested
      values through ``to_regular_json``, which deep-copies them itself, so ``to_json`` of the item itself is the
      same. Inside the block that copy is the item itself.

    Profiled at 1,000 arrivals: 3.7 s of 146 s."""
    import moto.dynamodb.models as models
    import moto.dynamodb.responses as responses_module

    responses: Any = responses_module  # moto's module does not export the name
    module_copies = {module: getattr(module, "copy") for module in (models, responses)}  # noqa: B009
    update_item: Callable[..., Any] = DynamoDBBackend.update_item
    streamless: list[bool] = []

    def update_item_streamless(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
        table = self.tables.get(table_name)
        streamless.append(table is not None and table.stream_shard is None)
        try:
            return update_item(self, table_name, *args, **kwargs)
        finally:
            streamless.pop()

    def shim(module_copy: Any, skip: Callable[[Any], bool]) -> Any:
        deepcopy = module_copy.deepcopy

        def copied(value: Any, memo: Any = None) -> Any:
            return value if skip(value) else deepcopy(value, memo)

        return types.SimpleNamespace(copy=module_copy.copy, deepcopy=copied)

    setattr(  # noqa: B010
        models, "copy", shim(module_copies[models], lambda v: type(v) is Item and bool(streamless) and streamless[-1])
    )
    setattr(responses, "copy", shim(module_copies[responses], lambda v: type(v) is Item))  # noqa: B010
    DynamoDBBackend.update_item = update_item_streamless  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
        for module, module_copy in module_copies.items():
            setattr(module, "copy", module_copy)  # noqa: B010


@contextlib.contextmanager
def regular_json_without_copies() -> Iterator[None]:
    """moto's ``DynamoType.to_regular_json`` (every map and list attribute of every item rendered: ``Item.to_json``)
    deep-copies its value, then replaces each nested DynamoType of the copy by that copy's own ``to_regular_json``,
    which deep-copies again: a map three levels deep is copied three times over. Inside the block each level builds
    its new dict or list from the nested values' ``to_regular_json`` directly, and deep-copies only what is not a
    DynamoType (as moto's copy does): the same plain values, in new containers, sharing nothing mutable with the
    item. Binary values are decoded as moto decodes them. Profiled at 1,000 arrivals: 5.4 s of 146 s."""
    dynamo_type = _dynamo_type.DynamoType
    original = dynamo_type.__dict__["to_regular_json"]

    def to_regular_json(self: Any) -> dict[str, Any]:
        value = self.value
        if isinstance(value, dict):
            value = {
                key: nested.to_regular_json() if isinstance(nested, dynamo_type) else copy.deepcopy(nested)
                for key, nested in value.items()
            }
        elif isinstance(value, list):
            value = [
                nested.to_regular_json() if isinstance(nested, dynamo_type) else copy.deepcopy(nested)
                for nested in value
            ]
        else:
            value = copy.deepcopy(value)
        if self.is_binary() and isinstance(value, str):
            value = base64.b64decode(value)
        return {self.type: value}

    setattr(dynamo_type, "to_regular_json", to_regular_json)  # noqa: B010
    try:
        yield
    finally:
        setattr(dynamo_type, "to_regular_json", original)  # noqa: B010


@contextlib.contextmanager
def faster_moto() -> Iterator[None]:
    with (
        item_level_rollback(),
        partition_queries(),
        retention_from_the_queue(),
        item_sizes(),
        handler_methods_once(),
        expressions_parsed_once(),
        plain_results(),
        sends_without_counts(),
        traversals_mapped_once(),
        queues_read_lazily(),
        job_runs_by_id(),
        random_strings_drawn_at_once(),
        no_unread_item_copies(),
        regular_json_without_copies(),
    ):
        yield
