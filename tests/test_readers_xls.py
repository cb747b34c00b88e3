"""Old Excel (.xls, BIFF8): a workbook written here with xlwt (Excel dates with a date
format, an empty row, two sheets) is read by python-calamine through `loader load`,
with the spreadsheet's row numbers, as test_readers_xlsx.py does for .xlsx."""

from __future__ import annotations

from datetime import date, datetime

import xlwt

from helpers_readers import last_load, payloads, rejects

TABLE = "raw.school_monthly"


def _workbook(path, title: str | None = None):
    """Sheet 1 "Notes" (a header, no rows); sheet 2 "March": rows 1 and 2 empty (or a
    title in row 1), the header in row 3, an empty row 5, a row without an id (row 7),
    a row beyond the header (row 8)."""
    book = xlwt.Workbook()
    book.add_sheet("Notes").write(0, 0, "written by the office")
    sheet = book.add_sheet("March")
    day = xlwt.easyxf(num_format_str="DD/MM/YYYY")  # shown as Excel shows it; stored a date
    moment = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    rows = {
        0: [title],  # row 1
        2: ["id", "student", "score", "taken_on", "entered_at", "present"],  # row 3
        3: [1001, "Ann", 7.5, date(2026, 3, 2), datetime(2026, 3, 2, 8, 15), True],
        # row 5 (index 4) empty: counted, not a record
        5: [1002, "Bob", 6, date(2026, 3, 3), datetime(2026, 3, 3, 9, 0, 30), False],
        6: [None, "no id", 1],  # row 7: a reject
        7: [1003, "Cy", 5, None, None, None, "beyond the header"],  # row 8: a reject
    }
    for index, values in rows.items():
        for column, value in enumerate(values):
            if value is None:
                continue
            style = moment if isinstance(value, datetime) else \
                day if isinstance(value, date) else xlwt.Style.default_style
            sheet.write(index, column, value, style)
    book.save(str(path))
    return path


def test_readers_xls_dates_empty_row_rejects_and_a_named_sheet(env):
    path = _workbook(env.root / "monthly.xls")
    assert path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: real .xls
    out = env.cli("load", path, "--table", TABLE, "--sheet", "March").output
    assert "read 4, written 2" in out and "rejected 2" in out, out
    assert payloads(env, TABLE) == {
        "1001": {"id": 1001, "student": "Ann", "score": 7.5, "taken_on": "2026-03-02",
                 "entered_at": "2026-03-02T08:15:00", "present": True},
        "1002": {"id": 1002, "student": "Bob", "score": 6, "taken_on": "2026-03-03",
                 "entered_at": "2026-03-03T09:00:30", "present": False},
    }
    assert rejects(env, str(path)) == [
        (7, "missing or null id field 'id'"),
        (8, "row 8 has values beyond the header's 6 columns")]
    assert last_load(env, str(path)) == {"status": "success", "rows_read": 4,
                                         "rows_written": 2, "rows_skipped": 0,
                                         "rows_rejected": 2}


def test_readers_xls_first_sheet_by_default_and_a_missing_sheet(env):
    path = _workbook(env.root / "monthly.xls")
    out = env.cli("load", path, "--table", TABLE).output
    # The first sheet ("Notes") has a header and no rows: nothing to load, no error.
    assert "read 0, written 0" in out, out
    out = env.cli("load", path, "--table", TABLE, "--sheet", "April", "--force",
                  expect=1).output
    assert "no sheet named 'April' (sheets: Notes, March)" in out and "--sheet" in out


def test_readers_xls_found_by_content_and_header_row(env):
    """Named .bin, the file is still read as .xls (its OLE2 magic); --header-row 3
    skips the title above the header."""
    path = env.root / "export.bin"
    path.write_bytes(_workbook(env.root / "monthly.xls", title="March marks").read_bytes())
    out = env.cli("load", path, "--table", TABLE, "--sheet", "March", "--header-row", "3",
                  "--max-rejects", "5").output
    assert "written 2" in out, out
    assert sorted(payloads(env, TABLE)) == ["1001", "1002"]
    assert [n for n, _ in rejects(env, str(path))] == [7, 8]
