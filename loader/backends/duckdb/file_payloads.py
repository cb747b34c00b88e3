"""The payloads apply selected, cut out of the file again (DuckDB's fast stager).

The stager staged only the small columns of each record and where its line
is (offset, length); write_from_file() inserts into raw just the lines apply
chose, read from the file a second time in one streaming INSERT. The file must
not have changed meanwhile: its size, mtime and inode, and each line's
boundaries, are checked. Scratch files live in a directory named after the
process, so a killed load's are swept by the next one.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from ... import contract
from ...errors import LoaderError
from ...read import RecordParser, file_state
from ...read.scratch import spill_dir
from ...read.lines import blocks
from ...read.records import UTF8_BOM
from ...read.stream import CHUNK_ROWS

JSON = pa.json_(pa.string())
SMALL = pa.schema([
    ("line_number", pa.int64()),
    ("id", pa.string()),
    ("payload_hash", pa.string()),
    ("record_updated_at", pa.timestamp("us")),
    ("line_bytes", pa.int32()),
    ("line_offset", pa.int64()),  # of the payload's first byte, in the (unzipped) file
])
FULL = SMALL.append(pa.field("payload", JSON))


class FilePayloads:
    """Writes listed lines of one file into raw (write_from_file)."""

    def __init__(self, conn, path: Path, raw: str, parser: RecordParser):
        self.conn = conn
        self.path = Path(path)
        self.raw = raw
        self.parser = parser
        self.file_state = file_state(self.path)

    def write_from_file(self, rows_table: str, ingested_at, spec) -> int:
        """Insert into raw the lines listed in rows_table (SMALL's columns), read
        again from the file: one streaming INSERT, the list itself read from a
        spill file meanwhile."""
        conn = self.conn
        total = conn.execute(f"select count(*) from {rows_table}").fetchall()[0][0]
        if not total:
            return 0
        self._check_unchanged()
        scratch = spill_dir()
        try:
            listing = Path(scratch.name) / "write.arrows"
            with ipc.new_stream(listing, SMALL) as writer:
                for part in conn.sql(
                    f"select {', '.join(SMALL.names)} from {rows_table} order by line_number"
                ).to_arrow_reader(CHUNK_ROWS):
                    writer.write_batch(pa.record_batch(part.columns, schema=SMALL))
            written = [0]
            reader = pa.RecordBatchReader.from_batches(
                FULL, self._picked(ipc.open_stream(listing), written))
            conn.register("_fast_payloads", reader)
            try:
                conn.execute(
                    f"insert into {self.raw} ({', '.join(contract.WRITTEN_COLUMNS)}) "
                    "select id, payload, payload_hash, record_updated_at, ?, ?, ? "
                    "from _fast_payloads",
                    [ingested_at, spec.source_file, spec.load_id],
                )
            finally:
                conn.unregister("_fast_payloads")
        finally:
            scratch.cleanup()
        if written[0] != total:
            self._changed()
        self._check_unchanged()
        return written[0]

    def _picked(self, listing, written: list):
        """FULL batches: the listed rows (in line order) with their lines from the
        file, cut out at the offsets staging recorded."""
        parts = (part for part in listing if part.num_rows)
        part = next(parts, None)
        offsets, sizes = _places(part)
        at_row = 0
        for block in blocks(self.path):
            block_end = block.start + block.size
            while part is not None and offsets[at_row] < block_end:
                end = at_row
                picked = []
                while end < len(offsets) and offsets[end] < block_end:
                    picked.append(self._cut(block, offsets[end] - block.start, sizes[end]))
                    end += 1
                yield self._payload_batch(part.slice(at_row, end - at_row), picked)
                written[0] += len(picked)
                at_row = end
                if at_row >= len(offsets):
                    part, at_row = next(parts, None), 0
                    offsets, sizes = _places(part)
            if part is None:
                return

    def _cut(self, block, at: int, size: int) -> bytes:
        """The line staging read at this place: it must start and end where it did."""
        data = block.data
        raw = data[at:at + size]
        after = data[at + size:at + size + 1] if at + size < block.size else b""
        before = data[at - 1:at] if at else b"\n"
        if len(raw) != size or after not in (b"", b"\n", b"\r") or \
                before not in (b"\n", UTF8_BOM[-1:]):
            self._changed()
        return raw

    def _payload_batch(self, rows: pa.RecordBatch, picked: list) -> pa.RecordBatch:
        payload = pa.array(picked, pa.binary()).cast(pa.string())
        if rows.column(2).null_count:
            # A first load's rewrite: the hash, as the record was parsed.
            hashes = [h if h is not None else self.parser.parse(raw)[1]
                      for h, raw in zip(rows.column(2).to_pylist(), picked)]
            rows = rows.set_column(2, SMALL.field(2), pa.array(hashes, pa.string()))
        return pa.record_batch([*rows.columns, pa.ExtensionArray.from_storage(JSON, payload)],
                               schema=FULL)

    def _check_unchanged(self) -> None:
        if file_state(self.path) != self.file_state:
            self._changed()

    def _changed(self):
        raise LoaderError(
            f"{self.path} changed while it was being loaded; nothing was loaded",
            "Load a file that is complete and no longer written to",
        )


def _places(part) -> tuple[list, list]:
    """(line offsets, line lengths) of a listing part."""
    if part is None:
        return [], []
    return part.column("line_offset").to_pylist(), part.column("line_bytes").to_pylist()
