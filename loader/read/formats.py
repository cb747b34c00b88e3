"""Which reader a file needs: its format, declared or found, and the reader's settings.

A declared format (`--format`, `format:` in pipeline.yml) wins. Otherwise the
file's content decides first, then its name (a trailing .gz is ignored; gzip
itself is found by its magic bytes):

    zip holding an OpenDocument spreadsheet       ods
    other zip (PK..)                              xlsx
    OLE2 compound file                            xls
    first content byte '['                        json (an array of objects), unless
                                                  the first line is a whole JSON value
                                                  and more lines follow (JSON Lines)
    first content byte '{' and a json_path        json (the array at that path)
    name .csv / .tsv, .tab                        csv / tsv
    anything else                                 jsonl (today's default)

A '{' file without a json_path is JSON Lines, even when named .json: a JSONL
file starts the same way and is by far the more common Canvas export.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from .files import open_input, open_file

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BY_NAME = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx",
            ".xls": "xls", ".ods": "ods", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SPREADSHEETS = ("xlsx", "xls", "ods")
DELIMITED = ("csv", "tsv")
_SNIFF_BYTES = 64 << 10


@dataclass(frozen=True)
class FileFormat:
    """A source's format and its reader's settings (options.py checks them)."""

    name: str = "auto"  # auto | jsonl | json | csv | tsv | xlsx | xls | ods
    delimiter: str | None = None  # csv: sniffed from the header line when None
    encoding: str = "utf-8"  # csv/tsv; a UTF-8 BOM is dropped
    sheet: str | None = None  # spreadsheets: the first sheet when None
    header_row: int = 1  # csv and spreadsheets: the row holding the column names
    json_path: str | None = None  # json: where the array is, e.g. data or result.items
    null_values: tuple[str, ...] = ("",)  # csv: field texts read as null
    types: tuple[tuple[str, str], ...] = ()  # csv: (column, integer|number|boolean|text)

    def resolved(self, path: Path) -> "FileFormat":
        """This format with `auto` replaced by what the file is."""
        if self.name != "auto":
            return self
        return replace(self, name=detect(path, self.json_path))

    @property
    def is_utf8(self) -> bool:
        return self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")

    @property
    def is_lines(self) -> bool:
        """JSON Lines: the fast, line-based readers of lines.py and stream.py."""
        return self.name == "jsonl"


def detect(path: Path, json_path: str | None = None) -> str:
    """The format of path by content, then by name (see the module docstring)."""
    with open_file(path) as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGIC):
        with open_file(path) as fh:
            start = fh.read(120)
        return "ods" if b"opendocument.spreadsheet" in start else "xlsx"
    if head.startswith(OLE_MAGIC):
        return "xls"
    first = _first_content_byte(path)
    if (first == b"[" and not _array_line_then_more(path)) or (first == b"{" and json_path):
        return "json"
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    by_name = _BY_NAME.get(suffixes[-1]) if suffixes else None
    if by_name in DELIMITED or by_name in SPREADSHEETS:
        return by_name
    return "jsonl"


def _head(path: Path) -> bytes:
    """The first 64 KiB of content, without a UTF-8 BOM and leading whitespace;
    gzip is read through."""
    with open_input(path) as fh:
        try:
            data = fh.read(_SNIFF_BYTES)
        except (OSError, EOFError):
            return b""
    return data.lstrip(b"\xef\xbb\xbf").lstrip()


def _first_content_byte(path: Path) -> bytes:
    return _head(path)[:1]


def _array_line_then_more(path: Path) -> bool:
    """The first line is a whole JSON value and more content follows: JSON Lines
    whose first line is a (bad) array, not one JSON document."""
    first, _, rest = _head(path).partition(b"\n")
    if not rest.strip():
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True

