"""CSV and TSV files as records: a header row, then one record per row.

Parsed by Python's csv module (C, RFC 4180 quoting: quoted delimiters,
doubled quotes and newlines inside quotes; strict, so `"ab"c` or a quote never
closed is a reject with its line, not a silently merged field), streamed line by line through a
text wrapper, so memory stays flat in the file's size. The delimiter is
declared, or a tab for tsv, or found in the header line (the most frequent of
, ; tab | outside quotes). UTF-8 with or without a BOM unless another
encoding is declared; a byte that is not valid in the encoding fails the
file with its byte offset. Values stay text; a field whose text is one of
null_values (by default the empty field) is null; a column declared in
`types` becomes a JSON integer, number or boolean (a text that is not one is
a reject naming the column). A row with more or fewer fields than the header
is a reject; a blank line is counted, not a record.
"""

from __future__ import annotations

import csv
import io
import re
from itertools import chain
from pathlib import Path
from typing import Iterator

from ..errors import InputFileError
from .cells import Bad, RowReader, header_names
from .files import open_input

_CANDIDATES = (",", ";", "\t", "|")
csv.field_size_limit(1 << 30)  # a long text field is a value, not an error


class DelimitedRecords(RowReader):
    """Iterate for (row number, record | Bad | None); see cells.py."""

    _fh = None

    def __iter__(self) -> Iterator[tuple[int, object]]:
        encoding = "utf-8-sig" if self.fmt.is_utf8 else self.fmt.encoding  # -sig: drops a BOM
        raw = open_input(self.path)
        self._fh = raw
        text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
        try:
            yield from self._rows(text)
        except UnicodeDecodeError:
            raise self._encoding_error() from None
        finally:
            text.close()

    def _rows(self, text) -> Iterator[tuple[int, object]]:
        lines = iter(text)
        skipped = 0
        for _ in range(self.fmt.header_row - 1):  # lines above the header
            if next(lines, None) is not None:
                skipped += 1
        first = next(lines, None)
        if first is None or not first.strip():
            return  # an empty file (or one without a header): no records
        delimiter = self.fmt.delimiter or ("\t" if self.fmt.name == "tsv" else sniff_delimiter(first))
        reader = csv.reader(chain((first,), lines), delimiter=delimiter, quotechar='"',
                            doublequote=True, strict=True)
        header = header_names(next(reader))
        width = len(header)
        types = self._types(header)
        nulls = frozenset(self.fmt.null_values)
        tell = self._fh.tell if hasattr(self._fh, "tell") else (lambda: 0)
        count = 0
        while True:
            start = reader.line_num + 1 + skipped
            try:
                fields = next(reader, None)
            except csv.Error as exc:  # the reader goes on at the next line
                yield start, Bad(_quoting(str(exc)), "")
                continue
            if fields is None:
                break
            count += 1
            if not count & 1023:
                self.position = tell()
            if not fields:
                yield start, None
            elif len(fields) != width:
                if len(fields) < width and not any(fields):  # e.g. a line of ;;;
                    yield start, None
                    continue
                yield start, Bad(f"row has {len(fields)} fields, the header has {width}",
                                 delimiter.join(fields))
            else:
                record = dict(zip(header, fields)) if nulls.isdisjoint(fields) else \
                    {k: (None if v in nulls else v) for k, v in zip(header, fields)}
                yield start, typed(record, types) if types else record
        self.position = tell()

    def _types(self, header: list[str]) -> tuple:
        """The declared column types, each column checked to be in the header."""
        missing = [column for column, _ in self.fmt.types if column not in header]
        if missing:
            raise InputFileError(
                f"{self.name}: the header has no column {missing[0]!r} (declared in types)",
                f"Columns: {', '.join(header)}")
        return tuple((c, t) for c, t in self.fmt.types if t != "text")

    def _encoding_error(self) -> InputFileError:
        offset, line = _first_bad_byte(self.path, self.fmt.encoding)
        return InputFileError(
            f"{self.name}: byte {offset} (line {line}) is not valid {self.fmt.encoding}",
            "Declare the file's encoding with --encoding (pipeline.yml: encoding:), "
            "e.g. --encoding cp1252, or save the file as UTF-8",
        )


def typed(record: dict, types: tuple) -> dict | Bad:
    """record with the declared columns converted (see _CONVERT), or a Bad row
    naming the first column whose text is not of its type."""
    for column, kind in types:
        value = record[column]
        if value is None:
            continue
        convert, pattern = _CONVERT[kind]
        text = value.strip()
        if not pattern.fullmatch(text):
            return Bad(f"column {column!r}: {value[:40]!r} is not {_A_TYPE[kind]}",
                       str(record)[:200])
        record[column] = convert(text)
    return record


def _number(text: str):
    return int(text) if _INTEGER.fullmatch(text) else float(text)


_INTEGER = re.compile(r"[+-]?[0-9]+")
_CONVERT = {
    "integer": (int, _INTEGER),
    "number": (_number, re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")),
    "boolean": (lambda text: text.lower() in ("true", "t", "yes", "y", "1"),
                re.compile(r"(?i)true|false|t|f|yes|no|y|n|1|0")),
}
_A_TYPE = {"integer": "an integer", "number": "a number", "boolean": "a boolean"}


def _quoting(problem: str) -> str:
    if "end of data" in problem:
        return ("a quoted field is not closed before the end of the file "
                "(every line from this one is in it)")
    return (f"bad quoting ({problem}): a quote inside a quoted field must be doubled, "
            "e.g. \"say \"\"hi\"\"\"")


def sniff_delimiter(line: str) -> str:
    """The candidate delimiter seen most often outside quotes in the header line."""
    outside = line.split('"')[::2]
    counts = {c: sum(part.count(c) for part in outside) for c in _CANDIDATES}
    best = max(_CANDIDATES, key=lambda c: counts[c])
    return best if counts[best] else ","


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int]:
    """(byte offset, line) of the first byte the encoding cannot decode."""
    offset = 0
    with open_input(path) as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return offset + exc.start, number
            offset += len(raw)
    return offset, 0
