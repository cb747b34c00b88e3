"""Spreadsheets (.xlsx, .xlsm, .xls, .ods) as records: a header row, then a record per row.

Read with python-calamine (Rust; measured against openpyxl read-only in
README.md, "Performance"): the named sheet (`sheet`) or the first one. The
header is the first non-empty row at or below `header_row` (1 = the sheet's
first row); empty header cells after a named one (a merged header cell)
take its name with a suffix (cells.header_names). Values keep the type the
spreadsheet gives them: text, numbers (a whole number as an integer, so an id
1001 stays 1001, not 1001.0), booleans; dates and date-times become ISO text
(2026-01-31, 2026-01-31T08:15:00), times and durations text too; an empty
cell is null. An empty row (trailing ones included) is counted, not a record;
a row with values beyond the header's last column is a reject. Row numbers
are the spreadsheet's own (row 1 is the first row, as Excel shows it).

calamine reads the sheet whole into memory (cells, not the file's XML): about
the size of the sheet's data; see README.md for the measured peak at 100k rows.
A gzipped workbook is unzipped to a scratch file first (calamine needs a file
it can seek in).
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Iterator

import python_calamine as calamine

from ..errors import InputFileError
from .cells import Bad, RowReader, header_names
from .files import is_gzip, open_file


class SheetRecords(RowReader):
    """Iterate for (row number, record | Bad | None); see cells.py."""

    def __iter__(self) -> Iterator[tuple[int, object]]:
        with tempfile.TemporaryDirectory(prefix="canvas-sheet-") as scratch:
            path = self.path
            if is_gzip(path):
                path = Path(scratch) / f"book.{self.fmt.name}"
                with gzip.open(self.path, "rb") as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            sheet = self._sheet(path)
            yield from self._rows(sheet)
        self.position = self.path.stat().st_size

    def _sheet(self, path: Path):
        try:
            open_file(path).close()  # the errors a user can act on
            book = calamine.CalamineWorkbook.from_path(str(path))
        except (calamine.CalamineError, ValueError, OSError) as exc:
            raise InputFileError(f"{self.name}: cannot be read as a {self.fmt.name} workbook "
                                 f"({exc})", "Check the file and --format") from None
        names = book.sheet_names
        if self.fmt.sheet is None:
            if not names:
                raise InputFileError(f"{self.name}: the workbook has no sheet")
            return book.get_sheet_by_index(0)
        if self.fmt.sheet not in names:
            raise InputFileError(
                f"{self.name}: no sheet named {self.fmt.sheet!r} (sheets: {', '.join(names)})",
                "Name one of them with --sheet (sheet: in pipeline.yml)")
        return book.get_sheet_by_name(self.fmt.sheet)

    def _rows(self, sheet) -> Iterator[tuple[int, object]]:
        # calamine (0.9) yields rows from the sheet's row 1, empty ones included;
        # the row numbers asserted in tests/test_readers_xlsx.py hold it to that.
        number = 0  # of the row before the next
        header = None
        for cells in sheet.iter_rows():
            number += 1
            empty = not any(c != "" for c in cells)
            if header is None:
                if number >= self.fmt.header_row and not empty:
                    header = header_names(cells)
                continue
            if empty:
                yield number, None
                continue
            values = [_value(c) for c in cells]
            extra = values[len(header):]
            if any(v is not None for v in extra):
                yield number, Bad(f"row {number} has values beyond the header's "
                                  f"{len(header)} columns", str(values)[:200])
                continue
            yield number, dict(zip(header, values))


def _value(cell):
    """A cell as a JSON value (see the module docstring)."""
    if cell == "" or cell is None:
        return None
    kind = type(cell)
    if kind is float:
        return int(cell) if cell.is_integer() else cell
    if kind is datetime:
        return cell.isoformat()
    if kind in (date, time):
        return cell.isoformat()
    if kind is timedelta:
        return str(cell)
    return cell
