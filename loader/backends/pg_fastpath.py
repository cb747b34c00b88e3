"""The PostgreSQL load's staging: binary COPY fed by the shared lean parser.

Same outcomes as the portable path (jsonl.read_batches, stage_append, apply):
the lines are parsed by fastparse.LineStager (the DuckDB fast path's parser),
in a producer thread while the main thread encodes (pg_copy, in Arrow) and
COPYs the batch before; records PostgreSQL cannot store (U+0000) become the
same rejects as in stage_append, at the end of their batch.

* **Into an empty raw table** (a first load), when the source's advisory lock
  is free, the load's transaction starts before staging: the lock, a second
  look that raw is still empty, then ingested_at from the database clock (so
  both are taken under the lock, as in apply). The records then go straight into raw in one binary
  COPY, payload as jsonb: the payload is written once. raw's unique index on
  id would refuse a second line of an id, so a Bloom filter over the ids seen
  (bounded memory, no false "new") sends every line whose id may have been
  seen to _stage instead (payload as text); apply (PostgresBackend
  ._apply_first_load) then rewrites just those ids with their last line and
  removes what falls below the watermark. A line sent to _stage by a false
  positive is simply written from there. COPY cannot be interleaved on one
  connection: _stage's lines are held (at most _DIVERTED_BYTES) and COPYed
  between two COPYs into raw.
* **Otherwise** the records fill _stage (the portable path's columns) in one
  binary COPY, and Backend.apply does the rest, as before.

CANVAS_PG_FASTPATH=0 switches back to the portable path (for comparisons).
"""

from __future__ import annotations

from contextlib import ExitStack

import pyarrow as pa
import pyarrow.compute as pc

from .. import jsonl
from . import pg_copy
from .base import RAW_COLUMNS, STAGE_SCHEMA
from .fastparse import LineStager, enabled

MODE_ENV = "CANVAS_PG_FASTPATH"
_DIVERTED_BYTES = 16 << 20  # _stage lines held before they are COPYed
_COPY_STAGE = f"copy _stage ({', '.join(STAGE_SCHEMA.names)}) from stdin (format binary)"


class PgStager(LineStager):
    def __init__(self, backend, path, opts, result, progress):
        super().__init__(backend, path, opts, result, progress)
        self.direct = False  # records straight into an empty raw table
        self.ingested_at = None
        self.staged = 0  # records streamed (raw and _stage)
        self.diverted = 0  # of them, to _stage on a first load
        self.direct_min = self.direct_max = None  # record_updated_at of raw's rows
        self._bloom: bytearray | None = None
        self._bloom_mask = 0

    # -- the main thread ----------------------------------------------------------
    def run(self) -> list:
        """Fill _stage (and, on a first load, raw); return the rejects."""
        self.backend.stage_create()
        self.direct = self._begin_first_load()
        if self.direct:
            self._bloom_init()
        with self.parsing() as stream:
            if self.direct:
                self._copy_first_load(stream)
            else:
                pg_copy.copy_batches(self.conn.cursor(), _COPY_STAGE,
                                     (batch for _, batch in stream))
        return self.rejects

    def _begin_first_load(self) -> bool:
        """True when raw is empty and the source's lock free: then the load's
        transaction is open, with the lock and the ingest clock taken (in that
        order). A load that finds the lock held does not wait for it here: it
        stages as into a filled table, alongside the other load, and waits in
        apply, as the portable path does (waiting here would start its staging
        only once the other load has finished, and let that one run ahead to the
        source's next file, so two pipelines at once would no longer end as
        serial runs)."""
        backend = self.backend
        empty = f"select not exists (select 1 from {self.raw})"
        if not backend.scalar(empty):
            return False
        backend.begin()
        if not backend.try_lock_source(self.opts.source_name) or not backend.scalar(empty):
            backend.commit()
            return False
        self.ingested_at = backend.ingest_clock(self.raw)
        backend.keep_transaction = True
        return True

    def _copy_first_load(self, stream) -> None:
        raw_copy = (f"copy {self.raw} ({', '.join(RAW_COLUMNS)}) "
                    "from stdin (format binary)")
        constants = (self.ingested_at, str(self.path), self.result.load_id)
        held: list = []
        held_bytes = 0
        cursor = self.conn.cursor()
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

    # -- the producer thread ------------------------------------------------------
    def record_batch(self, numbers, ids, payloads, hashes, stamps, offsets):
        """(records for raw, records for _stage) on a first load; else (None, records)."""
        batch = pa.record_batch([
            pa.array(numbers, pa.int64()),
            pa.array(ids, pa.string()),
            pa.array(payloads, pa.binary()).cast(pa.string()),
            pa.array(hashes, pa.string()),
            pa.array(stamps, pa.timestamp("us")) if stamps is not None
            else pa.nulls(len(numbers), pa.timestamp("us")),
        ], schema=STAGE_SCHEMA)
        if self.direct:
            seen = pa.array(self._seen(ids), pa.bool_())
            batch = batch.append_column("seen", seen)
        batch, unstorable = self.backend.split_unstorable(batch)
        self.late_rejects.extend(unstorable)
        self.staged += batch.num_rows
        if not self.direct:
            return None, batch
        seen = batch.column("seen")
        batch = batch.drop_columns(["seen"])
        direct, diverted = batch.filter(pc.invert(seen)), batch.filter(seen)
        self.diverted += diverted.num_rows
        if stamps is not None and direct.num_rows:
            low, high = pc.min_max(direct.column("record_updated_at")).values()
            if low.is_valid:
                low, high = low.as_py(), high.as_py()
                if self.direct_min is None or low < self.direct_min:
                    self.direct_min = low
                if self.direct_max is None or high > self.direct_max:
                    self.direct_max = high
        return direct, diverted

    def _bloom_init(self) -> None:
        """About one bit per 8 bytes of file (a gzip file counts 5x), 64 KiB to
        32 MiB, two bits per id: false positives (a detour through _stage, no
        more) near 0.02% at 1M Canvas submissions (707 MB), 0.5% at 10M."""
        with open(self.path, "rb") as fh:
            gz = fh.read(2) == jsonl._GZIP_MAGIC
        size = self.file_state[0] * (5 if gz else 1)
        bits = 1 << 19
        while bits < size // 8 and bits < 1 << 28:
            bits <<= 1
        self._bloom = bytearray(bits >> 3)
        self._bloom_mask = bits - 1

    def _seen(self, ids: list) -> list:
        """Per id: may it have been seen before (in this file)? Adds it."""
        bloom, mask = self._bloom, self._bloom_mask
        out = []
        append = out.append
        for rid in ids:
            h = hash(rid)
            a = h & mask
            b = (h >> 32) & mask
            if bloom[a >> 3] >> (a & 7) & 1 and bloom[b >> 3] >> (b & 7) & 1:
                append(True)
            else:
                bloom[a >> 3] |= 1 << (a & 7)
                bloom[b >> 3] |= 1 << (b & 7)
                append(False)
        return out


def _end(copy, open_copy: ExitStack) -> None:
    """Finish the open COPY (if any)."""
    if copy is not None:
        copy.write(pg_copy.TRAILER)
        open_copy.close()


def stage_file(backend, path, opts, result, progress) -> PgStager | None:
    """Stage path with the fast path; None when it is switched off."""
    if not enabled(MODE_ENV):
        return None
    stager = PgStager(backend, path, opts, result, progress)
    stager.run()
    return stager
