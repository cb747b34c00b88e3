"""The PostgreSQL fast path (loader/backends/pg_fastpath.py) against the portable path.

As tests/test_duckdb_fastpath.py does for DuckDB: every scenario loads the same
files twice, once with CANVAS_PG_FASTPATH=0 (jsonl.read_batches, stage_append,
Backend.apply) and once with the fast path, each into its own database, and
compares everything a user can observe: raw (payload, hash, timestamp, source,
one ingested_at per load), meta.load_reject, meta.load_file, meta.job_run, the
watermark, and the error raised. Small batch sizes put batch boundaries (and
the --max-rejects stop) in the middle of the corpus; a tiny Bloom filter and
a tiny hold for _stage's lines exercise the first load's fix-ups.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_duckdb_fastpath import INCR, LINES, _metrics, _no_ids, _write

from loader.backends import pg_fastpath
from loader.load import LoadOptions, load_file
from loader.profiles import Target

NUL_LINES = [
    b'{"id": 40, "note": "nul \\u0000 escape"}',
    b'{"id": 41, "note": "a backslash, then u0000: \\\\u0000"}',
    b'{"id": "42\\u0000"}',
    b'{"id": 40, "note": "again, storable"}',
    b'{"id": 43, "note": "\\\\\\u0000 odd backslashes"}',
]


def _snapshot(db) -> dict:
    def q(sql):
        return db.query(sql)

    tables = [r[0] + "." + r[1] for r in q(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema = 'raw' order by 1, 2")]
    snap = {
        t: q(f"select id, payload::text, payload_hash, record_updated_at, source_file, "
             f"count(*) over (partition by load_id, ingested_at) from {t} order by id")
        for t in tables
    }
    if not q("select 1 from information_schema.tables where table_schema = 'meta'"):
        return snap
    snap["rejects"] = q("select r.line_number, r.reason, r.line_excerpt, r.source_file "
                        "from meta.load_reject as r join meta.load_file as f "
                        "on f.load_id = r.load_id order by f.started_at, r.line_number")
    snap["load_file"] = q("select source_name, target_table, status, rows_read, "
                          "rows_written, rows_skipped, rows_rejected from meta.load_file "
                          "order by started_at")
    snap["job_run"] = [
        (status, _no_ids(error), _metrics(m))
        for status, error, m in q("select status, error_message, metrics_json "
                                  "from meta.job_run order by started_at")
    ]
    snap["watermark"] = q("select source_name, last_updated_at from meta.watermark "
                          "order by 1")
    return snap


def _run(pg_server, name: str, fast: bool, monkeypatch, loads) -> dict:
    from conftest import PostgresDatabase

    monkeypatch.setenv(pg_fastpath.MODE_ENV, "1" if fast else "0")
    db = PostgresDatabase(pg_server, pg_server.create_database())
    try:
        target = Target(name="postgres", type="postgres", config={
            "host": pg_server.host, "port": pg_server.port, "user": pg_server.user,
            "password": pg_server.password, "dbname": db.name})
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
        return {"outcomes": outcomes, **_snapshot(db)}
    finally:
        db.drop()


def _same(pg_server, monkeypatch, name, loads):
    portable = _run(pg_server, name, False, monkeypatch, loads)
    fast = _run(pg_server, name, True, monkeypatch, loads)
    for key in portable:
        assert fast.get(key) == portable[key], f"{name}: {key} differs"
    assert fast == portable
    return fast


@pytest.fixture
def tiny_bloom(monkeypatch):
    """A 64-bit Bloom filter: most first lines of an id look seen (false
    positives) and go through _stage; and _stage's lines are COPYed every 1 KB."""
    def bloom_init(self):
        self._bloom, self._bloom_mask = bytearray(8), 63

    monkeypatch.setattr(pg_fastpath.PgStager, "_bloom_init", bloom_init)
    monkeypatch.setattr(pg_fastpath, "_DIVERTED_BYTES", 1024)


@pytest.mark.parametrize("batch_size", [1, 7, 50_000])
def test_postgres_fastpath_corpus_first_and_second_load(tmp_path, pg_server, monkeypatch,
                                                  batch_size):
    first = _write(tmp_path / "a.jsonl", LINES + NUL_LINES)
    changed = [line.replace(b"Ada", b"Bea") for line in LINES[::-1]] + [b'{"id": 99}']
    second = _write(tmp_path / "b.jsonl", changed, final_newline=False)
    opts = {"table": "raw.t", "max_rejects": 1000, "batch_size": batch_size, **INCR}
    snap = _same(pg_server, monkeypatch, f"corpus{batch_size}",
                 [(first, opts), (second, opts), (first, {**opts, "force": True})])
    assert snap["outcomes"][0][0] == "success" and snap["rejects"]
    assert any("U+0000" in r[1] for r in snap["rejects"])


@pytest.mark.parametrize("max_rejects,batch_size", [(0, 1), (2, 4), (5, 7), (25, 50_000)])
def test_postgres_fastpath_stops_past_max_rejects_like_the_portable_path(
        tmp_path, pg_server, monkeypatch, max_rejects, batch_size):
    # U+0000 rejects come at the end of their batch, as stage_append adds them.
    path = _write(tmp_path / "r.jsonl", NUL_LINES + LINES)
    opts = {"table": "raw.t", "max_rejects": max_rejects, "batch_size": batch_size, **INCR}
    seed = _write(tmp_path / "seed.jsonl", [b'{"id": 1, "updated_at": "2026-01-01T00:00:00Z"}'])
    _same(pg_server, monkeypatch, f"stop{max_rejects}-{batch_size}",
          [(path, opts), (seed, opts), (path, opts)])


def test_postgres_fastpath_shapes(tmp_path, pg_server, monkeypatch):
    lines = [b'{"id": 1}', b'', b'{"id": 2}\r', b'  ', b'{"id": 3}']
    records = [{"id": 1}, {"id": 2}]
    _same(pg_server, monkeypatch, "shapes", [
        (_write(tmp_path / "bom.jsonl", lines, bom=True), {"table": "raw.a"}),
        (_write(tmp_path / "crlf.jsonl", lines, crlf=True), {"table": "raw.b"}),
        (_write(tmp_path / "bare.jsonl.gz", lines, final_newline=False, gz=True),
         {"table": "raw.c"}),
        (_write(tmp_path / "empty.jsonl", []), {"table": "raw.f"}),
        (_write(tmp_path / "one.json", [json.dumps(records).encode()]), {"table": "raw.g"}),
        (_write(tmp_path / "crlf2.jsonl", [b'{"id": 2, "v": 2}'], crlf=True),
         {"table": "raw.b"}),
    ])


@pytest.mark.parametrize("bloom", ["real", "tiny"])
def test_postgres_fastpath_duplicates_and_watermark_on_a_first_load(tmp_path, pg_server,
                                                              monkeypatch, request, bloom):
    """The first load's fix-ups: duplicates (last line wins, across batches and
    COPYs), records below a watermark set through another table, the new
    watermark when its record is rewritten; with a tiny Bloom filter too."""
    if bloom == "tiny":
        request.getfixturevalue("tiny_bloom")
    seed = _write(tmp_path / "seed.jsonl", [b'{"id": 1, "updated_at": "2026-09-05T00:00:00Z"}'])
    lines = [
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
        b'{"id": 7, "v": "nul later", "updated_at": "2026-09-09T00:00:00Z"}',
        b'{"id": 7, "v": "\\u0000", "updated_at": "2026-09-09T00:00:00Z"}',
    ]
    many = [json.dumps({"id": i % 300, "v": i, "updated_at": f"2026-08-{1 + i % 28:02d}"
                        }).encode() for i in range(1000)]
    path = _write(tmp_path / "d.jsonl", lines)
    big = _write(tmp_path / "many.jsonl", many)
    shared = {"source_name": "shared", **INCR}
    _same(pg_server, monkeypatch, f"direct-{bloom}", [
        (seed, {"table": "raw.seed", **shared}),
        (path, {"table": "raw.t", "batch_size": 3, **shared}),
        (path, {"table": "raw.u", "batch_size": 3}),
        (path, {"table": "raw.v", "updated_field": "updated_at"}),
        (big, {"table": "raw.w", "batch_size": 128, **INCR}),
        (big, {"table": "raw.x", "batch_size": 128, "source_name": "shared", **INCR}),
    ])


def test_postgres_fastpath_matches_on_simulated_canvas_data(tmp_path, pg_server, monkeypatch):
    from loader.simulate import simulate

    simulate(tmp_path / "sim", students=60, courses=4, seed=7)
    simulate(tmp_path / "sim", follow_up=True, seed=7)
    loads = []
    for batch in ("batch-0001", "batch-0002"):
        for entity, updated in (("users", None), ("enrollments", "updated_at"),
                                ("submissions", None)):
            opts = {"table": f"raw.canvas_{entity}", "batch_size": 100}
            if updated:
                opts.update(updated_field=updated, incremental=True)
            loads.append((Path(tmp_path / "sim" / batch / f"canvas_{entity}.jsonl"), opts))
    snap = _same(pg_server, monkeypatch, "simulated", loads)
    assert any(r[0] == "success" for r in snap["outcomes"])
