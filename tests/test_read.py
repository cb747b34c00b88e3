"""The reading layer (loader/read/): one reader for every load, whichever backend
stages it. The lean per-line parser must give the strict parser's verdict on
every line: the same records (id, payload, hash, timestamp, offset), the same
rejects with the same line numbers and reasons, the same counts."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import pytest

from loader.errors import InputFileError
from loader.read import FileFormat, RecordReader
from test_duckdb_fastpath import FIRST_LOAD_LINES, LINES


def _write(path: Path, lines: list[bytes], final_newline: bool = True, bom: bool = False,
           crlf: bool = False, gz: bool = False) -> Path:
    data = (b"\r\n" if crlf else b"\n").join(lines) + (b"\n" if final_newline else b"")
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _read_all(path: Path, lean: bool, **options) -> dict:
    reader = RecordReader(path, lean=lean, max_future=timedelta(days=1), **options)
    chunks = [(c.line_number, c.id, c.payload, c.payload_hash, c.record_updated_at,
               c.line_offset) for c in reader]
    return {"chunks": chunks, "rejects": reader.rejects, "rows_read": reader.rows_read,
            "blank_lines": reader.blank_lines, "bytes_read": reader.bytes_read,
            "stopped": reader.stopped}


@pytest.mark.parametrize("layout", [
    {}, {"final_newline": False}, {"bom": True}, {"crlf": True}, {"gz": True},
    {"bom": True, "crlf": True, "final_newline": False, "gz": True},
])
@pytest.mark.parametrize("options", [
    {"updated_field": "updated_at", "batch_size": 7, "chunk_rows": 5},
    {"id_field": "id", "batch_size": 50_000},
    {"updated_field": "updated_at", "batch_size": 4, "max_rejects": 5},
])
def test_read_lean_parser_agrees_with_the_strict_one(tmp_path, layout, options):
    path = _write(tmp_path / "corpus.jsonl", LINES + FIRST_LOAD_LINES, **layout)
    lean, strict = _read_all(path, True, **options), _read_all(path, False, **options)
    assert lean == strict
    assert strict["rejects"] and strict["chunks"]


def test_read_counts_every_line_once(tmp_path):
    lines = [b'{"id": 1}', b"", b"not json", b'{"id": 2}', b"   ", b'{"id": 1, "v": 2}']
    path = _write(tmp_path / "c.jsonl", lines, bom=True, final_newline=False)
    result = _read_all(path, True, batch_size=2)
    records = sum(len(c[0]) for c in result["chunks"])
    assert (records, len(result["rejects"]), result["blank_lines"]) == (3, 1, 2)
    assert result["rows_read"] == records + len(result["rejects"])
    assert result["bytes_read"] == path.stat().st_size
    assert [n for c in result["chunks"] for n in c[0]] == [1, 4, 6]
    assert result["chunks"][0][5][0] == 3  # the payload starts after the BOM


def test_read_stops_past_max_rejects_at_a_batch_end(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [b"bad"] * 10 + [b'{"id": 1}'] * 10)
    result = _read_all(path, True, batch_size=4, max_rejects=2)
    assert result["stopped"] and result["rows_read"] == 4 and len(result["rejects"]) == 4


def test_read_late_rejects_join_at_the_end_of_their_batch(tmp_path):
    path = _write(tmp_path / "late.jsonl", [b'{"id": 1}', b"bad", b'{"id": 2}', b"bad"])
    reader = RecordReader(path, batch_size=2)
    for chunk in reader:
        reader.add_late_rejects([(chunk.line_number[0], "cannot store", "x")])
    assert [r[0] for r in reader.rejects] == [2, 1, 4, 3]


def test_read_refuses_a_json_array_file_declared_jsonl(tmp_path):
    path = tmp_path / "array.json"
    path.write_text('\n[{"id": 1}, {"id": 2}]\n')
    with pytest.raises(InputFileError, match=r"array.json:2: this looks like a JSON array"):
        list(RecordReader(path, fmt=FileFormat("jsonl")))
    assert [c.id for c in RecordReader(path)] == [["1", "2"]]  # undeclared: a JSON array
