"""CSV and TSV files: each odd input has one asserted outcome, on every engine.

The files are written here byte for byte (BOM, CRLF, cp1252, gzip).
"""

from __future__ import annotations

import gzip

import pytest

from helpers_attack import watermark
from helpers_readers import last_load, payloads, rejects
from loader.errors import InputFileError
from loader.read import FileFormat, RecordReader

TABLE = "raw.school_students"


def _write(env, name: str, data: bytes):
    path = env.root / name
    path.write_bytes(data)
    return path


def test_readers_csv_quotes_newlines_delimiters_bom_and_crlf(env):
    data = ("\ufeffid,name,note\r\n"
            '1,"Doe, Jane","said ""hi""\r\nand left"\r\n'
            "2,Émile,\r\n"
            '3,"",plain\r\n').encode()
    path = _write(env, "students.csv", data)
    assert "written 3" in env.cli("load", path, "--table", TABLE).output
    assert payloads(env, TABLE) == {
        "1": {"id": "1", "name": "Doe, Jane", "note": 'said "hi"\r\nand left'},
        "2": {"id": "2", "name": "Émile", "note": None},  # the empty field: null
        "3": {"id": "3", "name": None, "note": "plain"},
    }
    assert last_load(env, str(path))["rows_read"] == 3


def test_readers_csv_ragged_row_is_a_reject_with_its_row_number(env):
    data = b'id,name\n1,Ann\n2,"two\nlines"\n3,Bob,extra\n4\n5,Eve\n'
    path = _write(env, "ragged.csv", data)
    out = env.cli("load", path, "--table", TABLE).output
    assert "written 3" in out and "rejected 2" in out
    assert rejects(env, str(path)) == [(5, "row has 3 fields, the header has 2"),
                                       (6, "row has 1 fields, the header has 2")]
    assert sorted(payloads(env, TABLE)) == ["1", "2", "5"]
    assert last_load(env, str(path)) == {"status": "success", "rows_read": 5,
                                         "rows_written": 3, "rows_skipped": 0,
                                         "rows_rejected": 2}


def test_readers_csv_wrong_encoding_names_file_offset_and_option(env):
    data = "id,name\n1,Ann\n2,Müller\n".encode("cp1252")
    path = _write(env, "latin.csv", data)
    out = env.cli("load", path, "--table", TABLE, expect=1).output
    offset = data.index("ü".encode("cp1252"))
    assert f"{path}: byte {offset} (line 3) is not valid utf-8" in out, out
    assert "--encoding" in out and "Traceback" not in out
    out = env.cli("load", path, "--table", TABLE, "--encoding", "cp1252").output
    assert "written 2" in out
    assert payloads(env, TABLE)["2"]["name"] == "Müller"


def test_readers_csv_empty_and_header_only_files_load_nothing(env):
    for name, data in (("empty.csv", b""), ("header.csv", b"id,name\r\n"),
                       ("header_bom.csv", b"\xef\xbb\xbfid,name")):
        path = _write(env, name, data)
        out = env.cli("load", path, "--table", TABLE).output
        assert "read 0, written 0" in out, out
        assert last_load(env, str(path))["status"] == "success"
    assert env.scalar(f"select count(*) from {TABLE}") == 0


def test_readers_csv_gzip_tsv_and_sniffed_semicolons(env):
    gz = _write(env, "students.csv.gz", gzip.compress(b"id,name\n1,Ann\n2,Bob\n"))
    tsv = _write(env, "more.tsv", b"id\tname\n3\tC, with comma\n")
    semi = _write(env, "semi.csv", b'id;name\n4;"D;E"\n')
    for path in (gz, tsv, semi):
        env.cli("load", path, "--table", TABLE)
    assert {k: v["name"] for k, v in payloads(env, TABLE).items()} == {
        "1": "Ann", "2": "Bob", "3": "C, with comma", "4": "D;E"}


def test_readers_csv_past_max_rejects_writes_nothing_and_keeps_the_watermark(env):
    good = _write(env, "day1.csv", b"id,updated_at\n1,2026-09-01T00:00:00Z\n")
    env.cli("load", good, "--table", TABLE, "--updated-field", "updated_at")
    before = watermark(env, "school_students")
    bad = _write(env, "day2.csv",
                 b"id,updated_at\n2,2026-09-02T00:00:00Z\n3\n4,x,y\n5,not a time\n")
    out = env.cli("load", bad, "--table", TABLE, "--updated-field", "updated_at",
                  "--max-rejects", "1", expect=1).output
    assert "more than 1 lines rejected" in out and "Try --max-rejects" in out
    assert sorted(payloads(env, TABLE)) == ["1"]
    assert watermark(env, "school_students") == before
    assert [n for n, _ in rejects(env, str(bad))] == [3, 4, 5]
    assert "unparsable timestamp" in rejects(env, str(bad))[2][1]
    assert last_load(env, str(bad))["status"] == "failed"


def test_readers_csv_declared_null_values_delimiter_and_header_row(tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes(b"exported 2026-09-01\nid|score|flag\n1|NULL|\n2|NA|x\n")
    fmt = FileFormat("csv", delimiter="|", header_row=2, null_values=("NULL", "NA"))
    reader = RecordReader(path, fmt=fmt)
    chunks = list(reader)
    assert [p for c in chunks for p in c.payload] == [
        b'{"id":"1","score":null,"flag":""}', b'{"id":"2","score":null,"flag":"x"}']
    assert [n for c in chunks for n in c.line_number] == [3, 4]


def test_readers_csv_declared_types_convert_or_reject_naming_the_column(tmp_path):
    path = tmp_path / "marks.csv"
    path.write_bytes(b"id,score,grade,present\n1, 7.5 ,10,yes\n2,,11,N\n3,abc,9,1\n"
                     b"4,1e3,x,0\n5,12,12,maybe\n")
    types = (("score", "number"), ("grade", "integer"), ("present", "boolean"))
    reader = RecordReader(path, fmt=FileFormat("csv", types=types))
    assert [p for c in reader for p in c.payload] == [
        b'{"id":"1","score":7.5,"grade":10,"present":true}',
        b'{"id":"2","score":null,"grade":11,"present":false}',
    ]
    assert reader.rejects == [
        (4, "column 'score': 'abc' is not a number", reader.rejects[0][2]),
        (5, "column 'grade': 'x' is not an integer", reader.rejects[1][2]),
        (6, "column 'present': 'maybe' is not a boolean", reader.rejects[2][2]),
    ]
    missing = FileFormat("csv", types=(("points", "integer"),))
    with pytest.raises(InputFileError, match=r"marks.csv: the header has no column 'points'"):
        list(RecordReader(path, fmt=missing))


def test_readers_csv_null_value_option_replaces_the_empty_field_default(env):
    path = _write(env, "export.csv", b"id,score,note\n1,NA,\n2,NULL,x\n")
    # Given, --null-value replaces the default: the empty field is text now.
    env.cli("load", path, "--table", TABLE, "--null-value", "NA", "--null-value", "NULL")
    assert payloads(env, TABLE) == {"1": {"id": "1", "score": None, "note": ""},
                                    "2": {"id": "2", "score": None, "note": "x"}}
    # ... and '' keeps the empty field null too.
    env.cli("load", path, "--table", TABLE, "--null-value", "NA", "--null-value", "",
            "--force")
    assert payloads(env, TABLE) == {"1": {"id": "1", "score": None, "note": None},
                                    "2": {"id": "2", "score": "NULL", "note": "x"}}


def test_readers_csv_type_option_converts_or_rejects_naming_the_column(env):
    path = _write(env, "marks.csv", b"id,score,grade,present\n1, 7.5 ,10,yes\n"
                                    b"2,,11,N\n3,8,x,0\n")
    out = env.cli("load", path, "--table", TABLE, "--type", "score=number",
                  "--type", "grade=integer", "--type", "present=boolean",
                  "--type", "id=text").output
    assert "written 2" in out and "rejected 1" in out, out
    assert payloads(env, TABLE) == {
        "1": {"id": "1", "score": 7.5, "grade": 10, "present": True},
        "2": {"id": "2", "score": None, "grade": 11, "present": False}}
    assert rejects(env, str(path)) == [(4, "column 'grade': 'x' is not an integer")]
    out = env.cli("load", path, "--table", TABLE, "--type", "points=integer", "--force",
                  expect=1).output
    assert "marks.csv: the header has no column 'points'" in out, out


@pytest.mark.parametrize("given, message", [
    (("grade=int",), "--type must map column names to one of text, integer, number, "
                     "boolean, not 'grade=int'"),
    (("grade",), "--type must map column names to one of text, integer, number, boolean, "
                 "not 'grade'"),
    (("=integer",), "not '=integer'"),
    (("grade=integer", "grade=text"), "--type declares column 'grade' twice"),
])
def test_readers_csv_type_option_malformed_is_refused_before_anything_runs(env, given,
                                                                            message):
    path = _write(env, "marks.csv", b"id,grade\n1,10\n")
    args = [a for value in given for a in ("--type", value)]
    out = env.cli("load", path, "--table", TABLE, *args, expect=1).output
    assert message in out, out
    if "twice" not in message:
        assert "e.g. --type grade_level=integer" in out
    assert env.is_empty()


def test_readers_csv_bad_quoting_is_a_reject_and_reading_goes_on(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_bytes(b'id,name\n1,Jo"hn\n2,"ab"c\n3,ok\n4,"never closed\n5,lost\n')
    reader = RecordReader(path)
    assert [p for c in reader for p in c.payload] == [b'{"id":"1","name":"Jo\\"hn"}',
                                                      b'{"id":"3","name":"ok"}']
    assert [(n, why.split(" (")[0].split(":")[0]) for n, why, _ in reader.rejects] == [
        (3, "bad quoting"), (5, "a quoted field is not closed before the end of the file")]


def test_csv_settings_for_a_file_that_is_not_csv_are_refused(env):
    path = _write(env, "students.jsonl", b'{"id": 1, "name": "NA"}\n')
    for option in (("--null-value", "NA"), ("--type", "id=integer")):
        out = env.cli("load", path, "--table", TABLE, *option, expect=1).output
        assert f"{path} is jsonl, but null values or column types were declared" in out, out
        assert "--format csv" in out and "Traceback" not in out
    assert env.query(f"select count(*) from {TABLE}")[0][0] == 0
