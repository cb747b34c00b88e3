"""`loader load -`: standard input, in any format, as one load named <stdin>."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys

import openpyxl
import pytest

from helpers_readers import last_load, load_stdin, payloads, rejects

TABLE = "raw.school_students"


def test_readers_stdin_csv_loads_once_by_content(env):
    data = b"id,name\n1,Ann\n2,Bob\n3\n"
    out = load_stdin(env, data, TABLE, "--format", "csv").output
    assert payloads(env, TABLE) == {"1": {"id": "1", "name": "Ann"},
                                    "2": {"id": "2", "name": "Bob"}}
    assert out == ""  # --silent
    assert rejects(env, "<stdin>") == [(4, "row has 1 fields, the header has 2")]
    assert env.query(f"select distinct source_file from {TABLE}") == [("<stdin>",)]
    assert last_load(env, "<stdin>")["status"] == "success"
    load_stdin(env, data, TABLE, "--format", "csv")  # the same bytes: already loaded
    assert last_load(env, "<stdin>")["status"] == "skipped_file"
    load_stdin(env, b"id,name\n2,Bo\n", TABLE, "--format", "csv")
    assert payloads(env, TABLE)["2"] == {"id": "2", "name": "Bo"}
    assert env.scalar("select count(*) from meta.load_file where file_stat is null") == 3


def test_readers_stdin_jsonl_gzip_json_and_xlsx_found_by_content(env):
    lines = b'{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n'
    load_stdin(env, lines, TABLE)
    load_stdin(env, b'{"id": 2, "v": "B"}\nnot json\n', TABLE)  # into a filled table
    array = gzip.compress(json.dumps([{"id": 3, "v": "c"}]).encode())
    load_stdin(env, array, TABLE)
    book = openpyxl.Workbook()
    book.active.append(["id", "v"])
    book.active.append([4, "d"])
    data = io.BytesIO()
    book.save(data)
    load_stdin(env, data.getvalue(), TABLE)
    assert {k: v["v"] for k, v in payloads(env, TABLE).items()} == {
        "1": "a", "2": "B", "3": "c", "4": "d"}
    [(number, reason)] = rejects(env, "<stdin>")
    assert number == 2 and reason.startswith("invalid JSON")


@pytest.mark.engines("duckdb", "postgres")
def test_readers_stdin_from_a_real_pipe(env):
    source = env.root / "students.csv"
    source.write_bytes(b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(5000)))
    with open(source, "rb") as pipe_in:
        proc = subprocess.run([sys.executable, "-m", "loader.cli", "load", "-", "--table",
                               TABLE, "--format", "csv"], stdin=pipe_in, capture_output=True,
                              text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "<stdin> -> raw.school_students: read 5000, written 5000" in proc.stdout
    assert env.scalar(f"select count(*) from {TABLE}") == 5000
