"""Payload key profile: which JSON key paths a file's records carry, with their
JSON types, so that a load can tell what appeared, disappeared or changed type
since the source's earlier loads (payload drift; compared and stored by
loader/drift.py in meta.payload_key).

Paths go two levels deep ("grades", "grades.current_score"); arrays count as
one type ("array") and are not entered. A null says nothing about a key's
type: a key seen only as null has the type "null". For an envelope the record
inside it is profiled (CD2 `value`, Debezium `after`), not the envelope.

Cheap by sampling: every record of a file's first SAMPLE_ALL records, then one
in SAMPLE_EVERY (a key Canvas adds arrives on every record from then on, so a
sample sees it). Each profiled record is parsed once more (orjson); records
that are not profiled cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

SAMPLE_ALL = 1000
SAMPLE_EVERY = 50
MAX_DEPTH = 2
SAMPLE_IDS = 3
_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
          float: "number", type(None): "null"}


@dataclass
class PathStats:
    types: set[str] = field(default_factory=set)
    records: int = 0  # profiled records that carry the path
    first_line: int = 0
    sample_ids: list[str] = field(default_factory=list)

    @property
    def json_type(self) -> str:
        real = sorted(self.types - {"null"})
        return "|".join(real) if real else "null"


class KeyProfile:
    """Add chunks (read/stream.Chunk) as they are read; paths holds the result."""

    def __init__(self, content_key: str | None = None):
        self.content_key = content_key  # 'value' for CD2, 'after' for Debezium
        self.paths: dict[str, PathStats] = {}
        self.records = 0  # records profiled
        self._seen = 0  # records offered

    def add_chunk(self, chunk) -> None:
        for i, raw in enumerate(chunk.payload):
            self._seen += 1
            if self._seen <= SAMPLE_ALL or self._seen % SAMPLE_EVERY == 0:
                self.add(raw, chunk.line_number[i], chunk.id[i])

    def offered(self, records: int) -> None:
        """Count records offered to the profile by a caller that sampled them itself
        (add() for the sampled ones; backends/duckdb/csv_in_sql.py)."""
        self._seen += records

    def add(self, raw: bytes, line: int, rid: str) -> None:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return  # exact-integer lines: the strict parser took them; not profiled
        if self.content_key is not None and isinstance(obj, dict):
            obj = obj.get(self.content_key)
        if not isinstance(obj, dict):
            return
        self.records += 1
        self._walk(obj, "", 1, line, rid)

    def _walk(self, obj: dict, prefix: str, depth: int, line: int, rid: str) -> None:
        paths = self.paths
        for key, value in obj.items():
            path = prefix + key
            stats = paths.get(path)
            if stats is None:
                stats = paths[path] = PathStats(first_line=line)
            stats.records += 1
            stats.types.add(_TYPES.get(type(value), "other"))
            if len(stats.sample_ids) < SAMPLE_IDS and rid not in stats.sample_ids:
                stats.sample_ids.append(rid)
            if depth < MAX_DEPTH and type(value) is dict:
                self._walk(value, path + ".", depth + 1, line, rid)

    def always(self, path: str) -> bool:
        """Whether every profiled record carried path (a key that is sometimes
        left out, as CD2 leaves out nulls, never counts as removed)."""
        stats = self.paths.get(path)
        return stats is not None and stats.records == self.records
