"""PostgreSQL's stager: binary COPY fed by the reader in a producer thread.

Same outcomes as the portable TableStager and apply. Records PostgreSQL
cannot store (U+0000) become the same rejects as in stage_append.

* **Into an empty raw table** (a first load), when the source's advisory lock
  is free, the load's transaction starts before staging: the lock, a second
  look that raw is still empty, then ingested_at from the database clock (so
  both are taken under the lock, as in apply). The records then go straight
  into raw in one binary COPY, payload as jsonb: the payload is written once.
  raw's unique index on id would refuse a second line of an id, so a Bloom
  filter over the ids seen (bounded memory, no false "new") sends every line
  whose id may have been seen to _stage instead (payload as text);
  PgFirstLoad.apply then rewrites just those ids with their last line and
  removes what falls below the watermark. A line sent to _stage by a false
  positive is simply written from there. COPY cannot be interleaved on one
  connection: _stage's lines are held (at most _DIVERTED_BYTES) and COPYed
  between two COPYs into raw.
* **Otherwise** the records fill _stage in one binary COPY, and the shared
  apply does the rest.

CANVAS_PG_FASTPATH=0 switches back to the portable stager (for comparisons).
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import pyarrow.compute as pc

from ... import contract
from ...read import RecordReader, is_gzip, prefetched
from ..staging import STAGE_SCHEMA, Staged, stage_batch, switched_on
from . import copy as pg_copy
from .first_load import PgFirstLoad
from .text import split_unstorable

MODE_ENV = "CANVAS_PG_FASTPATH"
_DIVERTED_BYTES = 16 << 20  # _stage lines held before they are COPYed
_COPY_STAGE = f"copy _stage ({', '.join(STAGE_SCHEMA.names)}) from stdin (format binary)"


def enabled() -> bool:
    return switched_on(MODE_ENV)


class PgStager:
    def __init__(self, backend, spec):
        self.backend = backend
        self.spec = spec

    def stage(self, reader: RecordReader) -> Staged:
        """Fill _stage (and, on a first load, raw)."""
        self.backend.stage_create()
        staged = Staged(reader, first_load=self._begin_first_load(reader))
        with prefetched(lambda: self._batches(reader, staged)) as stream:
            if staged.first_load is not None:
                self._copy_first_load(stream, staged.first_load)
            else:
                pg_copy.copy_batches(self.backend.conn.cursor(), _COPY_STAGE,
                                     (batch for _, batch in stream))
        return staged

    def _begin_first_load(self, reader: RecordReader) -> PgFirstLoad | None:
        """A PgFirstLoad when raw is empty and the source's lock free: then the
        load's transaction is open, with the lock and the ingest clock taken (in
        that order). A load that finds the lock held does not wait for it here:
        it stages as into a filled table, alongside the other load, and waits in
        apply, as the portable path does (waiting here would start its staging
        only once the other load has finished, and let that one run ahead to the
        source's next file, so two pipelines at once would no longer end as
        serial runs)."""
        backend, raw = self.backend, self.spec.raw
        empty = f"select not exists (select 1 from {raw})"
        if not backend.scalar(empty):
            return None
        backend.begin()
        if not backend.try_lock_source(self.spec.source_name) or not backend.scalar(empty):
            backend.commit()
            return None
        size = os.stat(reader.path).st_size * (5 if is_gzip(reader.path) else 1)
        return PgFirstLoad(backend.ingest_clock(raw), size)

    def _copy_first_load(self, stream, first_load: PgFirstLoad) -> None:
        raw_copy = (f"copy {self.spec.raw} ({', '.join(contract.WRITTEN_COLUMNS)}) "
                    "from stdin (format binary)")
        constants = (first_load.ingested_at, self.spec.source_file, self.spec.load_id)
        held: list = []
        held_bytes = 0
        cursor = self.backend.conn.cursor()
        with ExitStack() as open_copy:
            copy = None
            for direct, diverted in stream:
                if diverted.num_rows:
                    held.append(diverted)
                    held_bytes += diverted.nbytes
                    if held_bytes >= _DIVERTED_BYTES:
                        copy = _end(copy, open_copy)
                        pg_copy.copy_batches(cursor, _COPY_STAGE, held)
                        held, held_bytes = [], 0
                if direct.num_rows:
                    if copy is None:
                        copy = open_copy.enter_context(cursor.copy(raw_copy))
                        copy.write(pg_copy.HEADER)
                    pg_copy.write_batch(copy, direct.select(STAGE_SCHEMA.names[1:]),
                                        jsonb=("payload",), constants=constants)
            _end(copy, open_copy)
        if held:
            pg_copy.copy_batches(cursor, _COPY_STAGE, held)

    @staticmethod
    def _batches(reader: RecordReader, staged: Staged):
        """(records for raw, records for _stage) per chunk on a first load, else
        (None, records): in the producer thread."""
        first_load = staged.first_load
        for chunk in reader:
            batch = stage_batch(chunk)
            if first_load is not None:
                batch = batch.append_column("seen", first_load.seen(chunk.id))
            batch, unstorable = split_unstorable(batch)
            reader.add_late_rejects(unstorable)
            staged.records += batch.num_rows
            if first_load is None:
                yield None, batch
                continue
            seen = batch.column("seen")
            batch = batch.drop_columns(["seen"])
            yield first_load.split(batch.filter(pc.invert(seen)), batch.filter(seen))


def _end(copy, open_copy: ExitStack) -> None:
    """Finish the open COPY (if any)."""
    if copy is not None:
        copy.write(pg_copy.TRAILER)
        open_copy.close()
