"""The lean line parser the fast paths share (DuckDB: duckdb_fastpath, PostgreSQL:
pg_fastpath): same verdicts as the portable path, a fraction of its cost per line.

Same outcomes as jsonl.read_batches: the same records with the same id, payload,
hash and timestamp, the same rejects with the same line numbers and reasons in
the same order, the same counts, the same stop past --max-rejects, the same
errors. What differs is how much work each line costs:

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
* **A producer thread** parses batch k+1 while the database writes batch k
  (LineStager.parsing()); the database's client releases the GIL.

Batches keep the portable path's boundaries (batch_size non-blank lines), so
rows_read, progress and the rejects logged when a load stops past
--max-rejects are the same. A subclass turns the column lists of each stream
batch into what its database takes (record_batch()); records its database
cannot store it hands back as rejects (late_rejects), which join the rejects
at the end of their batch, where the portable path's stage_append adds them.
"""

from __future__ import annotations

import gzip
import os
import queue
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

import orjson

from .. import jsonl
from ..errors import InputFileError
from ..faults import crash_point

_BLOCK = 4 << 20  # bytes read at a time from a plain file
STREAM_ROWS = 4096  # rows per Arrow batch handed to the database
_STREAM_BYTES = 4 << 20  # or fewer, when the payloads are this large
_DIGIT_RUN = b"0" * 20  # jsonl._LONG_DIGITS: 20 digits in a row
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 46 for i in range(256))


def enabled(env: str) -> bool:
    """A fast path is on unless env says 0/off/false/no (for comparisons)."""
    return os.environ.get(env, "1").strip().lower() not in ("0", "off", "false", "no")


class _Stop(Exception):
    """The producer's way out once the portable path would stop."""


class LineStager(ABC):
    """Parses one file into stream batches; subclasses stage them."""

    def __init__(self, backend, path: Path, opts, result, progress):
        self.backend = backend
        self.conn = backend.conn
        self.path = Path(path)
        self.opts = opts
        self.result = result
        self.progress = progress
        self.parser = jsonl.RecordParser(opts.id_field, opts.updated_field, opts.max_future)
        self.rejects: list = []
        self.late_rejects: list = []  # of the current batch, added at its end
        schema, name = opts.table.split(".")
        self.raw = backend.table(schema, name)
        self.file_state = self._file_state()

    def _file_state(self):
        st = os.stat(self.path)
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    @abstractmethod
    def record_batch(self, numbers: list, ids: list, payloads: list, hashes: list,
                     stamps: list | None, offsets: list):
        """What goes on the queue for one stream batch (stamps is None without
        --updated-field). Runs in the producer thread."""

    def produced(self, item):
        """Called in the producer thread for each item before it is queued."""
        return item

    def produce_done(self) -> None:
        """Called in the producer thread when it ends, however it ends."""

    @contextmanager
    def parsing(self):
        """The stream batches, parsed by a producer thread while the caller
        writes; the producer's error (after the caller's own) is raised at the end."""
        batches: queue.Queue = queue.Queue(maxsize=2)
        outcome: dict = {}
        producer = threading.Thread(
            target=self._produce, args=(batches, outcome), name="jsonl-parse", daemon=True,
        )
        producer.start()

        def stream():
            while True:
                item = batches.get()
                if item is None:
                    return
                yield item

        try:
            yield stream()
        finally:
            outcome.setdefault("abandoned", True)  # stop a producer the caller gave up on
            while producer.is_alive():
                try:
                    batches.get(timeout=0.05)
                except queue.Empty:
                    pass
            producer.join()
        if "error" in outcome:
            raise outcome["error"]

    def _produce(self, batches: queue.Queue, outcome: dict) -> None:
        """The producer thread: parse, count, report; put the items on the queue."""
        try:
            for item in self._batches(outcome):
                batches.put(self.produced(item))
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            try:
                self.produce_done()
            except BaseException as exc:  # noqa: BLE001
                outcome.setdefault("error", exc)
            batches.put(None)

    def _batches(self, outcome: dict):
        """Arrow batches of records; rejects, counts, progress and the stop as the
        portable loop does them, at its batch boundaries."""
        opts, result = self.opts, self.result
        batch_size = opts.batch_size
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

        def flush():
            return self.record_batch(numbers, ids, payloads, hashes,
                                     stamps if with_updated else None, offsets)

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
                    if len(numbers) >= STREAM_ROWS or pending_bytes >= _STREAM_BYTES:
                        yield flush()
                        numbers, ids, payloads, hashes, stamps, offsets = [], [], [], [], [], []
                        pending_bytes = 0
                nonblank += 1
                if nonblank >= batch_size:
                    if numbers:
                        # The batch's records go out with it (so do late_rejects).
                        yield flush()
                        numbers, ids, payloads, hashes, stamps, offsets = [], [], [], [], [], []
                        pending_bytes = 0
                    # The rest of the block belongs to the next batch.
                    rest = lines[number - block_start:]
                    rest_bytes = sum(map(len, rest)) + len(rest)
                    if rest and not ends_with_newline:
                        rest_bytes -= 1  # the file's last line has no newline
                    if self._batch_done(nonblank, blank, nbytes - rest_bytes):
                        raise _Stop
                    nonblank = blank = 0
                    nbytes = rest_bytes
        if numbers:
            yield flush()
        if self._batch_done(nonblank, blank, nbytes):
            raise _Stop

    def _batch_done(self, nonblank: int, blank: int, nbytes: int) -> bool:
        """Count a finished batch; True when the load stops here (past --max-rejects)."""
        result = self.result
        result.rows_read += nonblank
        result.blank_lines += blank
        result.bytes_read += nbytes
        if self.progress is not None:
            self.progress(nbytes)
        crash_point("during_stage")
        self.rejects.extend(self.late_rejects)
        self.late_rejects.clear()
        return len(self.rejects) > self.opts.max_rejects

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

