"""DuckDB's fast stager: one streaming INSERT fed by the reader, the payload moved once.

Same outcomes as the portable TableStager and apply: the same rows in raw,
the same rejects, the same counts. What differs is how often a payload moves:

* **Into an empty raw table** (a first load) the records go straight into raw,
  inside the load's transaction, as Arrow's arrow.json type (DuckDB stores it
  without parsing it again; orjson, the stricter parser, has validated it).
  The small columns (line number, id, timestamp, the line's offset and
  length) go to a Parquet spill file, from which apply reads only the records
  it has to decide about (first_load.py).
* **Otherwise** _stage gets the small columns and the hash only; apply decides
  which lines are written, and file_payloads.py cuts just those lines out of
  the file again.

The reader runs in a producer thread (read.prefetched) while DuckDB writes
(DuckDB releases the GIL). Memory stays flat: no table of the load's size is
built inside the transaction (an Arrow scan into a temporary table would hold
it all in memory).

Why the hash is not computed by DuckDB: the canonical form needs sorted keys
at every level; DuckDB has no key sort (json_keys alone costs more than the
whole load), its JSON reader accepts what orjson rejects (NaN, trailing
commas, 1e999), and its sha256()/md5() are slower per byte than hashlib.
Measurements: README.md, "Performance".

Only a JSON Lines file can be cut again by offset: a CSV that DuckDB can read
itself is staged by SQL (csv_in_sql.py); any other CSV, JSON array or
spreadsheet (reader.rereadable False) goes through the portable TableStager.

CANVAS_DUCKDB_FASTPATH=0 switches back to the portable stager (for comparisons).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ... import contract
from ...read import Chunk, RecordReader, prefetched
from ...read.formats import DELIMITED
from ..staging import Staged, TableStager, switched_on
from .csv_in_sql import READ_BY, CsvInSql
from .file_payloads import FULL, JSON, SMALL, FilePayloads, spill_dir
from .first_load import SPILL, FirstLoad

MODE_ENV = "CANVAS_DUCKDB_FASTPATH"
_SPILL_ROWS = 65_536  # rows per Parquet row group


def enabled() -> bool:
    return switched_on(MODE_ENV)


class FastStager:
    def __init__(self, backend, spec):
        self.backend = backend
        self.spec = spec

    def stage(self, reader: RecordReader) -> Staged:
        """Fill _stage (and, on a first load, raw). A file whose payloads are not its
        lines (CSV, JSON arrays, spreadsheets) goes the portable way: the payloads
        cannot be cut out of it again."""
        if not reader.rereadable:
            return self._stage_records(reader)
        backend, raw = self.backend, self.spec.raw
        backend.stage_create()
        backend.begin()
        first_load = None
        if backend.scalar(f"select count(*) from {raw}") == 0:
            # Nothing to compare with: every record goes into raw now, inside the
            # load's transaction (apply and the commit follow in load.py).
            first_load = FirstLoad(backend.ingest_clock(raw), spill_dir())
        else:
            backend.commit()
        payloads = FilePayloads(backend.conn, reader.path, raw, reader.parser)
        staged = Staged(reader, first_load=first_load, payloads=payloads)
        try:
            self._stream(reader, staged)
        except BaseException:
            staged.close()
            raise
        return staged

    def _stage_records(self, reader: RecordReader) -> Staged:
        """A CSV DuckDB can read itself (csv_in_sql.py), else the portable stager."""
        in_sql = CsvInSql(self.backend, self.spec, reader)
        staged = in_sql.stage()
        if staged is None:
            staged = TableStager(self.backend).stage(reader)
            if reader.format.name in DELIMITED:
                staged.read_by = f"python ({READ_BY} not used: {in_sql.why})"
        return staged

    def _stream(self, reader: RecordReader, staged: Staged) -> None:
        first_load, conn = staged.first_load, self.backend.conn
        with prefetched(lambda: self._batches(reader, staged)) as stream:
            batches = pa.RecordBatchReader.from_batches(FULL if first_load else SMALL, stream)
            conn.register("_fast_stream", batches)
            try:
                if first_load:
                    conn.execute(
                        f"insert into {self.spec.raw} ({', '.join(contract.WRITTEN_COLUMNS)}) "
                        "select id, payload, payload_hash, record_updated_at, ?, ?, ? "
                        "from _fast_stream",
                        [first_load.ingested_at, self.spec.source_file, self.spec.load_id],
                    )
                else:
                    conn.execute(f"insert into _stage ({', '.join(SMALL.names)}) "
                                 f"select {', '.join(SMALL.names)} from _fast_stream")
            finally:
                conn.unregister("_fast_stream")

    @staticmethod
    def _batches(reader: RecordReader, staged: Staged):
        """Arrow batches of the reader's chunks (in the producer thread); on a first
        load their small columns also go to the spill file."""
        spill = staged.first_load.spill if staged.first_load else None
        writer = pq.ParquetWriter(spill, SPILL) if spill else None
        pending: list = []
        try:
            for chunk in reader:
                batch = record_batch(chunk, full=writer is not None)
                staged.records += batch.num_rows
                if writer is not None:
                    pending.append(batch.select(SPILL.names))
                    if sum(b.num_rows for b in pending) >= _SPILL_ROWS:
                        writer.write_table(pa.Table.from_batches(pending, SPILL))
                        pending.clear()
                yield batch
            if writer is not None and pending:
                writer.write_table(pa.Table.from_batches(pending, SPILL))
        finally:
            if writer is not None:
                writer.close()


def record_batch(chunk: Chunk, full: bool) -> pa.RecordBatch:
    """SMALL's columns of a chunk, and with full the payload as JSON (FULL)."""
    payload = pa.array(chunk.payload, pa.binary())
    columns = [
        pa.array(chunk.line_number, pa.int64()),
        pa.array(chunk.id, pa.string()),
        pa.array(chunk.payload_hash, pa.string()),
        pa.array(chunk.record_updated_at, pa.timestamp("us")),
        pc.binary_length(payload).cast(pa.int32()),
        pa.array(chunk.line_offset, pa.int64()),
    ]
    if not full:
        return pa.record_batch(columns, schema=SMALL)
    columns.append(pa.ExtensionArray.from_storage(JSON, payload.cast(pa.string())))
    return pa.record_batch(columns, schema=FULL)

