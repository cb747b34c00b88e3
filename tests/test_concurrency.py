"""Concurrency: loads of one source at the same time, whole pipelines at the same
time, and a load while `dbt build` runs: no duplicate, no lost record, and the
end state equals a serial run.

What each engine does (asserted, not assumed):

* PostgreSQL: loads stage in parallel; the apply of one source is serialized
  by a transaction-scoped advisory lock, so a second load of the same source
  waits ("waiting for the lock on source ...") and then applies against what
  the first committed. dbt and the loader run side by side.
* DuckDB: one process at a time has the database file open for writing. A
  loader that finds it taken waits (up to --lock-timeout, saying so) and
  then runs; dbt-duckdb does not wait: a `dbt build` started while a load
  holds the file fails at once with DuckDB's lock error, and a build run
  afterwards succeeds. Nothing is corrupted either way.

The serial reference is built in the same database under other names (tables
raw.serial_*, sources serial_*), so raw, watermarks and the load log can be
compared directly.
"""

from __future__ import annotations

import signal
import time

import pytest
import yaml

from conftest import PROJECT_DIR, table_rows
from helpers_attack import (CURATED, MARTS, dbt_build_ok, dbt_cmd, loader_cmd, popen,
                            release_inprocess_duckdb, run, watermark)

INCR = ("--updated-field", "updated_at", "--incremental")
RAW_COLS = "id, payload_hash, record_updated_at, source_file"


def _write(env, name: str, ids: range, day: int, version: str):
    with open(env.root / name, "w") as fh:
        for i in ids:
            fh.write(f'{{"id": {i}, "v": "{version}", "n": {i % 97}, '
                     f'"updated_at": "2026-09-{day:02d}T{i % 24:02d}:00:00Z", '
                     f'"pad": "{"p" * 60}"}}\n')
    return env.root / name


def _differs(env, a: str, b: str) -> int:
    return sum(env.scalar(f"select count(*) from (select {RAW_COLS} from {x} except "
                          f"select {RAW_COLS} from {y}) as d") for x, y in ((a, b), (b, a)))


def _duplicates(env, table: str) -> int:
    return env.scalar(f"select count(*) from (select id from {table} group by id "
                      "having count(*) > 1) as d")


def _log(env, table: str) -> list[tuple]:
    """(file, read, written, skipped, rejected) of the successful loads, in commit order."""
    return env.query("select source_file, rows_read, rows_written, rows_skipped, rows_rejected "
                     "from meta.load_file where target_table = ? and status = 'success' "
                     "order by ended_at, load_id", (table,))


def _start_together(env, commands: list[list[str]]) -> list:
    release_inprocess_duckdb()
    procs = [popen(env, cmd) for cmd in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, out, err))
    return results


def test_concurrent_loads_of_one_source_equal_a_serial_run(env):
    """Three files of one incremental source at once: overlapping ids, newer and
    older versions. Whatever order they commit in, raw and the watermark equal a
    serial run, and the load log equals a serial run in that commit order."""
    a = _write(env, "a.jsonl", range(0, 30_000), 2, "a")
    b = _write(env, "b.jsonl", range(15_000, 45_000), 3, "b")  # newer for 15k..30k
    c = _write(env, "c.jsonl", range(40_000, 60_000), 1, "c")  # older: below once b is in
    # The database exists already: creating a DuckDB file from several processes at
    # once is its own (known) race, test_concurrent_first_loads_creating_the_duckdb_file.
    env.load(env.write_jsonl("other.jsonl", [{"id": 1}]), "raw.other")
    results = _start_together(env, [
        loader_cmd("load", f, "--table", "raw.canvas_things", *INCR, "--lock-timeout", 120)
        for f in (a, b, c)])
    for code, out, err in results:
        assert code == 0, err
    assert _duplicates(env, "raw.canvas_things") == 0
    order = [row[0] for row in _log(env, "raw.canvas_things")]
    assert sorted(order) == sorted(str(f) for f in (a, b, c))
    for path in order:
        env.load(path, "raw.serial_things", *INCR, "--source-name", "serial_things")
    assert _differs(env, "raw.canvas_things", "raw.serial_things") == 0
    assert env.scalar("select count(*) from raw.canvas_things") == \
        env.scalar("select count(*) from raw.serial_things")
    assert watermark(env, "canvas_things") == watermark(env, "serial_things")
    assert [r[1:] for r in _log(env, "raw.canvas_things")] == \
        [r[1:] for r in _log(env, "raw.serial_things")]


def test_concurrent_same_file_twice_is_written_once(env):
    path = _write(env, "a.jsonl", range(0, 40_000), 2, "a")
    env.load(env.write_jsonl("other.jsonl", [{"id": 1}]), "raw.other")  # the file exists
    results = _start_together(env, [
        loader_cmd("load", path, "--table", "raw.canvas_things", *INCR, "--lock-timeout", 120)
        for _ in range(2)])
    outputs = [out for code, out, err in results]
    assert all(code == 0 for code, _, _ in results), results
    assert env.scalar("select count(*) from raw.canvas_things") == 40_000
    assert _duplicates(env, "raw.canvas_things") == 0
    statuses = env.query("select status, rows_written from meta.load_file "
                         "where target_table = 'raw.canvas_things' order by ended_at")
    # The second found the file loaded: before staging, or under the source's lock
    # when it staged it at the same time.
    assert statuses == [("success", 40_000), ("skipped_file", 0)], (statuses, outputs)
    assert len({r[0] for r in env.query("select load_id from raw.canvas_things")}) == 1


@pytest.mark.engines("duckdb")
def test_concurrent_first_loads_creating_the_duckdb_file(env):
    """Deterministic stand-in for the race: the file exists but is still empty (another
    process is creating it) when the loader opens it; a moment later it is a database."""
    env.db.write_bytes(b"")
    path = _write(env, "a.jsonl", range(0, 100), 2, "a")
    proc = popen(env, loader_cmd("load", path, "--table", "raw.canvas_things", *INCR,
                                 "--lock-timeout", 30))
    time.sleep(3.0)  # the loader is past its start-up and has met the empty file
    if proc.poll() is None:
        env.db.unlink()  # the "other process" is done: a fresh file can be created
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def _pipeline_copy(env, prefix: str):
    """pipeline.yml with every table and source renamed: a serial reference."""
    doc = yaml.safe_load((PROJECT_DIR / "pipeline.yml").read_text())
    for source in doc["sources"]:
        source["name"] = prefix + source["name"]
        schema, name = source["table"].split(".")
        source["table"] = f"{schema}.{prefix}{name}"
    path = env.root / f"{prefix}pipeline.yml"
    path.write_text(yaml.safe_dump(doc))
    return path, [(s["table"], s["table"].replace(prefix, "")) for s in doc["sources"]]


def test_concurrent_whole_pipelines_equal_one_serial_run(env):
    """Two `loader run --no-build` at once over the same data (two overlapping cron
    jobs): every source ends as after one run."""
    env.cli("simulate", env.data, "--students", 200, "--courses", 6, "--silent")
    env.cli("simulate", env.data, "--follow-up", "--silent")
    results = _start_together(env, [
        loader_cmd("run", "--data-dir", env.data, "--no-build", "--lock-timeout", 120)
        for _ in range(2)])
    for code, out, err in results:
        assert code == 0, err
    config, tables = _pipeline_copy(env, "serial_")
    env.cli("run", "--config", config, "--data-dir", env.data, "--no-build", "--silent")
    for serial, table in tables:
        assert _duplicates(env, table) == 0, table
        assert env.scalar(f"select count(*) from {table}") == \
            env.scalar(f"select count(*) from {serial}"), table
        assert env.scalar(
            f"select count(*) from (select id, payload_hash, record_updated_at from {table} "
            f"except select id, payload_hash, record_updated_at from {serial}) as d") == 0
        name = table.split(".")[1]
        assert watermark(env, name) == watermark(env, "serial_" + name)


def _wait_for_line(proc, needle: str, timeout: float = 240) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    return "".join(seen)


def _assert_incremental_equals_full_refresh(env) -> None:
    dbt_build_ok(env, "build")
    incremental = {t: table_rows(env, t) for t in CURATED + MARTS}
    dbt_build_ok(env, "build", "--full-refresh")
    for table in CURATED + MARTS:
        assert table_rows(env, table) == incremental[table], table
    for key, table in (("submission_key", "cur.fact_submission"),
                       ("student_key", "cur.dim_student")):
        assert env.scalar(f"select count(*) - count(distinct {key}) from {table}") == 0
    assert env.scalar("select count(*) from cur.fact_submission") == \
        env.scalar("select count(*) from raw.canvas_submissions")


def test_concurrent_load_while_dbt_build_runs(env):
    """The follow-up batch is loaded while `dbt build` runs. PostgreSQL: side by
    side. DuckDB: the loader waits for the file and says so. Afterwards an
    incremental build equals a full refresh, with no duplicate and no lost row."""
    env.cli("simulate", env.data, "--students", 60, "--courses", 4, "--silent")
    env.cli("run", "--data-dir", env.data, "--silent", expect=None)
    env.cli("simulate", env.data, "--follow-up", "--silent")
    release_inprocess_duckdb()
    dbt = popen(env, dbt_cmd(env, "build"))
    started = _wait_for_line(dbt, " START ")
    assert " START " in started, started
    load = run(env, loader_cmd("run", "--data-dir", env.data, "--no-build",
                               "--lock-timeout", 240))
    if env.engine == "postgres":
        assert dbt.poll() is None, "dbt ended before the load did: nothing overlapped"
    dbt_out, dbt_err = dbt.communicate(timeout=300)
    assert load.returncode == 0, load.stderr
    assert dbt.returncode in (0, 1), started + dbt_out  # 1: a data test failed (DQ finding)
    assert "written" in load.stdout
    if env.engine == "duckdb":
        assert "waiting for the lock on" in load.stderr, load.stderr
    _assert_incremental_equals_full_refresh(env)


@pytest.mark.engines("duckdb")
def test_concurrent_dbt_build_while_a_load_holds_the_duckdb_file(env):
    """DuckDB: dbt does not wait for a loader; it fails cleanly, nothing is
    corrupted, and the next build succeeds. (The load is paused with SIGSTOP
    while it has the file open, so the overlap does not depend on timing.)"""
    import duckdb

    env.cli("simulate", env.data, "--students", 40, "--courses", 3, "--silent")
    env.cli("run", "--data-dir", env.data, "--silent", expect=None)
    env.cli("simulate", env.data, "--follow-up", "--silent")
    release_inprocess_duckdb()
    load = popen(env, loader_cmd("run", "--data-dir", env.data, "--no-build"))
    deadline = time.monotonic() + 60
    while True:  # until the loader has the file
        try:
            duckdb.connect(str(env.db), read_only=True).close()
        except duckdb.Error:
            break
        assert load.poll() is None and time.monotonic() < deadline, "the load never opened it"
        time.sleep(0.01)
    load.send_signal(signal.SIGSTOP)
    try:
        dbt = run(env, dbt_cmd(env, "build"))
    finally:
        load.send_signal(signal.SIGCONT)
    load_out, load_err = load.communicate(timeout=300)
    assert load.returncode == 0, load_err
    assert dbt.returncode == 2, dbt.stdout[-2000:]
    assert "Could not set lock on file" in dbt.stdout + dbt.stderr
    _assert_incremental_equals_full_refresh(env)


def test_concurrent_lock_timeout_fails_cleanly(env):
    """Another holder keeps the lock past --lock-timeout: the load says who and
    what to do, writes nothing, and (PostgreSQL) records the failed job."""
    path = _write(env, "a.jsonl", range(0, 100), 2, "a")
    env.load(path, "raw.canvas_users", *INCR)
    before = table_rows(env, "raw.canvas_users")
    second = _write(env, "b.jsonl", range(50, 150), 3, "b")
    holder = None
    if env.engine == "duckdb":
        import duckdb

        holder = duckdb.connect(str(env.db))  # this process now has the file
    elif env.engine == "postgres":
        env.execute("begin")
        env.query("select pg_advisory_xact_lock(hashtext(?))", ("canvas_users",))
    else:
        pytest.skip("holding the SQL Server applock from the test is not wired up")
    try:
        started = time.monotonic()
        proc = run(env, loader_cmd("load", second, "--table", "raw.canvas_users", *INCR,
                                   "--lock-timeout", 1))
        waited = time.monotonic() - started
    finally:
        if holder is not None:
            holder.close()
        elif env.engine == "postgres":
            env.execute("rollback")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("waiting for the lock on"), lines
    last = lines[-1]
    assert last.startswith("Error: ") and "(waited 1s)" in last and "--lock-timeout" in last
    if env.engine == "duckdb":
        assert f"DuckDB database {env.db} is held by another process" in last
    else:
        assert "the lock on source canvas_users is held by another load" in last
        assert env.scalar("select status from meta.job_run "
                          "order by started_at desc") == "failed"
    assert waited < 30
    assert table_rows(env, "raw.canvas_users") == before
    # Released, the same load goes through.
    env.load(second, "raw.canvas_users", *INCR)
    assert env.scalar("select count(*) from raw.canvas_users") == 150
