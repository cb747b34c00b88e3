"""PostgreSQL as a real server: concurrent loads, the source lock, connection
failures without secrets, and readers that never see half a load."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

import pyarrow as pa
import pytest

from conftest import PROJECT_DIR, subprocess_env, table_rows
from loader.backends.postgres import copy as pg_copy
from pgserver import free_port

pytestmark = pytest.mark.engines("postgres")

INCR = ("--updated-field", "updated_at", "--incremental")
PLANTED = "Planted-Pw-7f3a9c"


def _enrollments(ids, updated_at="2026-09-01T10:00:00Z", state="active"):
    return [{"id": i, "user_id": i % 97, "enrollment_state": state, "updated_at": updated_at,
             "note": "x" * 200} for i in ids]


def _start_load(env, path, table, *extra, debug: bool = False, **environ) -> subprocess.Popen:
    """`python -m loader.cli load` in a subprocess (not --silent: on_wait messages show)."""
    return subprocess.Popen(
        [sys.executable, "-m", "loader.cli", *(["--debug"] if debug else []), "load", str(path),
         "--table", table, *extra],
        env=subprocess_env(env, **environ), cwd=PROJECT_DIR,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _waiting_for_advisory_locks(conn) -> int:
    return conn.execute(
        "select count(*) from pg_locks where locktype = 'advisory' and not granted"
    ).fetchone()[0]


def _hold_source_lock(env, source_name: str):
    """A second session holding the source's lock, as a running load would."""
    holder = env.database.server.connect(env.database.name)
    holder.execute("select pg_advisory_lock(hashtext(%s))", (source_name,))
    return holder


def _all_text(env) -> str:
    """Every row of every table in the test database, as text."""
    tables = env.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema')"
    )
    return "\n".join(
        str(row) for schema, name in tables
        for row in env.query(f'select t::text from "{schema}"."{name}" as t')
    )


# -- binary COPY encoding -------------------------------------------------------

def test_load_binary_copy_round_trips_every_kind_of_value(env, monkeypatch):
    monkeypatch.setattr(pg_copy, "_SLICE_BYTES", 64)  # force several slices
    rows = [
        (1, "a", '{"q": "say \\"hi\\"", "t": "\\t", "u": "Zoë 😀"}', "", datetime(2026, 9, 1)),
        (2, None, None, None, None),
        (-5, "", "line\nbreak\ttab\\back'quote", "h", datetime(1969, 12, 31, 23, 59, 59, 999999)),
        (2**62, "ü" * 300, "x" * 5000, "z", datetime(2100, 1, 1, 0, 0, 0, 1)),
    ]
    table = pa.Table.from_arrays(
        [pa.array([r[i] for r in rows], t) for i, t in
         enumerate([pa.int64(), pa.string(), pa.string(), pa.string(), pa.timestamp("us")])],
        names=["n", "a", "b", "c", "ts"],
    )
    with env.database.server.connect(env.database.name) as conn:
        conn.execute("create temp table t (n bigint, a text, b text, c text, ts timestamp)")
        with conn.cursor().copy("copy t from stdin (format binary)") as copy:
            copy.write(pg_copy.HEADER)
            chunks = list(pg_copy.copy_chunks(table))
            for chunk in chunks:
                copy.write(chunk)
            copy.write(pg_copy.TRAILER)
        assert len(chunks) > 1
        assert conn.execute("select * from t order by n").fetchall() == sorted(
            rows, key=lambda r: r[0])


def test_load_records_postgres_cannot_store_become_rejects(env):
    path = env.write_jsonl("a.jsonl", [], raw_lines=[
        '{"id": 1, "note": "fine"}',
        '{"id": 2, "note": "nul \\u0000 escape"}',
        '{"id": 3, "note": "a backslash, then u0000: \\\\u0000"}',
        '{"id": "4\\u0000"}',
        '{"id": 5, "note": "raw \x00 byte"}',
    ])
    out = env.cli("load", path, "--table", "raw.canvas_users").output
    assert "read 5, written 2" in out and "rejected 3" in out
    assert env.query("select id from raw.canvas_users order by id") == [("1",), ("3",)]
    assert json.loads(env.scalar("select payload from raw.canvas_users where id = '3'"))[
        "note"].endswith("\\u0000")
    rejects = env.query("select line_number, reason, line_excerpt from meta.load_reject "
                        "order by line_number")
    assert [(n, "U+0000" in r) for n, r, _ in rejects] == [(2, True), (4, True), (5, False)]
    assert "\ufffd" in rejects[2][2]


# -- the source lock --------------------------------------------------------------

def test_load_file_committed_by_another_load_while_staging_is_skipped(env):
    """Two pipelines at once stage the same file; the one that gets the source's
    lock second finds the file loaded (checked under the lock) and writes nothing,
    so it can never put a file's older records back over a newer file's."""
    path = env.write_jsonl("a.jsonl", _enrollments(range(1, 3001)))
    env.load(env.write_jsonl("seed.jsonl", _enrollments([0])), "raw.canvas_enrollments")
    holder = _hold_source_lock(env, "canvas_enrollments")
    procs = [_start_load(env, path, "raw.canvas_enrollments") for _ in range(2)]
    _wait_until(lambda: _waiting_for_advisory_locks(holder) == 2, "both loads at the lock")
    holder.close()
    results = [_finish(p) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    statuses = env.query("select status, rows_read, rows_written from meta.load_file "
                         "where source_file = ? order by ended_at", (str(path),))
    assert statuses == [("success", 3000, 3000), ("skipped_file", 0, 0)], statuses
    assert sum("already loaded" in out for _, out, _ in results) == 1, results
    assert env.scalar("select count(*) from raw.canvas_enrollments") == 3001


def test_load_two_loads_of_one_source_at_once_end_like_serial_loads(env):
    first = env.write_jsonl("a.jsonl", _enrollments(range(1, 4001)))
    second = env.write_jsonl("b.jsonl", _enrollments(range(2001, 6001)))  # 2000 shared ids
    holder = _hold_source_lock(env, "canvas_enrollments")
    procs = [_start_load(env, p, "raw.canvas_enrollments") for p in (first, second)]
    # Both create the tables at once (the DDL lock), wait at the source's lock,
    # then race for it the moment it is released.
    _wait_until(lambda: _waiting_for_advisory_locks(holder) == 2, "both loads at the lock")
    holder.close()
    results = [_finish(p) for p in procs]
    for code, out, err in results:
        assert code == 0, err
        assert "waiting for the lock on source canvas_enrollments" in err
    concurrent = table_rows(env, "raw.canvas_enrollments",
                            exclude=("ingested_at", "load_id", "source_file", "deleted_at"))

    serial_db = env.database.server.create_database()
    try:
        for path in (first, second):
            code, _, err = _finish(_start_load(env, path, "raw.canvas_enrollments", "--silent",
                                               PGDATABASE=serial_db))
            assert code == 0, err
        with env.database.server.connect(serial_db) as conn:
            serial = conn.execute(
                "select id, payload, payload_hash, record_updated_at "
                "from raw.canvas_enrollments order by 1, 2, 3, 4").fetchall()
    finally:
        env.database.server.drop_database(serial_db)
    assert concurrent == serial and len(serial) == 6000
    jobs = env.query("select status, metrics_json from meta.job_run order by started_at")
    assert [s for s, _ in jobs] == ["success", "success"]
    assert sum(json.loads(m)["rows_written"] for _, m in jobs) == 6000
    ingested = env.query("select load_id, min(ingested_at), max(ingested_at) "
                         "from raw.canvas_enrollments group by load_id order by 2")
    assert all(a[2] < b[1] for a, b in zip(ingested, ingested[1:]))  # loads never interleave


def test_load_lock_held_past_lock_timeout_fails_cleanly_and_is_logged(env):
    path = env.write_jsonl("a.jsonl", _enrollments(range(1, 11)))
    env.load(env.write_jsonl("seed.jsonl", _enrollments([1])), "raw.canvas_enrollments")
    before = table_rows(env, "raw.canvas_enrollments")
    holder = _hold_source_lock(env, "canvas_enrollments")
    try:
        started = time.monotonic()
        code, out, err = _finish(_start_load(env, path, "raw.canvas_enrollments",
                                             "--lock-timeout", "1"))
        waited = time.monotonic() - started
    finally:
        holder.close()
    assert code == 1
    assert "waiting for the lock on source canvas_enrollments" in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "held by another load (waited 1s)" in errors[0]
    assert "--lock-timeout" in errors[0] and "Traceback" not in err
    assert waited < 20
    assert table_rows(env, "raw.canvas_enrollments") == before
    assert env.query("select status, error_message like '%lock%' from meta.job_run "
                     "order by started_at") == [("success", None), ("failed", True)]
    assert env.scalar("select count(*) from meta.load_file where status = 'failed'") == 1


def test_load_ingested_at_is_read_after_the_lock_is_granted(env):
    path = env.write_jsonl("a.jsonl", _enrollments(range(1, 11)))
    env.load(env.write_jsonl("seed.jsonl", _enrollments([1])), "raw.canvas_enrollments")
    holder = _hold_source_lock(env, "canvas_enrollments")
    proc = _start_load(env, path, "raw.canvas_enrollments", "--silent")
    _wait_until(lambda: _waiting_for_advisory_locks(holder) == 1, "the load at the lock")
    time.sleep(0.5)  # the load's transaction is now clearly older than the release
    released = holder.execute(
        "select clock_timestamp() at time zone 'UTC', "
        "pg_advisory_unlock(hashtext('canvas_enrollments'))").fetchone()[0]
    holder.close()
    code, _, err = _finish(proc)
    assert code == 0, err
    assert env.scalar("select min(ingested_at) from raw.canvas_enrollments "
                      "where id <> '1'") > released


# -- connection failures ------------------------------------------------------------

@pytest.mark.parametrize("failure", ["wrong_password", "server_down"])
@pytest.mark.parametrize("debug", [False, True])
def test_load_connection_failure_is_one_line_naming_target_and_host(env, failure, debug):
    path = env.write_jsonl("a.jsonl", _enrollments(range(1, 4)))
    env.load(path, "raw.canvas_enrollments")  # meta and raw exist: nothing may leak into them
    port = env.database.server.port if failure == "wrong_password" else free_port()
    code, out, err = _finish(_start_load(env, path, "raw.canvas_enrollments", "--force",
                                         debug=debug, PGPASSWORD=PLANTED, PGPORT=port))
    assert code == 1
    assert PLANTED not in out + err
    error = err.strip().splitlines()[-1]
    assert error.startswith(f"Error: cannot connect to postgres target at 127.0.0.1:{port}")
    expected = "password authentication failed" if failure == "wrong_password" else "refused"
    assert expected in error
    if not debug:
        assert out == "" and len(err.strip().splitlines()) == 1
    text = _all_text(env)
    assert PLANTED not in text and env.database.server.password not in text
    assert env.scalar("select count(*) from meta.job_run") == 1  # only the first load


def test_load_a_successful_load_stores_no_password(env):
    env.cli("--debug", "load", env.write_jsonl("a.jsonl", _enrollments(range(1, 4))),
            "--table", "raw.canvas_enrollments")
    assert env.database.server.password not in _all_text(env)


# -- readers ----------------------------------------------------------------------

def test_load_reader_sees_before_while_a_load_is_midway_and_after_once_it_commits(env):
    env.load(env.write_jsonl("a.jsonl", _enrollments(range(1, 1001))), "raw.canvas_enrollments",
             *INCR)
    newer = _enrollments(range(1, 2001), updated_at="2026-09-05T00:00:00Z", state="completed")
    path = env.write_jsonl("b.jsonl", newer)
    count_sql = ("select count(*), count(*) filter (where payload->>'enrollment_state' = "
                 "'completed') from raw.canvas_enrollments")
    reader = env.database.server.connect(env.database.name)
    blocker = env.database.server.connect(env.database.name)
    # Stall the load after its raw upsert: it next writes meta.watermark.
    blocker.execute("begin")
    blocker.execute("lock table meta.watermark in share mode")
    proc = _start_load(env, path, "raw.canvas_enrollments", *INCR, "--silent")
    _wait_until(lambda: reader.execute(
        "select count(*) from pg_locks where relation = 'meta.watermark'::regclass "
        "and not granted").fetchone()[0] == 1, "the load to reach the watermark")
    assert reader.execute(count_sql).fetchone() == (1000, 0)
    blocker.execute("rollback")
    code, _, err = _finish(proc)
    assert code == 0, err
    assert reader.execute(count_sql).fetchone() == (2000, 2000)
    reader.close()
    blocker.close()


def test_load_counts_polled_during_a_big_load_are_before_or_after(env):
    env.load(env.write_jsonl("a.jsonl", _enrollments(range(1, 20001))), "raw.canvas_enrollments")
    path = env.write_jsonl("b.jsonl", _enrollments(range(10001, 60001), state="completed"))
    sql = ("select count(*), count(*) filter (where payload->>'enrollment_state' = "
           "'completed') from raw.canvas_enrollments")
    reader = env.database.server.connect(env.database.name)
    proc = _start_load(env, path, "raw.canvas_enrollments", "--silent")
    seen = set()
    while proc.poll() is None:
        seen.add(reader.execute(sql).fetchone())
    seen.add(reader.execute(sql).fetchone())
    reader.close()
    assert proc.returncode == 0, proc.stderr.read()
    assert seen <= {(20000, 0), (60000, 50000)}
    assert (60000, 50000) in seen and len(seen) <= 2


# -- the contract's types ------------------------------------------------------------

def test_load_raw_and_meta_tables_have_the_contract_types(env):
    env.load(env.write_jsonl("a.jsonl", _enrollments([1])), "raw.canvas_enrollments")
    types = dict(
        ((t, c), (d, n)) for t, c, d, n in env.query(
            "select table_name, column_name, data_type, is_nullable "
            "from information_schema.columns where table_schema in ('raw', 'meta')"))
    raw = {c: types[("canvas_enrollments", c)] for c in (
        "id", "payload", "payload_hash", "record_updated_at", "ingested_at")}
    assert raw == {
        "id": ("text", "NO"), "payload": ("jsonb", "YES"), "payload_hash": ("text", "YES"),
        "record_updated_at": ("timestamp without time zone", "YES"),
        "ingested_at": ("timestamp without time zone", "NO"),
    }
    assert types[("job_run", "duration_ms")][0] == "bigint"
    assert types[("watermark", "last_updated_at")][0] == "timestamp without time zone"
    assert env.scalar("select count(*) from pg_indexes where schemaname = 'raw' "
                      "and tablename = 'canvas_enrollments'") == 2
