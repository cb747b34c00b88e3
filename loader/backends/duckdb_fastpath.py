"""The DuckDB load's staging: one streaming INSERT fed by a lean Python parser.

Same outcomes as the portable path (jsonl.read_batches, Backend.stage_append,
apply): the same rows in raw with the same id, payload, hash and timestamp, the
same rejects with the same line numbers and reasons in the same order, the same
counts, the same stop past --max-rejects, the same errors. What differs is how
much work each line costs, and how often a payload is moved:

* **Reading and per-line parsing** are fastparse.LineStager's (shared with
  PostgreSQL): a lean orjson pass, with jsonl.RecordParser deciding every
  line that is anything but plainly valid.
* **DuckDB** receives the records as one stream of Arrow batches (a producer
  thread parses batch k+1 while DuckDB writes batch k; DuckDB releases the
  GIL) and does everything set-based: the append, then in apply the
  de-duplication, watermark filter, hash comparison and upsert on the small
  columns.
* **The payload moves once.** Into an *empty* raw table (a first load) the
  stream goes straight into raw, inside the load's transaction; the small
  columns (line number, id, timestamp, the line's offset and length) go to a
  Parquet spill file, from which apply reads only the records it has to
  decide about (ids in the file more than once, below the watermark) and
  rewrites those; counts and the new watermark come from raw itself.
  Otherwise the stream fills _stage with the small columns (and the hash),
  apply decides which lines are written, and write_from_file() cuts just
  those lines out of the file again (its size, mtime and inode, and each
  line's boundaries, must still match). The payload is handed over as
  Arrow's arrow.json type, which DuckDB takes as JSON without parsing it
  again (orjson, the stricter parser, has validated it). Memory stays flat:
  no table of the load's size is built inside the transaction (an Arrow scan
  into a temporary table would hold it all in memory).

Why the hash is not computed by DuckDB: the canonical form needs sorted keys
at every level; DuckDB has no key sort (json_keys alone costs more than the
whole load), its JSON reader accepts what orjson rejects (NaN, trailing
commas, 1e999), and its sha256()/md5() are slower per byte than hashlib. A
DuckDB-side hash of the text would be slower and would change the contract (a
re-sent record with its keys in another order would count as changed).
Measurements: README.md, "Performance".

CANVAS_DUCKDB_FASTPATH=0 switches back to the portable path (for comparisons).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from .. import jsonl
from ..errors import LoaderError
from .base import RAW_COLUMNS
from .fastparse import STREAM_ROWS, LineStager
from .fastparse import enabled as _enabled

MODE_ENV = "CANVAS_DUCKDB_FASTPATH"
_JSON = pa.json_(pa.string())

SMALL = pa.schema([
    ("line_number", pa.int64()),
    ("id", pa.string()),
    ("payload_hash", pa.string()),
    ("record_updated_at", pa.timestamp("us")),
    ("line_bytes", pa.int32()),
    ("line_offset", pa.int64()),  # of the payload's first byte, in the (unzipped) file
])
FULL = SMALL.append(pa.field("payload", _JSON))
# A first load's spill file (Parquet, read back by DuckDB's own reader: an Arrow
# scan of it would hold it in memory): no hashes, they are in raw already (apply
# recomputes the few it rewrites).
SPILL = pa.schema([f for f in SMALL if f.name != "payload_hash"])
_SPILL_ROWS = 65_536  # rows per Parquet row group


_SPILL_PREFIX = "canvas-load-"


def _spill_dir() -> tempfile.TemporaryDirectory:
    """A scratch directory named after this process (see _sweep_stale_spills)."""
    return tempfile.TemporaryDirectory(prefix=f"{_SPILL_PREFIX}{os.getpid()}-")


def _sweep_stale_spills() -> None:
    """Remove the scratch directories of loads that were killed (a killed process
    cannot clean up after itself); a live process's are left alone."""
    for path in Path(tempfile.gettempdir()).glob(f"{_SPILL_PREFIX}*-*"):
        try:
            pid = int(path.name[len(_SPILL_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive (another user's process)


def enabled() -> bool:
    return _enabled(MODE_ENV)


class FastStager(LineStager):
    """Stages one file (run) and later writes the payloads apply selected
    (write_from_file)."""

    def __init__(self, backend, path: Path, opts, result, progress):
        super().__init__(backend, path, opts, result, progress)
        self.direct = False  # payloads straight into an empty raw table
        self.ingested_at = None
        self.staged = 0  # records streamed
        self.spill: Path | None = None
        self._spill_dir = None
        self._spill_writer = None
        self._spill_pending: list = []

    # -- pass 1 -----------------------------------------------------------------
    def run(self) -> list:
        """Fill _stage (and, on a first load, raw); return the rejects."""
        self.backend.stage_create()
        self.backend.begin()
        if self.backend.scalar(f"select count(*) from {self.raw}") == 0:
            # Nothing to compare with: every record goes into raw now, inside the
            # load's transaction (apply and the commit follow in load.py).
            self.direct = True
            self.ingested_at = self.backend.ingest_clock(self.raw)
            self.backend.keep_transaction = True
        else:
            self.backend.commit()
        if self.direct:
            _sweep_stale_spills()
            self._spill_dir = _spill_dir()
            self.spill = Path(self._spill_dir.name) / "stage.parquet"
            self._spill_writer = pq.ParquetWriter(self.spill, SPILL)
        with self.parsing() as stream:
            reader = pa.RecordBatchReader.from_batches(FULL if self.direct else SMALL, stream)
            self.conn.register("_fast_stream", reader)
            try:
                if self.direct:
                    self.conn.execute(
                        f"insert into {self.raw} ({', '.join(RAW_COLUMNS)}) "
                        "select id, payload, payload_hash, record_updated_at, ?, ?, ? "
                        "from _fast_stream",
                        [self.ingested_at, str(self.path), self.result.load_id],
                    )
                else:
                    self.conn.execute(
                        f"insert into _stage ({', '.join(SMALL.names)}) "
                        f"select {', '.join(SMALL.names)} from _fast_stream"
                    )
            finally:
                self.conn.unregister("_fast_stream")
        return self.rejects

    def stage_exceptions(self, watermark) -> None:
        """A first load's _stage: only the records apply has to decide about, the
        ones whose id is in the file more than once and (with a watermark) the
        ones below it; every other record is in raw as it should end up."""
        spill = f"read_parquet('{str(self.spill).replace(chr(39), chr(39) * 2)}')"
        below = " or record_updated_at < ?" if watermark is not None else ""
        self.backend.temp_table_as(
            "_stage",
            "select line_number, id, cast(null as json) as payload, "
            "cast(null as varchar) as payload_hash, record_updated_at, line_bytes, line_offset "
            f"from {spill} where id in (select id from {spill} group by id "
            f"having count(*) > 1){below}",
            (watermark,) if watermark is not None else (),
        )

    def cleanup(self) -> None:
        if self._spill_dir is not None:
            self._spill_dir.cleanup()
            self._spill_dir = None

    # -- the producer thread's part ------------------------------------------------
    def record_batch(self, numbers, ids, payloads, hashes, stamps, offsets) -> pa.RecordBatch:
        payload = pa.array(payloads, pa.binary())
        columns = [
            pa.array(numbers, pa.int64()),
            pa.array(ids, pa.string()),
            pa.array(hashes, pa.string()),
            pa.array(stamps, pa.timestamp("us")) if stamps is not None
            else pa.nulls(len(numbers), pa.timestamp("us")),
            pc.binary_length(payload).cast(pa.int32()),
            pa.array(offsets, pa.int64()),
        ]
        if not self.direct:
            return pa.record_batch(columns, schema=SMALL)
        columns.append(pa.ExtensionArray.from_storage(_JSON, payload.cast(pa.string())))
        return pa.record_batch(columns, schema=FULL)

    def produced(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Count it; on a first load, its small columns go to the spill file."""
        self.staged += batch.num_rows
        if self._spill_writer is not None:
            pending = self._spill_pending
            pending.append(batch.select(SPILL.names))
            if sum(b.num_rows for b in pending) >= _SPILL_ROWS:
                self._spill_writer.write_table(pa.Table.from_batches(pending, SPILL))
                pending.clear()
        return batch

    def produce_done(self) -> None:
        writer, self._spill_writer = self._spill_writer, None
        if writer is None:
            return
        try:
            if self._spill_pending:
                writer.write_table(pa.Table.from_batches(self._spill_pending, SPILL))
                self._spill_pending.clear()
        finally:
            writer.close()

    # -- pass 2: the payloads apply selected ------------------------------------------
    def write_from_file(self, rows_table: str, ingested_at, source_file: str,
                        load_id: str) -> int:
        """Insert into raw the lines listed in rows_table (line_number, id,
        payload_hash, record_updated_at, line_bytes, line_offset), read again from the
        file:
        one streaming INSERT, the list itself read from a spill file meanwhile."""
        conn = self.conn
        total = conn.execute(f"select count(*) from {rows_table}").fetchall()[0][0]
        if not total:
            return 0
        self._check_unchanged()
        _sweep_stale_spills()
        spill_dir = _spill_dir()
        try:
            listing = Path(spill_dir.name) / "write.arrows"
            with ipc.new_stream(listing, SMALL) as writer:
                for part in conn.sql(
                    f"select {', '.join(SMALL.names)} from {rows_table} order by line_number"
                ).to_arrow_reader(STREAM_ROWS):
                    writer.write_batch(pa.record_batch(part.columns, schema=SMALL))
            written = [0]
            reader = pa.RecordBatchReader.from_batches(
                FULL, self._picked(ipc.open_stream(listing), written))
            conn.register("_fast_payloads", reader)
            try:
                conn.execute(
                    f"insert into {self.raw} ({', '.join(RAW_COLUMNS)}) "
                    "select id, payload, payload_hash, record_updated_at, ?, ?, ? "
                    "from _fast_payloads",
                    [ingested_at, source_file, load_id],
                )
            finally:
                conn.unregister("_fast_payloads")
        finally:
            spill_dir.cleanup()
        if written[0] != total:
            self._changed()
        self._check_unchanged()
        return written[0]

    def _picked(self, listing, written: list):
        """FULL batches: the listed rows (in line order) with their lines from the
        file, cut out at the offsets pass 1 recorded."""
        parts = iter(listing)
        part = None
        offset_index = 0
        for block_start, data, size, _ in self._blocks():
            block_end = block_start + size
            while True:
                if part is None or offset_index >= part.num_rows:
                    part = next(parts, None)
                    while part is not None and not part.num_rows:
                        part = next(parts, None)
                    if part is None:
                        return
                    offsets = part.column("line_offset").to_pylist()
                    sizes = part.column("line_bytes").to_pylist()
                    offset_index = 0
                if offsets[offset_index] >= block_end:
                    break
                end = offset_index
                picked = []
                while end < len(offsets) and offsets[end] < block_end:
                    at = offsets[end] - block_start
                    raw = data[at:at + sizes[end]]
                    # Still the line pass 1 read: it starts and ends where it did.
                    after = data[at + sizes[end]:at + sizes[end] + 1] if (
                        at + sizes[end] < size) else b""
                    before = data[at - 1:at] if at else b"\n"
                    if (len(raw) != sizes[end] or after not in (b"", b"\n", b"\r")
                            or before not in (b"\n", jsonl._UTF8_BOM[-1:])):
                        self._changed()
                    picked.append(raw)
                    end += 1
                yield self._payload_batch(part.slice(offset_index, end - offset_index), picked)
                written[0] += len(picked)
                offset_index = end

    def _payload_batch(self, rows: pa.RecordBatch, picked: list) -> pa.RecordBatch:
        payload = pa.array(picked, pa.binary()).cast(pa.string())
        if rows.column(2).null_count:
            # A first load's rewrite: the hash, as the record was parsed.
            hashes = [h if h is not None else self.parser.parse(raw)[2]
                      for h, raw in zip(rows.column(2).to_pylist(), picked)]
            rows = rows.set_column(2, SMALL.field(2), pa.array(hashes, pa.string()))
        return pa.record_batch([*rows.columns, pa.ExtensionArray.from_storage(_JSON, payload)],
                               schema=FULL)

    def _check_unchanged(self) -> None:
        if self._file_state() != self.file_state:
            self._changed()

    def _changed(self):
        raise LoaderError(
            f"{self.path} changed while it was being loaded; nothing was loaded",
            "Load a file that is complete and no longer written to",
        )


def stage_file(backend, path, opts, result, progress) -> FastStager | None:
    """Stage path with the fast path; None when it is switched off."""
    if not enabled():
        return None
    stager = FastStager(backend, path, opts, result, progress)
    try:
        stager.run()
    except BaseException:
        stager.cleanup()
        raise
    return stager  # the backend cleans up (its spill file) when it closes
