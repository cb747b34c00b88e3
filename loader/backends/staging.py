"""Staging: a file's records into the database, before the load's transaction.

A stager reads the file through a RecordReader and returns a Staged value:
everything apply needs to know about what was staged. The portable stager
(TableStager) appends each chunk to the temporary table _stage through the
backend's bulk path (stage_append); engines add their own stagers beside it
(backends/<engine>/), chosen by Backend.stager() from what the engine can do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow as pa

from ..read import Chunk, RecordReader

STAGE_SCHEMA = pa.schema(
    [
        ("line_number", pa.int64()),
        ("id", pa.string()),
        ("payload", pa.string()),
        ("payload_hash", pa.string()),
        ("record_updated_at", pa.timestamp("us")),
    ]
)


def switched_on(env_var: str) -> bool:
    """An engine's own stager is on unless env_var says 0/off/false/no (for comparisons)."""
    return os.environ.get(env_var, "1").strip().lower() not in ("0", "off", "false", "no")


def stage_batch(chunk: Chunk) -> pa.RecordBatch:
    """A chunk as _stage's columns (payloads as text)."""
    return pa.record_batch([
        pa.array(chunk.line_number, pa.int64()),
        pa.array(chunk.id, pa.string()),
        pa.array(chunk.payload, pa.binary()).cast(pa.string()),
        pa.array(chunk.payload_hash, pa.string()),
        pa.array(chunk.record_updated_at, pa.timestamp("us")),
    ], schema=STAGE_SCHEMA)


@dataclass
class Staged:
    """What staging hands to apply.

    first_load: set when raw was empty and the records went straight into it;
    its apply(backend, staged, spec) does the fix-ups and returns the counts.
    The load's transaction is then open already, holding the source's lock.
    payloads: where write_rows takes the payloads of the rows it writes when
    _stage does not hold them (write_from_file), or None. read_by: "python" (the
    RecordReader), or the engine's own reader that staged the file instead."""

    reader: RecordReader
    records: int = 0
    first_load: object | None = None
    payloads: object | None = None
    read_by: str = "python"  # who parsed the file (LoadResult.read_by)

    @property
    def in_transaction(self) -> bool:
        return self.first_load is not None

    def close(self) -> None:
        """Release scratch files (idempotent)."""
        for part in {id(p): p for p in (self.first_load, self.payloads) if p}.values():
            close = getattr(part, "close", None)
            if close:
                close()


class TableStager:
    """The portable staging: each chunk appended to _stage by the backend."""

    def __init__(self, backend):
        self.backend = backend

    def stage(self, reader: RecordReader) -> Staged:
        self.backend.stage_create()
        staged = Staged(reader)
        for chunk in reader:
            batch = stage_batch(chunk)
            unstorable = self.backend.stage_append(pa.Table.from_batches([batch]))
            reader.add_late_rejects(unstorable)
            staged.records += batch.num_rows - len(unstorable or ())
        return staged
