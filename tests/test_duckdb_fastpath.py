"""The DuckDB fast stager (loader/backends/duckdb/stager.py) against the portable one.

Every scenario loads the same files twice, once with CANVAS_DUCKDB_FASTPATH=0
(backends/staging.py TableStager, stage_append) and once with the fast path, each into its
own database, and compares everything a user can observe: raw (payload, hash,
timestamp, source), meta.load_reject (line numbers, reasons, excerpts),
meta.load_file and meta.job_run (counts, status, error, metrics), the
watermark, and the error raised. Small batch sizes put batch boundaries (and
the --max-rejects stop) in the middle of the corpus.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from loader.backends.duckdb import stager as duckdb_fastpath
from loader.backends.duckdb.file_payloads import FilePayloads
from loader.load import load_file
from loader.options import LoadOptions
from loader.profiles import Target

DEEP = "[" * 300 + "]" * 300

LINES = [
    b'{"id": 1, "name": "Ada", "updated_at": "2026-09-01T10:00:00Z"}',
    b'',
    b'   ',
    b'{"id": "u-2", "updated_at": "2026-09-02T12:00:00+02:00", "tags": ["a", "b"]}',
    b'{not json',
    b'{"id": 3, "name": "bad utf8 \xff\xfe"}',
    b'[1, 2]',
    b'42',
    b'"a string"',
    b'null',
    b'true',
    b'{"name": "no id"}',
    b'{"id": null}',
    b'{"id": true}',
    b'{"id": 1.5}',
    b'{"id": {"a": 1}}',
    b'{"id": [1]}',
    b'{"id": ""}',
    b'{"id": "   "}',
    '{"id": "\u3000"}'.encode(),
    json.dumps({"id": "x" * 451}).encode(),
    json.dumps({"id": "y" * 450}).encode(),
    json.dumps({"id": "\u00e9" * 451}, ensure_ascii=False).encode(),
    b'{"id": 4, "updated_at": "yesterday"}',
    b'{"id": 5, "updated_at": 1234567890}',
    b'{"id": 6, "updated_at": null}',
    b'{"id": 7, "updated_at": "2026-02-30T00:00:00Z"}',
    b'{"id": 8, "updated_at": "2026-09-01T24:00:00Z"}',
    b'{"id": 9, "updated_at": "2999-01-01T00:00:00Z"}',
    b'{"id": 10, "updated_at": "0001-01-01T00:30:00+01:00"}',
    b'{"id": 11, "updated_at": "2026-09-01"}',
    b'{"id": 12, "updated_at": "2026-09-01 10:00:00.5"}',
    b'{"id": 13, "updated_at": "2026-09-01T10:00:00.123456-05:30"}',
    b'{"id": 14, "updated_at": "2026-09-01t10:00:00z"}',
    b'{"id": 15, "updated_at": " 2026-09-01T10:00:00Z "}',
    b'{"id": 16, "updated_at": "20260903T100000"}',
    b'{"id": 17, "updated_at": "2026-09-01T10:00:00.1234567Z"}',
    b'{"id": 18, "x": NaN}',
    b'{"id": 19, "x": Infinity}',
    b'{"id": 20, "x": 1,}',
    b'{"id": 21, "x": 1e999}',
    b'{"id": 22, "x": 1e308}',
    b'{"id": 123456789012345678901234567890}',
    b'{"id": 23, "sis": "12345678901234567890123"}',
    b'{"id": 24, "x": 1.5e-7, "big": 123456789012345678901}',
    ('{"id": 25, "deep": ' + DEEP + '}').encode(),
    b'{"id": 26, "id": 27}',
    b'{"\\u0069d": 28, "id": 29}',
    b'{"id": 30, "s": "nul \\u0000 inside"}',
    b'{"id": 31, "s": "\\ud800"}',
    b'{"id": "u-2", "updated_at": "2026-09-03T00:00:00Z", "second": true}',
    b'  {"id": 32, "lead": "spaces"}  ',
    b'{"id": 33, "z": 1, "a": {"y": 2, "b": 3}}',
    b'{"id": -0}',
    b'{"id": 18446744073709551615}',
    b'{"id": 34, "updated_at": "2026-09-01T10:00:00.123Z"}',
    b'{"id": 1, "name": "Ada again", "updated_at": "2026-09-01T09:00:00Z"}',
]


def _write(path: Path, lines: list[bytes], *, bom=False, crlf=False, final_newline=True,
           gz=False) -> Path:
    sep = b"\r\n" if crlf else b"\n"
    data = sep.join(lines) + (sep if final_newline else b"")
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _snapshot(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        def q(sql):
            try:
                return con.execute(sql).fetchall()
            except duckdb.CatalogException:
                return None
        return snapshot_of(q, "table_schema not in ('meta')")
    finally:
        con.close()


def snapshot_of(q, raw_tables: str) -> dict:
    """What a user can observe, through q(sql) -> rows (None: no such table);
    raw_tables: where information_schema.tables lists the raw tables."""
    tables = [r[0] + "." + r[1] for r in q(
        "select table_schema, table_name from information_schema.tables "
        f"where {raw_tables} order by 1, 2") or []]
    snap = {
        t: q(f"select id, cast(payload as varchar), payload_hash, record_updated_at, "
             f"source_file, count(*) over (partition by load_id, ingested_at) from {t} "
             "order by id")
        for t in tables
    }
    snap["rejects"] = q("select r.line_number, r.reason, r.line_excerpt, r.source_file "
                        "from meta.load_reject as r join meta.load_file as f "
                        "on f.load_id = r.load_id order by f.started_at, r.line_number")
    snap["load_file"] = q("select source_name, target_table, status, rows_read, "
                          "rows_written, rows_skipped, rows_rejected from meta.load_file "
                          "order by started_at")
    snap["job_run"] = [
        (status, _no_ids(error), _metrics(m))
        for status, error, m in q("select status, error_message, metrics_json "
                                  "from meta.job_run order by started_at") or []
    ]
    snap["watermark"] = q("select source_name, last_updated_at from meta.watermark "
                          "order by 1")
    return snap


def _no_ids(text):
    return re.sub(r"[0-9a-f]{32}", "<load_id>", text) if text else text


def _metrics(text):
    m = json.loads(text)
    for volatile in ("load_id", "seconds", "started_at", "rows_per_second"):
        m.pop(volatile, None)
    return m


def _run(tmp_path: Path, name: str, fast: bool, monkeypatch, loads) -> dict:
    monkeypatch.setenv(duckdb_fastpath.MODE_ENV, "1" if fast else "0")
    db = tmp_path / f"{name}-{'fast' if fast else 'portable'}.duckdb"
    target = Target(name="duckdb", type="duckdb", config={"path": str(db)})
    outcomes = load_all(target, loads)
    return {"outcomes": outcomes, **(_snapshot(db) if db.exists() else {})}


def load_all(target: Target, loads) -> list:
    """Each load's counts, or the error it raised."""
    outcomes = []
    for path, options in loads:
        try:
            result = load_file(path, LoadOptions(**options), target)
            outcomes.append((result.status, result.rows_read, result.rows_written,
                             result.rows_skipped, result.rows_rejected, result.blank_lines,
                             result.bytes_read, result.inserted, result.updated,
                             result.unchanged, result.below_watermark,
                             result.duplicates_in_file, result.first_rejects))
        except Exception as exc:  # noqa: BLE001 - compared between the paths
            outcomes.append((type(exc).__name__, _no_ids(str(exc)),
                             _no_ids(getattr(exc, "hint", None))))
    return outcomes


def same(run, name, loads) -> dict:
    """run(name, fast, loads) -> observations: the fast path's equal the portable's."""
    portable = run(name, False, loads)
    fast = run(name, True, loads)
    for key in portable:
        assert fast.get(key) == portable[key], f"{name}: {key} differs"
    assert fast == portable
    return fast


def _same(tmp_path, monkeypatch, name, loads):
    return same(lambda name, fast, loads: _run(tmp_path, name, fast, monkeypatch, loads),
                name, loads)


# A first load's fix-ups: duplicates (the last line wins), the watermark (SEED's).
SEED = b'{"id": 1, "updated_at": "2026-09-05T00:00:00Z"}'
FIRST_LOAD_LINES = [
    b'{"id": 1, "v": "old", "updated_at": "2026-09-10T00:00:00Z"}',
    b'{"id": 2, "updated_at": "2026-09-01T00:00:00Z"}',
    b'{"id": 3, "v": "first", "updated_at": "2026-09-06T00:00:00Z"}',
    b'{"id": 4, "updated_at": "2026-09-05T00:00:00Z"}',
    b'{"id": 3, "v": "last", "updated_at": "2026-09-07T00:00:00Z"}',
    b'{"id": 1, "v": "new but below", "updated_at": "2026-09-01T00:00:00Z"}',
    b'{"id": 5, "v": "a"}',
    b'{"v": "b", "id": 5}',
    b'{"id": 6, "x": 12345678901234567890123, "updated_at": "2026-09-08T00:00:00Z"}',
    b'{"id": 6, "x": 12345678901234567890124, "updated_at": "2026-09-09T00:00:00Z"}',
]


INCR = {"updated_field": "updated_at", "incremental": True}


@pytest.mark.parametrize("batch_size", [1, 4, 7, 50_000])
def test_fastpath_corpus_first_and_second_load(tmp_path, monkeypatch, batch_size):
    snap = _same(tmp_path, monkeypatch, f"corpus{batch_size}",
                 corpus_loads(tmp_path, LINES, batch_size))
    assert snap["outcomes"][0][0] == "success" and snap["rejects"]


def corpus_loads(tmp_path: Path, lines: list, batch_size: int) -> list:
    """lines into an empty table, the corpus changed and reversed, lines with --force."""
    first = _write(tmp_path / "a.jsonl", lines)
    changed = [line.replace(b"Ada", b"Bea") for line in LINES[::-1]] + [b'{"id": 99}']
    second = _write(tmp_path / "b.jsonl", changed, final_newline=False)
    opts = {"table": "raw.t", "max_rejects": 1000, "batch_size": batch_size, **INCR}
    return [(first, opts), (second, opts), (first, {**opts, "force": True})]


def test_fastpath_without_updated_field_and_nested_id(tmp_path, monkeypatch):
    lines = [b'{"a": {"b": 1}, "v": 1}', b'{"a": {"b": "x"}, "v": 2}', b'{"a": 1}',
             b'{"a": {"b": 1}, "v": 3}', b'{"a": {"b": null}}', b'{"a": {"c": 1}}']
    path = _write(tmp_path / "n.jsonl", lines)
    _same(tmp_path, monkeypatch, "nested", [
        (path, {"table": "raw.n", "id_field": "a.b", "batch_size": 2}),
        (path, {"table": "raw.n", "id_field": "a.b", "force": True}),
        (path, {"table": "raw.m", "id_field": "a.b", "updated_field": "meta.updated_at"}),
    ])


@pytest.mark.parametrize("max_rejects,batch_size", [(0, 1), (2, 4), (5, 7), (10, 3),
                                                    (25, 50_000)])
def test_fastpath_stops_past_max_rejects_like_the_portable_path(tmp_path, monkeypatch,
                                                                 max_rejects, batch_size):
    path = _write(tmp_path / "r.jsonl", LINES)
    opts = {"table": "raw.t", "max_rejects": max_rejects, "batch_size": batch_size, **INCR}
    seed = _write(tmp_path / "seed.jsonl", [b'{"id": 1, "updated_at": "2026-01-01T00:00:00Z"}'])
    # Into an empty table (the fast path's direct mode) and into a filled one.
    _same(tmp_path, monkeypatch, f"stop{max_rejects}-{batch_size}",
          [(path, opts), (seed, opts), (path, opts)])


def test_fastpath_bom_crlf_blank_lines_and_no_final_newline(tmp_path, monkeypatch):
    lines = [b'{"id": 1}', b'', b'{"id": 2}\r', b'  ', b'{"id": 3}']
    loads = [
        (_write(tmp_path / "bom.jsonl", lines, bom=True), {"table": "raw.a"}),
        (_write(tmp_path / "crlf.jsonl", lines, crlf=True), {"table": "raw.b"}),
        (_write(tmp_path / "bare.jsonl", lines, final_newline=False), {"table": "raw.c"}),
        (_write(tmp_path / "blank1.jsonl", [b"", *lines]), {"table": "raw.d"}),
        (_write(tmp_path / "bomarray.jsonl", [b'[{"id": 1}]'], bom=True), {"table": "raw.e"}),
        (_write(tmp_path / "empty.jsonl", []), {"table": "raw.f"}),
        (_write(tmp_path / "blanks.jsonl", [b"", b" ", b"\t"]), {"table": "raw.g"}),
    ]
    # Again into the same tables with changes: the second pass cuts the changed
    # lines out of the file (after a BOM, before a CR, in a gzip stream).
    changed = [b'{"id": 1, "v": 1}', b'', b'{"id": 2, "v": 2}\r', b'  ', b'{"id": 3}']
    loads += [
        (_write(tmp_path / "bom2.jsonl", changed, bom=True), {"table": "raw.a"}),
        (_write(tmp_path / "crlf2.jsonl", changed, crlf=True), {"table": "raw.b"}),
        (_write(tmp_path / "bare2.jsonl.gz", changed, final_newline=False, gz=True),
         {"table": "raw.c"}),
    ]
    _same(tmp_path, monkeypatch, "shapes", loads)


def test_fastpath_json_array_files(tmp_path, monkeypatch):
    records = [{"id": 1}, {"id": 2}]
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(records, indent=2))
    loads = [
        (pretty, {"table": "raw.a"}),
        (_write(tmp_path / "one.json", [json.dumps(records).encode()]), {"table": "raw.b"}),
        (_write(tmp_path / "later.json", [b"", b"  ", json.dumps(records).encode()]),
         {"table": "raw.c"}),
        (_write(tmp_path / "nums.json", [b"[1, 2]", b'{"id": 1}']), {"table": "raw.d"}),
    ]
    _same(tmp_path, monkeypatch, "arrays", loads)


def test_fastpath_gzip_and_truncated_gzip(tmp_path, monkeypatch):
    lines = [json.dumps({"id": i, "pad": "x" * (i % 97)}).encode() for i in range(3000)]
    whole = _write(tmp_path / "whole.jsonl.gz", lines, gz=True)
    data = whole.read_bytes()
    loads = [(whole, {"table": "raw.g", "batch_size": 500})]
    for cut in (len(data) // 3, len(data) // 2, len(data) - 9):
        broken = tmp_path / f"cut{cut}.jsonl.gz"
        broken.write_bytes(data[:cut])
        loads.append((broken, {"table": f"raw.g{cut}", "batch_size": 500}))
        loads.append((broken, {"table": f"raw.h{cut}", "batch_size": 500, "max_rejects": 0}))
    bad = lines[:10] + [b"{broken"] * 5 + lines[10:]
    broken = tmp_path / "badcut.jsonl.gz"
    broken.write_bytes(gzip.compress(b"\n".join(bad))[:-50])
    loads.append((broken, {"table": "raw.b", "batch_size": 12, "max_rejects": 2}))
    _same(tmp_path, monkeypatch, "gzip", loads)


def test_fastpath_duplicates_and_watermark_on_a_first_load(tmp_path, monkeypatch):
    """Direct mode (empty raw) with what it must fix: duplicates (last line wins,
    across batches) and records below a watermark set through another table."""
    seed = _write(tmp_path / "seed.jsonl", [SEED])
    lines = FIRST_LOAD_LINES
    path = _write(tmp_path / "d.jsonl", lines)
    shared = {"source_name": "shared", **INCR}
    _same(tmp_path, monkeypatch, "direct", [
        (seed, {"table": "raw.seed", **shared}),
        (path, {"table": "raw.t", "batch_size": 3, **shared}),
        (path, {"table": "raw.u", "batch_size": 3}),
    ])


def test_fastpath_matches_on_simulated_canvas_data(tmp_path, monkeypatch):
    from loader.simulate import simulate

    simulate(tmp_path / "sim", students=60, courses=4, seed=7)
    simulate(tmp_path / "sim", follow_up=True, seed=7)
    loads = []
    for batch in ("batch-0001", "batch-0002"):
        for entity, updated in (("users", None), ("enrollments", "updated_at"),
                                ("assignments", "updated_at"), ("submissions", None)):
            opts = {"table": f"raw.canvas_{entity}", "batch_size": 100}
            if updated:
                opts.update(updated_field=updated, incremental=True)
            loads.append((tmp_path / "sim" / batch / f"canvas_{entity}.jsonl", opts))
    snap = _same(tmp_path, monkeypatch, "simulated", loads)
    assert any(r[0] == "success" for r in snap["outcomes"])


def test_fastpath_refuses_a_file_that_changes_between_its_passes(tmp_path, monkeypatch):
    """The second pass reads the lines to write again; a file rewritten in
    between fails the load instead of writing other text."""
    monkeypatch.setenv(duckdb_fastpath.MODE_ENV, "1")
    target = Target(name="duckdb", type="duckdb", config={"path": str(tmp_path / "c.duckdb")})
    path = _write(tmp_path / "c.jsonl", [b'{"id": 1}'])
    load_file(path, LoadOptions(table="raw.t"), target)
    path = _write(tmp_path / "c2.jsonl", [b'{"id": 1, "v": 2}', b'{"id": 2}'])
    original = FilePayloads.write_from_file

    def rewrite_first(self, *args, **kwargs):
        _write(path, [b'{"id": 1, "v": 3}', b'{"id": 2}'])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FilePayloads, "write_from_file", rewrite_first)
    with pytest.raises(Exception, match="changed while it was being loaded"):
        load_file(path, LoadOptions(table="raw.t", max_future=timedelta(days=1)), target)
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    assert con.execute("select count(*) from raw.t").fetchone()[0] == 1
    con.close()


def test_fastpath_removes_the_scratch_files_of_killed_loads(tmp_path, monkeypatch):
    """A load killed mid-way cannot remove its spill directory; the next load does
    (only those of processes that are gone)."""
    import subprocess
    import sys
    import tempfile

    monkeypatch.setenv(duckdb_fastpath.MODE_ENV, "1")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = Path(tempfile.gettempdir()) / f"canvas-load-{gone}-killed"
    stale.mkdir(exist_ok=True)
    (stale / "stage.parquet").write_bytes(b"left behind")
    alive = Path(tempfile.gettempdir()) / "canvas-load-1-init"  # pid 1 is alive
    alive.mkdir(exist_ok=True)
    try:
        target = Target(name="duckdb", type="duckdb", config={"path": str(tmp_path / "k.duckdb")})
        load_file(_write(tmp_path / "k.jsonl", [b'{"id": 1}']), LoadOptions(table="raw.t"), target)
        assert not stale.exists()
        assert alive.exists()
    finally:
        alive.rmdir()
