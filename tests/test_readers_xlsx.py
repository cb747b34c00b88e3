"""Spreadsheets: a workbook written here with openpyxl (dates, empty rows, merged header
cells, two sheets) is read back as records, with the spreadsheet's row numbers."""

from __future__ import annotations

import gzip
import zipfile
from datetime import date, datetime

import openpyxl

from helpers_readers import last_load, payloads, rejects

TABLE = "raw.school_monthly"


def _workbook(path):
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["written by the office"])
    sheet = book.create_sheet("March")
    sheet.append([])  # row 1 empty: the header is the first non-empty row
    sheet.append(["id", "student", "Scores", None, "taken_on", "entered_at"])  # row 2
    sheet.merge_cells("C2:D2")  # one header cell over two columns
    sheet.append([1001, "Ann", 7.5, 8, date(2026, 3, 2), datetime(2026, 3, 2, 8, 15)])
    sheet.append([None] * 6)  # an empty row in the middle: counted, not a record
    sheet.append([1002, "Bob", 6, None, date(2026, 3, 3), datetime(2026, 3, 3, 9, 0, 30)])
    sheet.append([1003, "Cy", 5, 5, None, None, "beyond the header"])  # row 6: a reject
    sheet.append([None, "no id", 1, 1, None, None])  # row 7: a reject
    for _ in range(3):
        sheet.append([None] * 6)  # trailing empty rows
    book.save(path)
    return path


def test_readers_xlsx_dates_empty_rows_merged_header_and_a_named_sheet(env):
    path = _workbook(env.root / "monthly.xlsx")
    out = env.cli("load", path, "--table", TABLE, "--sheet", "March").output
    assert "read 4, written 2" in out and "rejected 2" in out, out
    assert payloads(env, TABLE) == {
        "1001": {"id": 1001, "student": "Ann", "Scores": 7.5, "Scores_2": 8,
                 "taken_on": "2026-03-02", "entered_at": "2026-03-02T08:15:00"},
        "1002": {"id": 1002, "student": "Bob", "Scores": 6, "Scores_2": None,
                 "taken_on": "2026-03-03", "entered_at": "2026-03-03T09:00:30"},
    }
    assert rejects(env, str(path)) == [
        (6, "row 6 has values beyond the header's 6 columns"),
        (7, "missing or null id field 'id'")]
    assert last_load(env, str(path))["rows_read"] == 4


def test_readers_xlsx_first_sheet_by_default_and_a_missing_sheet(env):
    path = _workbook(env.root / "monthly.xlsx")
    out = env.cli("load", path, "--table", TABLE).output
    # The first sheet ("Notes") has a header and no rows: nothing to load, no error.
    assert "read 0, written 0" in out
    out = env.cli("load", path, "--table", TABLE, "--sheet", "April", "--force",
                  expect=1).output
    assert "no sheet named 'April' (sheets: Notes, March)" in out and "--sheet" in out


def test_readers_xlsx_gzip_and_header_row(env):
    path = _workbook(env.root / "monthly.xlsx")
    gz = env.root / "monthly.xlsx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    out = env.cli("load", gz, "--table", TABLE, "--sheet", "March", "--header-row", "2",
                  "--max-rejects", "5").output
    assert "written 2" in out
    assert sorted(payloads(env, TABLE)) == ["1001", "1002"]


def test_readers_xlsx_past_max_rejects_writes_nothing(env):
    path = _workbook(env.root / "monthly.xlsx")
    out = env.cli("load", path, "--table", TABLE, "--sheet", "March", "--max-rejects", "1",
                  expect=1).output
    assert f"{path}: more than 1 lines rejected (first at line 6:" in out, out
    assert env.scalar(f"select count(*) from {TABLE}") == 0
    assert [n for n, _ in rejects(env, str(path))] == [6, 7]
    assert last_load(env, str(path))["status"] == "failed"


def _ods(path, rows):
    """A minimal OpenDocument spreadsheet (openpyxl writes no .ods): mimetype first,
    stored, then the manifest and content.xml."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')

    def cell(value):
        if isinstance(value, int):
            kind = f'office:value-type="float" office:value="{value}"'
        elif isinstance(value, date):
            kind = f'office:value-type="date" office:date-value="{value.isoformat()}"'
        else:
            kind = 'office:value-type="string"'
        return f"<table:table-cell {kind}><text:p>{value}</text:p></table:table-cell>"

    body = "".join("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>"
                   for row in rows)
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="Sheet1">{body}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as book:
        book.writestr(zipfile.ZipInfo("mimetype"),
                      "application/vnd.oasis.opendocument.spreadsheet")
        book.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        book.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def test_readers_xlsx_ods_is_found_by_content_and_read(env):
    path = _ods(env.root / "marks.bin", [["id", "name", "on"], [1, "Ann", date(2026, 3, 2)],
                                          [2, "Bob", datetime(2026, 3, 3, 8, 15)]])
    assert "written 2" in env.cli("load", path, "--table", TABLE).output
    assert payloads(env, TABLE) == {
        "1": {"id": 1, "name": "Ann", "on": "2026-03-02"},
        "2": {"id": 2, "name": "Bob", "on": "2026-03-03T08:15:00"}}
