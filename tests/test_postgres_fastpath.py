"""The PostgreSQL COPY stager (loader/backends/postgres/stager.py) against the portable one.

As tests/test_duckdb_fastpath.py does for DuckDB: every scenario loads the same
files twice, once with CANVAS_PG_FASTPATH=0 (TableStager, stage_append,
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
from test_duckdb_fastpath import (FIRST_LOAD_LINES, INCR, LINES, SEED, _write, corpus_loads,
                                  load_all, same, snapshot_of)

from loader.backends.postgres import stager as pg_fastpath
from loader.backends.postgres.first_load import PgFirstLoad
from loader.profiles import Target

NUL_LINES = [
    b'{"id": 40, "note": "nul \\u0000 escape"}',
    b'{"id": 41, "note": "a backslash, then u0000: \\\\u0000"}',
    b'{"id": "42\\u0000"}',
    b'{"id": 40, "note": "again, storable"}',
    b'{"id": 43, "note": "\\\\\\u0000 odd backslashes"}',
]


def _run(pg_server, name: str, fast: bool, monkeypatch, loads) -> dict:
    from conftest import PostgresDatabase

    monkeypatch.setenv(pg_fastpath.MODE_ENV, "1" if fast else "0")
    db = PostgresDatabase(pg_server, pg_server.create_database())
    try:
        target = Target(name="postgres", type="postgres", config={
            "host": pg_server.host, "port": pg_server.port, "user": pg_server.user,
            "password": pg_server.password, "dbname": db.name})
        outcomes = load_all(target, loads)
        return {"outcomes": outcomes, **snapshot_of(
            lambda sql: db.query(sql) if _exists(db, sql) else None, "table_schema = 'raw'")}
    finally:
        db.drop()


def _exists(db, sql: str) -> bool:
    """Whether the meta table a snapshot query reads exists (a load may fail first)."""
    if "meta." not in sql:
        return True
    table = sql.split("meta.", 1)[1].split()[0]
    return bool(db.query(f"select to_regclass('meta.{table}') is not null")[0][0])


def _same(pg_server, monkeypatch, name, loads):
    return same(lambda name, fast, loads: _run(pg_server, name, fast, monkeypatch, loads),
                name, loads)


@pytest.fixture
def tiny_bloom(monkeypatch):
    """A 64-bit Bloom filter: most first lines of an id look seen (false
    positives) and go through _stage; and _stage's lines are COPYed every 1 KB."""
    def bloom_init(self):
        self._bloom, self._bloom_mask = bytearray(8), 63

    monkeypatch.setattr(PgFirstLoad, "_bloom_init", bloom_init)
    monkeypatch.setattr(pg_fastpath, "_DIVERTED_BYTES", 1024)


@pytest.mark.parametrize("batch_size", [1, 7, 50_000])
def test_postgres_fastpath_corpus_first_and_second_load(tmp_path, pg_server, monkeypatch,
                                                        batch_size):
    snap = _same(pg_server, monkeypatch, f"corpus{batch_size}",
                 corpus_loads(tmp_path, LINES + NUL_LINES, batch_size))
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
                                                                    monkeypatch, request,
                                                                    bloom):
    """The first load's fix-ups: duplicates (last line wins, across batches and
    COPYs), records below a watermark set through another table, the new
    watermark when its record is rewritten; with a tiny Bloom filter too."""
    if bloom == "tiny":
        request.getfixturevalue("tiny_bloom")
    seed = _write(tmp_path / "seed.jsonl", [SEED])
    lines = FIRST_LOAD_LINES + [
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
