"""Source shapes: a plain record, or a change envelope around one.

Every shape becomes the same thing, a Change: the record's key (the text the
raw table's `id` holds), its change time (raw, as the source wrote it), the
operation (UPSERT or DELETE) and the content that is hashed (what makes a
re-sent record "unchanged"). The raw row keeps the whole line as received.

    plain      {"id": 1, ..., "updated_at": ...}      Canvas REST, the simulator
    cd2        {"key": {"id": 1}, "value": {...}, "meta": {"action": "U"|"D", "ts": ...}}
               Canvas Data 2 as Instructure's DAP client writes it; a delete
               carries the key only; nulls are omitted.
    debezium   {"before": {...}, "after": {...}, "op": "c"|"u"|"r"|"d",
               "source": {"ts_ms": ...}}   change events (SQL Server CDC)

A new shape is one Envelope subclass more, added to SHAPES. `auto` (the
default) picks the shape from the file's first record; a source can also
declare it (pipeline.yml `shape:`, `loader load --shape`).

A soft delete is a plain upsert whose content says `workflow_state: deleted`:
the record is written and then marked deleted, like an envelope's delete.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

import orjson

from ..options import SHAPE_NAMES  # noqa: F401 - declared there, for options and cli

UPSERT, DELETE, SOFT_DELETE = "U", "D", "S"
_EPOCH = datetime(1970, 1, 1)


class ShapeError(ValueError):
    """A record that does not fit its source's shape; str() is the reason."""


def is_soft_delete(content) -> bool:
    return isinstance(content, dict) and content.get("workflow_state") == "deleted"


def key_text(key) -> str | int:
    """A key object's stable text: its one value, else its canonical JSON."""
    if not isinstance(key, dict) or not key:
        raise ShapeError("envelope 'key' must be a non-empty JSON object")
    if len(key) == 1:
        return next(iter(key.values()))
    return orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()


class Envelope(ABC):
    """One envelope shape. unwrap(obj) -> (key, change time or None, op, hashed content)."""

    name = ""

    def __init__(self, id_field: str = "id", updated_field: str | None = None):
        self.id_field = id_field
        self.updated_field = updated_field or "updated_at"

    @staticmethod
    @abstractmethod
    def matches(obj: dict) -> bool:
        """Whether a record has this shape."""

    @abstractmethod
    def unwrap(self, obj: dict):
        """(key, change time or None, op, the content the hash covers)."""


class CanvasData2(Envelope):
    """Canvas Data 2 (DAP): key / value / meta.action U|D / meta.ts."""

    name = "cd2"

    @staticmethod
    def matches(obj: dict) -> bool:
        return isinstance(obj.get("key"), dict) and isinstance(obj.get("meta"), dict) \
            and "action" in obj["meta"]

    def unwrap(self, obj: dict):
        meta = obj.get("meta")
        if not isinstance(meta, dict):
            raise ShapeError("not a Canvas Data 2 record: no 'meta' object")
        action = meta.get("action")
        key = key_text(obj.get("key"))
        value = obj.get("value")
        if action == "D":
            return key, meta.get("ts"), DELETE, {"key": obj["key"]}
        if action != "U":
            raise ShapeError(f"meta.action must be U or D, got {action!r}")
        if not isinstance(value, dict):
            raise ShapeError("a Canvas Data 2 upsert (action U) needs a 'value' object")
        changed = value.get(self.updated_field)
        op = SOFT_DELETE if is_soft_delete(value) else UPSERT
        content = {"key": obj["key"], "value": value}
        return key, changed if changed is not None else meta.get("ts"), op, content


class Debezium(Envelope):
    """Debezium change events: before / after / op c|u|r|d / source.ts_ms."""

    name = "debezium"

    @staticmethod
    def matches(obj: dict) -> bool:
        return obj.get("op") in ("c", "u", "r", "d") and ("after" in obj or "before" in obj)

    def unwrap(self, obj: dict):
        op = obj.get("op")
        row = obj.get("before") if op == "d" else obj.get("after")
        if op not in ("c", "u", "r", "d") or not isinstance(row, dict):
            raise ShapeError("a Debezium event needs op c/u/r with 'after', or d with 'before'")
        key = row.get(self.id_field)
        ts_ms = (obj.get("source") or {}).get("ts_ms") if isinstance(obj.get("source"),
                                                                     dict) else None
        changed = row.get(self.updated_field) if op != "d" else None
        if changed is None and isinstance(ts_ms, int) and not isinstance(ts_ms, bool):
            changed = (_EPOCH + timedelta(milliseconds=ts_ms)).isoformat() + "Z"
        if op == "d":
            return key, changed, DELETE, {"key": key}
        return key, changed, SOFT_DELETE if is_soft_delete(row) else UPSERT, row


SHAPES: dict[str, type[Envelope]] = {"cd2": CanvasData2, "debezium": Debezium}
# Where each envelope holds the record (what the payload key profile reads).
CONTENT_KEYS = {"cd2": "value", "debezium": "after"}


def shape_of(obj) -> str:
    """The shape a record has: an envelope's name, else 'plain'."""
    if isinstance(obj, dict):
        for name, shape in SHAPES.items():
            if shape.matches(obj):
                return name
    return "plain"
