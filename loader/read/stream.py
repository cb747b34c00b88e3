"""RecordReader: one file -> chunks of records, with its rejects and counts.

Every load reads its file through this one class. Lines are taken block by
block (lines.py), odd lines cleaned by LineRules, each line judged by the lean
parser with the strict parser deciding whatever the lean one is not sure of
(lean.py, records.py). Records come out in chunks of column lists (at most
chunk_rows rows or chunk_bytes of payload), the form every backend's bulk
path takes.

The file is also counted in batches of batch_size non-blank lines: at the end
of each batch rows_read, blank_lines and bytes_read grow, progress is called
with the batch's bytes and lines, rejects handed back by the database (records it
cannot store, add_late_rejects) join the rejects, and past max_rejects
reading stops. The counts of a stopped load are those of whole batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import isfinite
from pathlib import Path
from typing import Callable, Iterator

import orjson

from ..errors import InputFileError
from ..faults import crash_point
from .cells import Bad
from .delimited import DelimitedRecords
from .contract_check import contract_check
from .envelopes import CONTENT_KEYS, DELETE, SHAPES, SOFT_DELETE, UPSERT, shape_of
from .excel import SheetRecords
from .formats import DELIMITED, FileFormat
from .json_array import JsonArrayRecords
from .lean import lean_parser
from .profile import KeyProfile
from .lines import LineRules, blocks
from .records import LONG_DIGITS, RecordParser, Reject, excerpt

CHUNK_ROWS = 4096
CHUNK_BYTES = 4 << 20


@dataclass
class Chunk:
    """Column lists of records, in file order; payloads are the lines as received."""

    line_number: list[int] = field(default_factory=list)
    id: list[str] = field(default_factory=list)
    payload: list[bytes] = field(default_factory=list)
    payload_hash: list[str] = field(default_factory=list)
    record_updated_at: list[datetime | None] = field(default_factory=list)
    line_offset: list[int] = field(default_factory=list)  # of the payload's first byte

    def __len__(self) -> int:
        return len(self.id)


def _fresh() -> tuple[Chunk, tuple]:
    """A new chunk and the append methods of its columns, in Chunk's field order."""
    chunk = Chunk()
    return chunk, (chunk.line_number.append, chunk.id.append, chunk.payload.append,
                   chunk.payload_hash.append, chunk.record_updated_at.append,
                   chunk.line_offset.append)


class RecordReader:
    """Iterate it for chunks; rejects and counts are complete once it is exhausted."""

    def __init__(self, path: Path, *, id_field: str = "id", updated_field: str | None = None,
                 batch_size: int = 50_000, max_rejects: int | None = None,
                 max_future: timedelta = timedelta(days=366),
                 progress: Callable[[int, int], None] | None = None,
                 chunk_rows: int = CHUNK_ROWS, lean: bool = True, shape: str = "auto",
                 fmt: FileFormat | None = None, name: str | None = None, contract=None,
                 profile_keys: bool = True):
        self.path = Path(path)
        self.name = name or str(path)  # the file as rejects and errors name it
        self.format = (fmt or FileFormat()).resolved(self.path)
        _check_csv_settings(self.format, self.name)
        if shape not in (None, "auto"):
            self.shape = shape
        elif self.format.is_lines:
            self.shape = _detect_shape(self.path)
        elif self.format.name == "json":  # CSV and spreadsheet rows are plain records
            self.shape = _first_record_shape(self._records())
        else:
            self.shape = "plain"
        envelope = SHAPES[self.shape](id_field, updated_field) if self.shape in SHAPES else None
        self.parser = RecordParser(id_field, updated_field, max_future, envelope)
        self.with_updated = updated_field is not None
        self.batch_size = batch_size
        self.max_rejects = max_rejects
        self.progress = progress
        self.chunk_rows = chunk_rows
        # The source's data contract (a compiled validator), checked per record on
        # the object the parser built (contract_check.py): the lean and strict
        # parsers' contract variants, and _checked_object for other readers.
        self._contract = check = contract_check(contract, self.shape)
        if check is None:
            self._lean = lean_parser(self.parser) if lean else (lambda raw: None)
            self._parse = self.parser.parse
        else:
            self._lean = lean_parser(self.parser, check) if lean else (lambda raw: None)
            self._parse = lambda raw: self.parser.parse_checked(raw, check)
        self.rejects: list[tuple[int, str, str]] = []
        self.rows_read = self.blank_lines = self.bytes_read = 0
        self.stopped = False  # past max_rejects
        # The file's deletes, by id: (line number, change time, soft). A delete
        # is not a chunk row; an upsert on a later line of the same id cancels
        # it (a re-insert). Held in memory: one small entry per deleted id.
        self.deletes: dict[str, tuple[int, datetime | None, bool]] = {}
        self.profile = KeyProfile(CONTENT_KEYS.get(self.shape))  # empty unless profile_keys
        self.profile_keys = profile_keys
        self._late: list = []

    def add_late_rejects(self, rejects) -> None:
        """Records the database cannot store: rejects at the end of their batch."""
        self._late.extend(rejects or ())

    @property
    def has_contract(self) -> bool:
        return self._contract is not None

    @property
    def rereadable(self) -> bool:
        """A chunk's payloads are the file's lines at their line_offset: a stager
        may cut them out of the file again (JSON Lines only)."""
        return self.format.is_lines

    def __iter__(self) -> Iterator[Chunk]:
        """The file's chunks; each also feeds the key profile (profile.py)."""
        chunks = self._chunks() if self.format.is_lines else self._record_chunks()
        if not self.profile_keys:
            yield from chunks
            return
        for chunk in chunks:
            self.profile.add_chunk(chunk)
            yield chunk

    def _records(self):
        """The reader of a non-JSONL file: (number, record | Bad | None) items."""
        kind = (DelimitedRecords if self.format.name in DELIMITED else
                JsonArrayRecords if self.format.name == "json" else SheetRecords)
        return kind(self.path, self.format, self.name)

    def _record_chunks(self) -> Iterator[Chunk]:
        """_chunks for records another reader built (cells.py): same chunks, same
        batches and counts; a row's payload is its record as compact JSON."""
        source = self._records()
        chunk, (add_number, add_id, add_payload, add_hash, add_stamp, add_offset) = _fresh()
        lines = blank = rows = 0
        position = 0  # the source's byte position at the last batch end
        chunk_rows, batch_size = self.chunk_rows, self.batch_size
        judge = self._object if self._contract is None else self._checked_object
        for number, value in source:
            if value is None:
                blank += 1
                continue
            lines += 1
            parsed = judge(number, value)
            if parsed is not None and (self.deletes or parsed[1][3] != UPSERT) \
                    and not self._upsert(parsed[1], number):
                parsed = None
            if parsed is not None:
                verdict = parsed[1]
                add_number(number)
                add_id(verdict[0])
                add_payload(parsed[0])
                add_hash(verdict[1])
                add_stamp(verdict[2])
                add_offset(0)
                rows += 1
                if rows >= chunk_rows:
                    yield chunk
                    chunk, (add_number, add_id, add_payload, add_hash, add_stamp,
                            add_offset) = _fresh()
                    rows = 0
            if lines >= batch_size:
                if rows:
                    yield chunk
                    chunk, (add_number, add_id, add_payload, add_hash, add_stamp,
                            add_offset) = _fresh()
                    rows = 0
                if self._end_batch(lines, blank, source.position - position):
                    return
                lines = blank = 0
                position = source.position
        if rows:
            yield chunk
        self._end_batch(lines, blank, source.position - position)

    def _object(self, number: int, value):
        """(payload, verdict) of one record of another reader, or None (a reject)."""
        if type(value) is Bad:
            self.rejects.append((number, value.reason, value.text[:200]))
            return None
        try:
            return self.parser.parse_object(value)
        except Reject as why:
            self.rejects.append((number, str(why), _object_excerpt(value)))
            return None

    def _checked_object(self, number: int, value):
        """_object, and the record against the source's contract: None (a reject
        naming the field and the rule, with the payload's start) if it breaks it."""
        parsed = self._object(number, value)
        if parsed is not None:
            why = self._contract(_as_stored(value, parsed[0]))
            if why is not None:
                self.rejects.append((number, why, excerpt(parsed[0])))
                return None
        return parsed

    def _chunks(self) -> Iterator[Chunk]:
        rules = LineRules(self.path)
        lean, odd, strict, deletes = self._lean, self._odd_line, self._strict, self.deletes
        chunk_rows, batch_size = self.chunk_rows, self.batch_size
        chunk, (add_number, add_id, add_payload, add_hash, add_stamp, add_offset) = _fresh()
        rows = chunk_bytes = 0  # of the open chunk
        number = lines = blank = 0  # lines and blank lines of the open batch
        batch_start = offset = 0  # the open batch's first byte; the next line's
        first = True  # no content line yet (rules.first_content)
        for block in blocks(self.path):
            offset, careful = block.start, block.careful
            for raw in block.lines:
                number += 1
                at = offset
                offset += len(raw) + 1
                if careful or first or raw[:1] != b"{":
                    cleaned = odd(raw, number, at, careful, rules)
                    first = rules.first_content
                    if cleaned is None:
                        blank += 1
                        continue
                    raw, at, parsed = cleaned
                else:  # the plain case: no call but the lean parser's
                    parsed = lean(raw) or strict(raw, number)
                lines += 1
                if parsed is not None and (deletes or len(parsed) > 3) \
                        and not self._upsert(parsed, number):
                    continue
                if parsed is not None:
                    add_number(number)
                    add_id(parsed[0])
                    add_payload(raw)
                    add_hash(parsed[1])
                    add_stamp(parsed[2])
                    add_offset(at)
                    rows += 1
                    chunk_bytes += len(raw)
                    if rows >= chunk_rows or chunk_bytes >= CHUNK_BYTES:
                        yield chunk
                        chunk, (add_number, add_id, add_payload, add_hash, add_stamp,
                                add_offset) = _fresh()
                        rows = chunk_bytes = 0
                if lines >= batch_size:
                    if rows:
                        yield chunk  # the batch's records go out with it
                        chunk, (add_number, add_id, add_payload, add_hash, add_stamp,
                                add_offset) = _fresh()
                        rows = chunk_bytes = 0
                    if self._end_batch(lines, blank, offset - batch_start):
                        return
                    lines = blank = 0
                    batch_start = offset
            if not block.last_newline:  # the file's last line has no newline
                offset -= 1
                if batch_start > offset:  # counted already, by the batch it closed
                    self.bytes_read -= batch_start - offset
                    batch_start = offset
        if rows:
            yield chunk
        self._end_batch(lines, blank, offset - batch_start)

    def _upsert(self, parsed: tuple, number: int) -> bool:
        """Note a delete (and cancel an earlier one on a later upsert of its id);
        whether the record is also a row of the chunk (all but a delete record)."""
        self.deletes.pop(parsed[0], None)
        op = parsed[3] if len(parsed) > 3 else UPSERT
        if op != UPSERT:
            self.deletes[parsed[0]] = (number, parsed[2], op == SOFT_DELETE)
        return op != DELETE

    def _odd_line(self, raw: bytes, number: int, offset: int, careful: bool, rules: LineRules):
        """A line that is not plainly a record: the odd-line rules, then a verdict:
        (line, its offset, (id, hash, updated_at) or None for a reject), or None
        for a blank line."""
        cleaned = rules.clean(raw, number)
        if cleaned is None:
            return None
        raw, skipped = cleaned
        parsed = None
        if not (careful and LONG_DIGITS.search(raw) is not None):
            parsed = self._lean(raw)
        return raw, offset + skipped, parsed or self._strict(raw, number)

    def _strict(self, raw: bytes, number: int):
        """The strict parser's verdict: (id, hash, updated_at), or None for a reject
        (a record that breaks the source's contract among them)."""
        try:
            return self._parse(raw)
        except Reject as why:
            self.rejects.append((number, str(why), excerpt(raw)))
            return None

    def _end_batch(self, lines: int, blank: int, nbytes: int) -> bool:
        """Count the batch just read; True when reading stops here (past max_rejects)."""
        self.rows_read += lines
        self.blank_lines += blank
        self.bytes_read += nbytes
        if self.progress is not None:
            self.progress(nbytes, lines)
        crash_point("during_stage")
        self.rejects.extend(self._late)
        self._late.clear()
        if self.max_rejects is not None and len(self.rejects) > self.max_rejects:
            self.stopped = True
        return self.stopped




def _as_stored(value: dict, payload: bytes):
    """The record as its payload holds it: value itself, but for a non-finite
    number (a CSV number column's 1e999), which orjson writes as null."""
    if b"null" in payload and _non_finite(value):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:  # json wrote it (long integers): Infinity, as value
            pass
    return value


def _non_finite(value) -> bool:
    """Whether a record holds an infinite or NaN number, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        for v in (item.values() if type(item) is dict else item):
            kind = type(v)
            if kind is float:
                if not isfinite(v):
                    return True
            elif kind is dict or kind is list:
                stack.append(v)
    return False


def _check_csv_settings(fmt: FileFormat, name: str) -> None:
    """null_values and types are the CSV reader's: given for another format they
    would do nothing, so the load is refused instead of ignoring them."""
    if fmt.name in DELIMITED or (not fmt.types and fmt.null_values == FileFormat.null_values):
        return
    raise InputFileError(
        f"{name} is {fmt.name}, but null values or column types were declared: "
        "they apply to CSV and TSV only",
        "Drop --null-value/--type (pipeline.yml: null_values/types) for this source, "
        "or declare the format with --format csv (format: csv)")


def _object_excerpt(value: dict) -> str:
    try:
        return excerpt(orjson.dumps(value))
    except TypeError:
        return str(value)[:200]


def _first_record_shape(records) -> str:
    """The shape of the first record of another reader ('plain' for none)."""
    items = iter(records)
    try:
        for _, value in items:
            if isinstance(value, dict):
                return shape_of(value)
            if value is not None:
                break
    finally:
        items.close()
    return "plain"


def _detect_shape(path: Path, tries: int = 20) -> str:
    """The shape of the file's first JSON object line in its first block ('plain'
    when none of the first `tries` candidates parses)."""
    for block in blocks(path):
        for raw in block.lines:
            text = raw.strip().lstrip(b"\xef\xbb\xbf")
            if text.startswith(b"{"):
                try:
                    return shape_of(orjson.loads(text))
                except orjson.JSONDecodeError:
                    tries -= 1
                    if tries <= 0:
                        break
        break
    return "plain"
