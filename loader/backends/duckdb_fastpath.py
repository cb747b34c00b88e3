"""The DuckDB load's staging: one streaming INSERT fed by a lean Python parser.

Same outcomes as the portable path (jsonl.read_batches, Backend.stage_append,
apply): the same rows in raw with the same id, payload, hash and timestamp, the
same rejects with the same line numbers and reasons in the same order, the same
counts, the same stop past --max-rejects, the same errors. What differs is how
much work each line costs, and how often a payload is moved:

* **Reading** is byte blocks (4 MiB; a gzip stream line by line as the
  portable reader reads it, so a damaged file fails after the same lines),
  split with bytes.split; each line's offset in the (unzipped) file is kept.
  Line numbers, blank lines, the BOM on line 1, trailing CR and the
  JSON-array check are handled as there.
* **Per line, Python** does what needs a JSON parser with the portable path's
  exact verdicts and nothing more: orjson.loads (validity, UTF-8, object), the
  id, the updated field through jsonl.parse_timestamp, and SHA-256 of the
  canonical JSON (keys sorted), the same hash as on every other engine. A line
  that is anything but plainly valid (a parse error, not an object, a missing
  or odd id, a bad or future timestamp, a 20-digit run that jsonl reads with
  the standard library, too deep to write back) goes to jsonl.RecordParser,
  which decides: a reject with its reason, or a record.
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

Batches keep the portable path's boundaries (batch_size non-blank lines), so
rows_read, progress and the rejects logged when a load stops past
--max-rejects are the same.

CANVAS_DUCKDB_FASTPATH=0 switches back to the portable path (for comparisons).
"""

from __future__ import annotations

import gzip
import os
import queue
import shutil
import tempfile
import threading
from hashlib import sha256
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from .. import jsonl
from ..errors import InputFileError, LoaderError
from ..faults import crash_point
from .base import RAW_COLUMNS

MODE_ENV = "CANVAS_DUCKDB_FASTPATH"
_BLOCK = 4 << 20  # bytes read at a time from a plain file
_STREAM_ROWS = 4096  # rows per Arrow batch handed to DuckDB
_STREAM_BYTES = 4 << 20  # or fewer, when the payloads are this large
_DIGIT_RUN = b"0" * 20  # jsonl._LONG_DIGITS: 20 digits in a row
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 46 for i in range(256))
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
    return os.environ.get(MODE_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


class _Stop(Exception):
    """The producer's way out once the portable path would stop."""


class FastStager:
    """Stages one file (run) and later writes the payloads apply selected
    (write_from_file)."""

    def __init__(self, backend, path: Path, opts, result, progress):
        self.backend = backend
        self.conn = backend.conn
        self.path = Path(path)
        self.opts = opts
        self.result = result
        self.progress = progress
        self.parser = jsonl.RecordParser(opts.id_field, opts.updated_field, opts.max_future)
        self.rejects: list = []
        schema, name = opts.table.split(".")
        self.raw = backend.table(schema, name)
        self.file_state = self._file_state()
        self.direct = False  # payloads straight into an empty raw table
        self.ingested_at = None
        self.staged = 0  # records streamed
        self.spill: Path | None = None
        self._spill_dir = None

    def _file_state(self):
        st = os.stat(self.path)
        return (st.st_size, st.st_mtime_ns, st.st_ino)

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
        spill = None
        if self.direct:
            _sweep_stale_spills()
            self._spill_dir = _spill_dir()
            spill = self.spill = Path(self._spill_dir.name) / "stage.parquet"
        batches: queue.Queue = queue.Queue(maxsize=2)
        outcome: dict = {}
        producer = threading.Thread(
            target=self._produce, args=(batches, outcome, spill), name="jsonl-parse",
            daemon=True,
        )
        producer.start()

        def stream():
            while True:
                item = batches.get()
                if item is None:
                    return
                yield item

        reader = pa.RecordBatchReader.from_batches(FULL if self.direct else SMALL, stream())
        try:
            self.conn.register("_fast_stream", reader)
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
            outcome.setdefault("abandoned", True)  # stop a producer DuckDB gave up on
            while producer.is_alive():
                try:
                    batches.get(timeout=0.05)
                except queue.Empty:
                    pass
            producer.join()
            self.conn.unregister("_fast_stream")
        if "error" in outcome:
            raise outcome["error"]
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

    def _produce(self, batches: queue.Queue, outcome: dict, spill: Path | None) -> None:
        """The producer thread: parse, count, report; put Arrow batches on the queue."""
        writer = pq.ParquetWriter(spill, SPILL) if spill is not None else None
        pending: list = []
        try:
            for batch in self._batches(outcome):
                self.staged += batch.num_rows
                if writer is not None:
                    pending.append(batch.select(SPILL.names))
                    if sum(b.num_rows for b in pending) >= _SPILL_ROWS:
                        writer.write_table(pa.Table.from_batches(pending, SPILL))
                        pending = []
                batches.put(batch)
            if writer is not None and pending:
                writer.write_table(pa.Table.from_batches(pending, SPILL))
        except _Stop:
            outcome["stopped"] = True
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            if writer is not None:
                writer.close()
            batches.put(None)

    def _batches(self, outcome: dict):
        """Arrow batches of records; rejects, counts, progress and the stop as the
        portable loop does them, at its batch boundaries."""
        opts, result = self.opts, self.result
        batch_size, max_rejects = opts.batch_size, opts.max_rejects
        parser = self.parser
        id_path, upd_path = parser.id_path, parser.updated_path
        id_key = id_path[0] if len(id_path) == 1 else None
        upd_key = upd_path[0] if upd_path is not None and len(upd_path) == 1 else None
        future_limit = parser.future_limit
        get_path, parse_ts = jsonl._get_path, jsonl.parse_timestamp
        long_digits, max_id, bom = jsonl._LONG_DIGITS, jsonl.MAX_ID_LENGTH, jsonl._UTF8_BOM
        loads, dumps, sort_keys = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS
        reject = jsonl._Reject
        rejects = self.rejects
        with_updated = upd_path is not None
        ts = None

        numbers: list = []
        ids: list = []
        payloads: list = []
        hashes: list = []
        stamps: list = []
        offsets: list = []
        pending_bytes = 0
        nonblank = blank = nbytes = 0  # the portable path's batch counters
        number = 0
        first_content = True

        direct = self.direct

        def flush():
            payload = pa.array(payloads, pa.binary())
            columns = [
                pa.array(numbers, pa.int64()),
                pa.array(ids, pa.string()),
                pa.array(hashes, pa.string()),
                pa.array(stamps, pa.timestamp("us")) if with_updated
                else pa.nulls(len(numbers), pa.timestamp("us")),
                pc.binary_length(payload).cast(pa.int32()),
                pa.array(offsets, pa.int64()),
            ]
            if not direct:
                return pa.record_batch(columns, schema=SMALL)
            columns.append(pa.ExtensionArray.from_storage(_JSON, payload.cast(pa.string())))
            return pa.record_batch(columns, schema=FULL)

        for start, data, size, ends_with_newline in self._blocks():
            if outcome.get("abandoned"):
                return
            # Careful per-line checks only where they can matter: a CR (stripped),
            # a run of 20 digits (jsonl reads such lines with the standard library).
            careful = b"\r" in data or _DIGIT_RUN in data.translate(_DIGITS_TO_ZERO)
            lines = data.split(b"\n")
            if ends_with_newline:
                lines.pop()  # the partial line after data[:size], read again next block
            # Bytes are counted per block; a batch that ends inside it counts its part.
            nbytes += size + ends_with_newline
            block_start = number  # line number before the block's first line
            offset = start  # where the next line starts
            for raw in lines:
                number += 1
                line_offset = offset
                offset += len(raw) + 1
                plain = True
                if careful or first_content or raw[:1] != b"{":
                    # The portable reader's preamble, for anything unusual.
                    if number == 1 and raw.startswith(bom):
                        raw = raw[len(bom):]
                        line_offset += len(bom)
                    raw = raw.rstrip(b"\r\n")
                    if not raw.strip():
                        blank += 1
                        continue
                    if first_content:
                        first_content = False
                        if raw.lstrip().startswith(b"["):
                            jsonl._reject_array_file(self.path, raw, number)
                    plain = not (careful and long_digits.search(raw) is not None)
                rid = None
                if plain:
                    # A JSON object with a usable id, a good timestamp or none,
                    # writable back. Anything else is RecordParser's to decide.
                    try:
                        obj = loads(raw)
                        if type(obj) is dict:
                            rid = obj.get(id_key) if id_key is not None else get_path(obj, id_path)
                            kind = type(rid)
                            if kind is int:
                                rid = str(rid)
                            elif kind is not str or len(rid) > max_id or not rid.strip():
                                rid = None
                            if rid is not None and with_updated:
                                value = (obj.get(upd_key) if upd_key is not None
                                         else get_path(obj, upd_path))
                                if value is None:
                                    ts = None
                                else:
                                    ts = parse_ts(value)
                                    if ts > future_limit:
                                        rid = None
                            if rid is not None:
                                digest = sha256(dumps(obj, option=sort_keys)).hexdigest()
                    except (ValueError, TypeError, OverflowError):
                        rid = None
                if rid is None:
                    try:
                        rid, _, digest, ts = parser.parse(raw)
                    except reject as why:
                        rejects.append((number, str(why), jsonl._excerpt(raw)))
                        rid = None
                if rid is not None:
                    numbers.append(number)
                    ids.append(rid)
                    payloads.append(raw)
                    hashes.append(digest)
                    if with_updated:
                        stamps.append(ts)
                    offsets.append(line_offset)
                    pending_bytes += len(raw)
                    if len(numbers) >= _STREAM_ROWS or pending_bytes >= _STREAM_BYTES:
                        yield flush()
                        numbers, ids, payloads, hashes, stamps, offsets = [], [], [], [], [], []
                        pending_bytes = 0
                nonblank += 1
                if nonblank >= batch_size:
                    # The rest of the block belongs to the next batch.
                    rest = lines[number - block_start:]
                    rest_bytes = sum(map(len, rest)) + len(rest)
                    if rest and not ends_with_newline:
                        rest_bytes -= 1  # the file's last line has no newline
                    if self._batch_done(nonblank, blank, nbytes - rest_bytes,
                                        len(rejects) > max_rejects):
                        raise _Stop
                    nonblank = blank = 0
                    nbytes = rest_bytes
        if numbers:
            yield flush()
        if self._batch_done(nonblank, blank, nbytes, len(rejects) > max_rejects):
            raise _Stop

    def _batch_done(self, nonblank: int, blank: int, nbytes: int, over: bool) -> bool:
        result = self.result
        result.rows_read += nonblank
        result.blank_lines += blank
        result.bytes_read += nbytes
        if self.progress is not None:
            self.progress(nbytes)
        crash_point("during_stage")
        return over

    def _blocks(self):
        """Yield (offset of the block's first byte in the (unzipped) file, data, size,
        whether the block's lines end with a newline): its complete lines are
        data[:size] (data itself may go on with a partial line, left for the next
        block: not copied again)."""
        fh = jsonl.open_input(self.path)
        carry = b""
        start = 0
        try:
            for data, error in self._raw_chunks(fh):
                if data:
                    if carry:
                        data = carry + data
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        carry = data
                    else:
                        carry = data[cut + 1:]
                        yield start, data, cut, True
                        start += cut + 1
                if error is not None:
                    raise error
            if carry:
                yield start, carry, len(carry), False
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputFileError(f"{self.path}: cannot be read to the end ({exc})") from None
        finally:
            fh.close()

    @staticmethod
    def _raw_chunks(fh):
        """(bytes, None) blocks of about _BLOCK bytes; at a read error, (what was
        read before it, the error). A gzip stream is read line by line as the
        portable reader does, so a damaged file gives up after the same lines."""
        if not isinstance(fh, gzip.GzipFile):
            while True:
                data = fh.read(_BLOCK)
                if not data:
                    return
                yield data, None
        pieces: list = []
        size = 0
        try:
            for line in fh:
                pieces.append(line)
                size += len(line)
                if size >= _BLOCK:
                    yield b"".join(pieces), None
                    pieces, size = [], 0
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            yield b"".join(pieces), exc
            return
        if pieces:
            yield b"".join(pieces), None

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
                ).to_arrow_reader(_STREAM_ROWS):
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
