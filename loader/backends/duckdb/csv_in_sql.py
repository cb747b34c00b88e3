"""DuckDB stages a plain CSV itself: read_csv, the payload and its hash in SQL.

The portable path turns each CSV row into a dict, its JSON payload and the
SHA-256 of its canonical JSON in Python: about 13 µs a row, 13x DuckDB's own
`read_csv`. Here DuckDB does the same work inside one INSERT: its CSV reader
(the lines up to the header skipped, every column text), `json_object` in the
header's order for the payload, `json_object` in sorted key order for the
canonical form and `sha256` of it. The rows are exactly the portable path's:
same payload bytes, same hash, same line numbers (tests/test_csv_in_sql.py
compares the two on drawn files).

* Into an empty raw table (a first load) the INSERT writes raw itself, in the
  load's transaction; ids the file holds more than once need line numbers to
  keep the last one, so such a file is read again into _stage.
* Otherwise the rows go to _stage with their line numbers (row_number() over
  the reader's rows, in file order) and the portable apply compares and writes.

Only a file in which nothing needs the portable path's judgement goes this
way; the rest is decided before or after the INSERT, and a file that fails
any check is staged again by the portable path, which then writes the rejects,
counts the blank lines and names the bad byte exactly as it always does:

* before: the source declares no `number` type (integer and boolean columns
  are converted in SQL as delimited.typed() converts them), no contract, a
  top-level id column (not a boolean one), an updated field that is a text
  column of the header, if any (its common ISO forms are read in SQL: see
  _updated_value), UTF-8, at least one null text (none holding the
  delimiter or a quote); a file name without glob characters (DuckDB would
  read the files the pattern matches); the header line is plain (no quote),
  and so is every line above it; the header has no `workflow_state` column (a
  soft delete is the portable path's); the file's bytes (unzipped; _scan,
  _LineRules) hold no lone carriage return, no control character but tab and
  line ends (DuckDB's JSON writes \\u001F where orjson writes \\u001f), no
  spaces between a field's edge and its quote (DuckDB drops them) and no line
  ending in a delimiter that opens a field too many (DuckDB drops it).
* after: DuckDB rejected no row; the rows read plus the lines up to the
  header are the file's lines (so no blank line, no field spanning lines:
  line numbers are row numbers); every id is present, not blank and at most
  MAX_ID_LENGTH characters; no change time is in the future.

The payload-key profile is taken from the first SAMPLE_ALL rows, read by the
portable reader (a CSV row's keys are the header's; the portable path also
samples one in SAMPLE_EVERY after them, which can only turn a key's type from
"null" to "string", and drift ignores null types). The fallback costs a second
read of the file; `meta.job_run`'s metrics say which path read it (`read_by`)
and why it fell back.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from itertools import islice

import duckdb

from ... import contract
from ...faults import crash_point
from ...read import MAX_ID_LENGTH, RecordReader, file_state, is_gzip, open_input
from ...read.cells import header_names
from ...read.delimited import DelimitedRecords, sniff_delimiter
from ...read.formats import DELIMITED
from ...read.profile import SAMPLE_ALL
from ...read.records import UTF8_BOM
from .. import apply as apply_steps
from ..staging import Staged

READ_BY = "duckdb read_csv"
_BLOCK = 1 << 20
# Python's str.isspace() characters, as RE2 spells them (a blank id is only these).
_SPACE = r"\pZ\t\n\x0b\f\r\x1c-\x1f\x85"
_BLANK_ID = f"[{_SPACE}]*"
_TYPED = ("text", "integer", "boolean")  # a number's float text is Python's repr: not here
_CONTROLS = bytes(c for c in range(32) if c not in b"\t\n\r")
_DUPLICATES = "ids in the file more than once"
# Anything DuckDB refuses goes the Python way (which reports its own errors).
_UNREADABLE = duckdb.Error


@dataclass
class Plan:
    """How DuckDB is to read the file: its header's names and the reader settings."""

    names: list[str]
    delimiter: str
    header_lines: int  # the file's lines up to and including the header
    gzip: bool
    values: list[str]  # each column's value in the payload (SQL; see _value)
    updated: str  # record_updated_at (SQL; see _updated_value)


class CsvInSql:
    """stage() -> Staged, or None with `why` set (the portable path stages the file)."""

    def __init__(self, backend, spec, reader: RecordReader):
        self.backend = backend
        self.spec = spec
        self.reader = reader
        self.why: str | None = None

    def stage(self) -> Staged | None:
        plan = self._plan()
        if plan is None:
            return None
        before = file_state(self.reader.path)
        lines, size = self._scan(plan)
        if lines is None:
            return None
        rows = lines - plan.header_lines
        if rows <= 0:
            return self._no("no rows")
        backend = self.backend
        backend.stage_create()
        backend.begin()
        staged = None
        if backend.scalar(f"select count(*) from {self.spec.raw}") == 0 and not (
                self.spec.incremental and backend.watermark(self.spec.source_name)):
            staged = self._first_load(plan, rows, before)
            if staged is None and self.why != _DUPLICATES:
                return None
        else:
            backend.commit()
        if staged is None:
            staged = self._stage_table(plan, rows, before)
            if staged is None:
                return None
        crash_point("during_stage")
        reader = self.reader
        reader.rows_read, reader.bytes_read = rows, size
        if reader.progress is not None:
            reader.progress(size, rows)
        if reader.profile_keys:
            self._profile()
        staged.read_by = READ_BY
        return staged

    def _first_load(self, plan: Plan, rows: int, before) -> Staged | None:
        """Raw is empty: the rows go straight into it, in the load's transaction (open;
        rolled back when a check fails). Ids in the file more than once need line
        numbers to pick the last: None, why _DUPLICATES (then _stage_table)."""
        backend, spec = self.backend, self.spec
        ingested_at = backend.ingest_clock(spec.raw)
        select = self._select(plan, (
            f"{self._id_column(plan)}, {self._payload(plan)}, {self._hash(plan)}, "
            f"{plan.updated}, ?, ?, ?"))
        try:
            backend.execute(
                f"insert into {spec.raw} ({', '.join(contract.WRITTEN_COLUMNS)}) {select}",
                (ingested_at, spec.source_file, spec.load_id, str(self.reader.path)))
        except duckdb.ConstraintException:  # a null id
            return self._undo("rows without a usable id")
        except _UNREADABLE as exc:
            return self._undo(_unreadable(exc))
        why, new_max = self._check(spec.raw, rows, before, ids_once=True)
        if why is not None:
            return self._undo(why)
        return Staged(self.reader, records=rows,
                      first_load=InsertedFirstLoad(ingested_at, rows, new_max))

    def _stage_table(self, plan: Plan, rows: int, before) -> Staged | None:
        """Raw holds rows already (or the file repeats ids): _stage gets the rows with
        their line numbers, for the portable apply to compare and write."""
        backend = self.backend
        select = self._select(plan, (
            f"row_number() over () + {plan.header_lines}, {self._id_column(plan)}, "
            f"{self._payload(plan)}, {self._hash(plan)}, {plan.updated}"))
        # row_number() over () numbers the rows in file order only while DuckDB keeps
        # insertion order (the backend lets it reorder everywhere else).
        backend.execute("set preserve_insertion_order = true")
        try:
            backend.execute(
                "insert into _stage (line_number, id, payload, payload_hash, record_updated_at) "
                f"{select}",
                (str(self.reader.path),))
        except _UNREADABLE as exc:
            return self._undo(_unreadable(exc), in_transaction=False)
        finally:
            backend.execute("set preserve_insertion_order = false")
        why, _ = self._check("_stage", rows, before)
        if why is not None:
            return self._undo(why, in_transaction=False)
        return Staged(self.reader, records=rows)

    def _check(self, table: str, rows: int, before, ids_once: bool = False) -> tuple:
        """(why the rows DuckDB wrote into table are not the portable path's, or None;
        their latest record_updated_at). ids_once: an id twice is a why, too
        (_DUPLICATES)."""
        backend = self.backend
        rejected = backend.scalar("select count(*) from _csv_rejects")
        if rejected:
            return f"{rejected} rows DuckDB rejected", None
        repeated = "count(*) - count(distinct id)" if ids_once else "0"
        written, bad_ids, future, repeated, new_max = backend.execute(
            "select count(*), count(*) filter (where id is null or length(id) > ? "
            "or regexp_full_match(id, ?)), count(*) filter (where record_updated_at > ?), "
            f"{repeated}, max(record_updated_at) from {table}",
            (MAX_ID_LENGTH, _BLANK_ID, self.reader.parser.future_limit)).fetchall()[0]
        if written != rows:
            why = (f"{rows} lines after the header for {written} rows (blank lines, or "
                   "fields spanning lines)")
        elif bad_ids:
            why = f"{bad_ids} rows without a usable id"
        elif future:
            why = f"{future} rows updated in the future"
        elif file_state(self.reader.path) != before:
            why = "the file changed while DuckDB read it"
        else:
            why = _DUPLICATES if repeated else None
        return why, new_max

    def _plan(self) -> Plan | None:
        """The reader settings, or None (why set) when the portable path must read it."""
        reader, fmt = self.reader, self.reader.format
        parser = reader.parser
        if fmt.name not in DELIMITED:
            return self._no("not CSV")
        checks = (
            (any(kind not in _TYPED for _, kind in fmt.types), "a number column"),
            (reader.has_contract, "a contract"),
            (reader.with_updated and len(parser.updated_path) != 1, "a nested updated field"),
            (reader.shape != "plain", f"shape {reader.shape}"),
            (len(parser.id_path) != 1, "a nested id field"),
            (not fmt.is_utf8, "not UTF-8"),
            (not fmt.null_values, "no null text"),
        )
        for failed, why in checks:
            if failed:
                return self._no(why)
        if any(c in str(reader.path) for c in "*?[]{}"):
            return self._no("a file name DuckDB would read as a pattern")
        head = self._head(fmt.header_row)
        if head is None:
            return None
        delimiter = fmt.delimiter or ("\t" if fmt.name == "tsv" else sniff_delimiter(head[-1]))
        if any(delimiter in text or '"' in text for text in fmt.null_values):
            return self._no("a null text holding the delimiter or a quote")
        names = header_names(next(csv.reader([head[-1]], delimiter=delimiter)))
        if parser.id_path[0] not in names:
            return self._no(f"no column {parser.id_path[0]!r}")
        if "workflow_state" in names:
            return self._no("a workflow_state column (soft deletes)")
        types = dict(fmt.types)
        if not set(types) <= set(names):
            return self._no("a typed column the header lacks")
        if types.get(parser.id_path[0]) == "boolean":
            return self._no("a boolean id column")
        values = [_value(f"c{i}", types.get(name, "text")) for i, name in enumerate(names)]
        updated = "cast(null as timestamp)"
        if reader.with_updated:
            column = parser.updated_path[0]
            if column not in names or column in types:
                return self._no("an updated field that is not a text column")
            updated = _updated_value(f"c{names.index(column)}")
        return Plan(names, delimiter, fmt.header_row, is_gzip(reader.path), values, updated)

    def _head(self, header_row: int) -> list[str] | None:
        """The file's lines up to the header (text, without line ends), or None."""
        lines = []
        with open_input(self.reader.path) as fh:
            for _ in range(header_row):
                raw = fh.readline()
                if not raw:
                    return self._no("no header")
                lines.append(raw)
        lines[0] = lines[0].removeprefix(UTF8_BOM)
        try:
            text = [line.decode("utf-8").rstrip("\r\n") for line in lines]
        except UnicodeDecodeError:
            return self._no("the header is not UTF-8")
        if any('"' in line or "\r" in line for line in text) or not text[-1].strip():
            return self._no("a quoted or empty header")
        return text

    def _scan(self, plan: Plan) -> tuple[int | None, int]:
        """(the file's lines, its unzipped size), or (None, 0) with why set when its
        bytes hold what DuckDB's reader and the csv module read differently:
        a lone carriage return (the csv module ends a row there), a control
        character but tab and line ends (DuckDB's JSON writes \\u001F where orjson
        writes \\u001f), spaces between a delimiter and a quote (DuckDB drops them),
        a line ending in a delimiter that does not close its last field (DuckDB
        drops one empty field too many). Read in whole lines."""
        rules = _LineRules(plan.delimiter.encode(), len(plan.names))
        newlines = size = 0
        carry = last = b""
        with open_input(self.reader.path) as fh:
            while True:
                block = fh.read(_BLOCK)
                data = carry + block
                cut = data.rfind(b"\n") + 1 if block else len(data)
                carry, data = data[cut:], data[:cut]
                why = rules.odd(data)
                if why is not None:
                    self._no(why)
                    return None, 0
                newlines += data.count(b"\n")
                size += len(data)
                last = data[-1:] or last
                if not block:
                    break
        return newlines + (1 if last not in (b"", b"\n") else 0), size

    def _select(self, plan: Plan, columns: str) -> str:
        """select columns from DuckDB's reader of the file (the first parameter after
        the columns' own)."""
        self.backend.execute("drop table if exists _csv_rejects")
        self.backend.execute("drop table if exists _csv_scans")
        nulls = ", ".join(_literal(v) for v in self.reader.format.null_values)
        options = ", ".join([
            "header = false", f"skip = {plan.header_lines}", "auto_detect = false",
            f"delim = {_literal(plan.delimiter)}", "quote = '\"'", "escape = '\"'",
            "strict_mode = true", "null_padding = false", "allow_quoted_nulls = true",
            f"nullstr = [{nulls}]",
            "columns = {" + ", ".join(f"'c{i}': 'varchar'" for i in range(len(plan.names))) + "}",
            f"compression = '{'gzip' if plan.gzip else 'none'}'",
            "store_rejects = true", "rejects_table = '_csv_rejects'",
            "rejects_scan = '_csv_scans'",
        ])
        return f"select {columns} from read_csv(?, {options})"

    def _id_column(self, plan: Plan) -> str:
        """The id as the portable path's text of it (an integer column: its number)."""
        at = plan.names.index(self.reader.parser.id_path[0])
        value = plan.values[at]
        return f"c{at}" if value == f"c{at}" else f"cast({value} as varchar)"

    @staticmethod
    def _payload(plan: Plan) -> str:
        """The payload: the row as a JSON object, in the header's order."""
        return _json_object(plan.names, plan.values)

    @staticmethod
    def _hash(plan: Plan) -> str:
        """SHA-256 of the canonical JSON: keys sorted (code point order, as orjson's)."""
        ordered = sorted(range(len(plan.names)), key=lambda i: plan.names[i])
        canonical = _json_object([plan.names[i] for i in ordered], [plan.values[i] for i in ordered])
        return f"sha256(cast({canonical} as varchar))"

    def _profile(self) -> None:
        """The payload key profile of the first SAMPLE_ALL records, read by the portable
        reader (a CSV row's keys are its header's; see the module docstring)."""
        reader, profile = self.reader, self.reader.profile
        records = DelimitedRecords(reader.path, reader.format, reader.name)
        for number, value in islice(records, SAMPLE_ALL):
            if isinstance(value, dict):
                payload, verdict = reader.parser.parse_object(value)
                profile.add(payload, number, verdict[0])
        profile.offered(reader.rows_read)

    def _undo(self, why: str, in_transaction: bool = True) -> None:
        """Take back what this path wrote: the portable path stages the file again."""
        if in_transaction:
            self.backend.rollback()
        self.backend.stage_create()
        return self._no(why)

    def _no(self, why: str) -> None:
        self.why = why
        return None


class InsertedFirstLoad:
    """apply() of a first load that went straight into raw: nothing to fix up (no
    id twice; incremental with a watermark goes through _stage)."""

    def __init__(self, ingested_at, rows: int, new_max):
        self.ingested_at = ingested_at
        self.rows = rows
        self.new_max = new_max

    def apply(self, backend, staged, spec) -> apply_steps.ApplyCounts:
        return apply_steps.ApplyCounts(
            ingested_at=self.ingested_at, staged=self.rows, latest=self.rows, below=0,
            inserted=self.rows, updated=0, watermark_before=backend.watermark(spec.source_name),
            new_max=self.new_max)


_DATE = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?"
_ZONE = "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"


def _updated_value(column: str) -> str:
    """record_updated_at from the updated field's text, as records.parse_timestamp
    reads it (no offset: UTC; an offset: converted to UTC), for the forms both read
    alike: a date, or a date and time to at most microseconds, with Z or +hh:mm.
    Any other text raises an error (parse_timestamp may read it, or reject it:
    the portable path decides), as does a year before 1 once in UTC."""
    text = f"regexp_replace({column}, '^[{_SPACE}]+|[{_SPACE}]+$', '', 'g')"
    stamp = (f"case when regexp_full_match({text}, '{_DATE}{_TIME}{_ZONE}') "
             f"then cast(replace({text}, 'Z', '+00:00') as timestamptz) at time zone 'UTC' "
             f"when regexp_full_match({text}, '{_DATE}({_TIME})?') "
             f"then cast({text} as timestamp) else error('not a timestamp') end")
    return (f"case when {column} is null then null when {stamp} < timestamp '0001-01-01' "
            f"then error('before year 1') else {stamp} end")


class _LineRules:
    """What in a run of whole lines DuckDB's reader would read otherwise (_scan)."""

    def __init__(self, delimiter: bytes, width: int):
        self.delimiter, self.width = delimiter, width
        d = re.escape(delimiter)
        # Each starts with a literal, which re finds fast: a quote after spaces that
        # follow a delimiter or begin a line; a quote before spaces and a field's end.
        self.opening = (re.compile(d + rb"[ ]+\""), re.compile(rb"\n[ ]+\""))
        self.first = re.compile(rb"[ ]+\"")  # at the start of the data (a line's)
        self.closing = re.compile(rb"\"[ ]+(?:" + d + rb"|\r?\n|$)")
        self.trailing = re.compile(rb"^[^\n]*" + d + rb"\r?$", re.M)

    def odd(self, data: bytes) -> str | None:
        if data.count(b"\r") != data.count(b"\r\n"):
            return "a carriage return without a line feed"
        if len(data) != len(data.translate(None, _CONTROLS)):
            return "a control character"
        if self._spaced_quote(data):
            return "spaces between a delimiter and a quote"
        d = self.delimiter
        if d + b"\n" in data or d + b"\r\n" in data or data.endswith(d):
            for line in self.trailing.finditer(data):
                if b'"' in line.group() or line.group().count(d) != self.width - 1:
                    return "a line ending in a delimiter"
        return None

    def _spaced_quote(self, data: bytes) -> bool:
        """A quote with spaces between it and its field's edge, outside a quoted field
        (inside one a quote is doubled: the quotes before it on its line tell)."""
        def quotes_before(at: int) -> int:
            return data.count(b'"', data.rfind(b"\n", 0, at) + 1, at)

        if b' "' in data:
            if self.first.match(data):
                return True
            for pattern in self.opening:
                for match in pattern.finditer(data):
                    if quotes_before(match.end() - 1) % 2 == 0:  # it opens a field
                        return True
        if b'" ' in data:
            for match in self.closing.finditer(data):
                if quotes_before(match.start()) % 2 == 1:  # it closes a field
                    return True
        return False


def _unreadable(exc: Exception) -> str:
    return f"DuckDB could not read it ({str(exc).splitlines()[0]})"


def _json_object(keys: list[str], values: list[str]) -> str:
    pairs = ", ".join(f"{_literal(k)}, {v}" for k, v in zip(keys, values))
    return f"json_object({pairs})"


def _value(column: str, kind: str) -> str:
    """A column's payload value: its text, or for a declared integer or boolean the
    JSON value read/delimited.typed() makes of it. Text it would reject raises an
    error (the portable path then reads the file and writes the reject); the
    patterns are delimited.py's, ASCII letters spelled out (RE2's (?i) folds ſ
    to s, as Python's does, and Python's lower() then would not)."""
    if kind == "text":
        return column
    pad = f"[{_SPACE}]*"
    if kind == "integer":
        return (f"case when {column} is null then null "
                f"when regexp_full_match({column}, '{pad}[+-]?[0-9]+{pad}') "
                f"then cast(regexp_replace({column}, '[{_SPACE}]', '', 'g') as bigint) "
                "else error('not an integer') end")
    yes, no = ("[Tt][Rr][Uu][Ee]|[Tt]|[Yy][Ee][Ss]|[Yy]|1",
               "[Ff][Aa][Ll][Ss][Ee]|[Ff]|[Nn][Oo]|[Nn]|0")
    return (f"case when {column} is null then null "
            f"when regexp_full_match({column}, '{pad}({yes}){pad}') then true "
            f"when regexp_full_match({column}, '{pad}({no}){pad}') then false "
            "else error('not a boolean') end")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
