"""Crash safety: a load killed with SIGKILL at any moment leaves nothing half-written.

Three kinds of kill, on every engine:

* at each named crash point of loader/faults.py (LOADER_CRASH_AT), on a
  table that already holds a first load and on a table's very first load;
* by time: the loader runs as a subprocess on a large file (new, changed,
  unchanged, below-watermark, boundary and duplicate records plus bad lines)
  and is killed after delays spread over its whole run, while a reader
  polls the table: every state a reader sees is the state before the load or
  the state after it, never a part;
* a `dbt build` killed mid-way (after its first curated or mart model
  started): the next build completes and cur/mart equal a --full-refresh.

After every kill: raw, the watermark and the load log are as before the load
(or as after it, when the kill came after the commit), the killed run's
meta.job_run row says 'running' (when it got that far), and it left no
load_file or load_reject rows. Running the same load again then ends exactly
where an uninterrupted run ends (a reference table loaded without kills).

`-m slow` runs a bigger variant (1M lines, more kills).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime

import pytest

from conftest import table_rows
from helpers_attack import (CURATED, MARTS, dbt_build_ok, dbt_cmd, kill_after, loader_cmd,
                            popen, release_inprocess_duckdb, run, skip_unless_slow_selected,
                            successful_loads, wait_for_loader_sessions, watermark)

MAX_REJECTS = "1000"
INCR = ("--updated-field", "updated_at", "--incremental", "--max-rejects", MAX_REJECTS)
POINTS = ("after_job_start", "during_stage", "after_stage", "after_upsert", "after_watermark",
          "before_commit", "after_commit")


# -- data -------------------------------------------------------------------------

def _line(i: int, version: int, ts: str) -> str:
    return (f'{{"id": {i}, "user_id": {i % 997}, "course_id": {i % 31}, '
            f'"workflow_state": "{("submitted", "graded", "pending_review")[version % 3]}", '
            f'"score": {(i * 7 + version) % 100}, "updated_at": "{ts}", '
            f'"body": "{"x" * 40}"}}')


def _ts(day: int, second: int) -> str:
    return f"2026-{9 + day // 30:02d}-{1 + day % 30:02d}T{second // 3600 % 24:02d}:" \
           f"{second // 60 % 60:02d}:{second % 60:02d}Z"


BASE_MAX_TS = _ts(0, 999)  # the watermark after the base file


def write_base(path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(_line(i, 0, _ts(0, i % 1000)) + "\n")


def write_big(path, n_base: int, n_lines: int) -> None:
    """A second load: a quarter of the base re-sent unchanged, a quarter changed
    later, a quarter changed but below the watermark (skipped), a quarter at the
    watermark's boundary; then new ids, some sent twice (the last line wins),
    and a bad line every 5,000."""
    q = n_base // 4
    with open(path, "w") as fh:
        written = 0
        for i in range(n_base):
            if i < q:
                line = _line(i, 0, _ts(0, i % 1000))
            elif i < 2 * q:
                line = _line(i, 1, _ts(5, i % 1000))
            elif i < 3 * q:
                line = _line(i, 2, "2026-08-01T00:00:00Z")
            else:
                line = _line(i, 1, BASE_MAX_TS)
            fh.write(line + "\n")
            written += 1
        i = n_base
        while written < n_lines:
            if written % 5000 == 0:
                fh.write("oops, not JSON\n")
            elif i % 10 == 0:
                fh.write(_line(i, 1, _ts(6, i % 5000)) + "\n")  # replaced two lines later
                fh.write(_line(i - 1, 2, _ts(7, i % 5000)) + "\n")
                written += 1
                fh.write(_line(i, 2, _ts(7, i % 5000)) + "\n")
                written += 1
                i += 1
            else:
                fh.write(_line(i, 0, _ts(6, i % 5000)) + "\n")
                i += 1
            written += 1


# -- state --------------------------------------------------------------------------

RAW_COLS = "id, payload_hash, record_updated_at, source_file"


def raw_differs(env, a: str, b: str) -> int:
    """Rows in one table and not in the other (ignoring ingested_at and load_id)."""
    return env.scalar(
        f"select count(*) from (select {RAW_COLS} from {a} except select {RAW_COLS} from {b}"
        f") as x") + env.scalar(
        f"select count(*) from (select {RAW_COLS} from {b} except select {RAW_COLS} from {a}"
        f") as x")


def payload_differs(env, a: str, b: str) -> int:
    return env.scalar(f"select count(*) from {a} as x join {b} as y on x.id = y.id "
                      "where x.payload <> y.payload or x.payload_hash <> y.payload_hash")


def _log(env, table: str) -> list[tuple]:
    """The successful part of the load log, without what names the table."""
    return [r[1:] for r in successful_loads(env, table)]


def snapshot(env, table: str, source: str) -> dict:
    return {
        "count": env.scalar(f"select count(*) from {table}"),
        "per_load": env.query(f"select load_id, count(*) from {table} group by load_id "
                              "order by load_id"),
        "max_ingested": env.scalar(f"select max(ingested_at) from {table}"),
        "watermark": watermark(env, source),
        "log": _log(env, table),
    }


class Case:
    """A table (and source) killed and reloaded, compared with the reference."""

    def __init__(self, env, name: str, base, big, first_load: bool = False):
        self.env, self.base, self.big = env, base, big
        self.table, self.source = f"raw.{name}", name
        if not first_load:
            env.load(base, self.table, *INCR)
        self.before = snapshot(env, self.table, self.source) if not first_load else None
        self.jobs = len(self._statuses())

    def _statuses(self) -> list[str]:
        if not _exists(self.env, self):
            return []
        return [r[0] for r in self.env.query(
            "select status from meta.job_run where job_name = ? order by started_at, run_id",
            (f"load {self.source}",))]

    def killed_state_ok(self, reference: dict) -> str:
        """After a kill: 'before' or 'after' (the kill came after the commit)."""
        env = self.env
        now = snapshot(env, self.table, self.source) if self.before or _exists(env, self) \
            else None
        if self.before is not None and now == self.before:
            state = "before"
        elif self.before is None and (now is None or (now["count"] == 0
                                                      and now["watermark"] is None
                                                      and now["log"] == [])):
            state = "before"
        else:
            self.assert_equals_reference(reference)
            state = "after"
        statuses = self._statuses()
        new = statuses[self.jobs:]
        self.jobs = len(statuses)
        if state == "before":
            assert new in ([], ["running"]), new
        else:
            assert new in (["running"], ["success"]), new  # killed after its commit, or done
        self.assert_no_trace_of_running_loads()
        return state + "+running" if new == ["running"] else state

    def assert_no_trace_of_running_loads(self) -> None:
        orphans = self.env.scalar(
            "select count(*) from meta.job_run as j where j.status = 'running' and "
            "j.job_name = ? and (exists (select 1 from meta.load_file as f where "
            "f.load_id = j.run_id) or exists (select 1 from meta.load_reject as r "
            "where r.load_id = j.run_id))", (f"load {self.source}",))
        assert orphans == 0

    def assert_equals_reference(self, reference: dict) -> None:
        env = self.env
        assert raw_differs(env, self.table, reference["table"]) == 0
        assert payload_differs(env, self.table, reference["table"]) == 0
        assert env.scalar(f"select count(*) from {self.table}") == reference["count"]
        assert watermark(env, self.source) == reference["watermark"]
        assert _log(env, self.table) == reference["log"]
        # ingested_at never goes backwards: the new rows are past the old ones.
        if self.before is not None:
            assert env.scalar(f"select min(ingested_at) from {self.table} where load_id "
                              f"not in ({', '.join('?' for _ in self.before['per_load'])})",
                              [r[0] for r in self.before["per_load"]]) > \
                self.before["max_ingested"]

    def rerun_and_compare(self, reference: dict) -> None:
        self.env.load(self.big, self.table, *INCR)
        self.assert_equals_reference(reference)
        self.assert_no_trace_of_running_loads()


def _exists(env, case: Case) -> bool:
    schema, name = case.table.split(".")
    return env.scalar("select count(*) from information_schema.tables where table_schema = ? "
                      "and table_name = ?", (schema, name)) > 0 and env.scalar(
        "select count(*) from information_schema.tables where table_schema = 'meta' "
        "and table_name = 'job_run'") > 0


def reference(env, base, big, name: str = "reference", first_load: bool = False) -> dict:
    """The uninterrupted run (as a subprocess, so its duration is comparable)."""
    table = f"raw.{name}"
    if not first_load:
        env.load(base, table, *INCR)
    started = time.monotonic()
    proc = run(env, loader_cmd("load", big, "--table", table, *INCR, "--silent"))
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    return {"table": table, "count": env.scalar(f"select count(*) from {table}"),
            "watermark": watermark(env, name), "log": _log(env, table), "seconds": seconds}


@pytest.fixture
def small_files(env):
    base, big = env.root / "base.jsonl", env.root / "next.jsonl"
    write_base(base, 2000)
    write_big(big, 2000, 12000)
    return base, big


# -- named crash points ----------------------------------------------------------------

def test_crash_at_every_named_point_then_rerun_equals_uninterrupted(env, small_files):
    base, big = small_files
    ref = reference(env, base, big)
    assert ref["count"] > 2000 and ref["watermark"] > datetime(2026, 9, 1)
    outcomes = {}
    for point in POINTS:
        case = Case(env, f"crash_{point}", base, big)
        proc = run(env, loader_cmd("load", big, "--table", case.table, *INCR, "--silent"),
                   LOADER_CRASH_AT=point)
        assert proc.returncode == -9, (point, proc.stderr)
        outcomes[point] = case.killed_state_ok(ref)
        case.rerun_and_compare(ref)
    # after_commit: the data, the load log and the job's 'success' were committed.
    assert outcomes == {p: ("after" if p == "after_commit" else "before+running")
                        for p in POINTS}


@pytest.mark.parametrize("point", ["after_stage", "after_upsert", "before_commit"])
def test_crash_during_a_tables_first_load(env, small_files, point):
    """The very first load of a table killed: the table exists (its DDL is
    committed first) but is empty, no watermark, no load log."""
    base, big = small_files
    ref = reference(env, base, big, "first_reference", first_load=True)
    case = Case(env, "first_crash", base, big, first_load=True)
    proc = run(env, loader_cmd("load", big, "--table", case.table, *INCR, "--silent"),
               LOADER_CRASH_AT=point)
    assert proc.returncode == -9, proc.stderr
    assert case.killed_state_ok(ref) == "before+running"
    assert env.scalar(f"select count(*) from {case.table}") == 0
    case.rerun_and_compare(ref)


def test_crash_killed_load_holds_no_lock(env, small_files):
    """The lock of a killed load dies with it: the next load does not wait."""
    base, big = small_files
    env.load(base, "raw.lockcheck", *INCR)
    proc = run(env, loader_cmd("load", big, "--table", "raw.lockcheck", *INCR, "--silent"),
               LOADER_CRASH_AT="after_upsert")
    assert proc.returncode == -9
    started = time.monotonic()
    after = run(env, loader_cmd("load", big, "--table", "raw.lockcheck", *INCR,
                                "--lock-timeout", 20))
    assert after.returncode == 0, after.stderr
    assert time.monotonic() - started < 20


# -- kills by time ---------------------------------------------------------------------

def _kill_by_time(env, n_base: int, n_lines: int, fractions: list[float]) -> dict:
    """One kill per fraction of the uninterrupted run's duration, each on a table
    in its before-state (a new table once a run got past its commit)."""
    base, big = env.root / "base.jsonl", env.root / "big.jsonl"
    write_base(base, n_base)
    write_big(big, n_base, n_lines)
    ref = reference(env, base, big)
    ref_from_base = env.scalar(
        f"select count(*) from {ref['table']} where load_id = (select min(load_id) from "
        "meta.load_file where target_table = ? and status = 'success' and rows_read = ?)",
        (ref["table"], n_base))
    now: dict = {"case": None, "tables": 0, "last_read": 0.0}
    seen: set = set()

    def reader():
        """What a reader sees while the load runs: before or after, nothing between."""
        if time.monotonic() - now["last_read"] < 0.1:
            return  # DuckDB: a reader's open also takes the file's lock for a moment
        now["last_read"] = time.monotonic()
        case = now["case"]
        try:
            # One statement: one snapshot of the table and the watermark together.
            total, from_base, mark = env.query(
                f"select (select count(*) from {case.table}), "
                f"(select count(*) from {case.table} where load_id = ?), "
                "(select max(last_updated_at) from meta.watermark where source_name = ?)",
                (now["base_load"], case.source))[0]
        except Exception as exc:  # noqa: BLE001 - DuckDB: the loader holds the file
            assert env.engine == "duckdb", exc
            return
        assert (total, from_base, mark) in now["allowed"], (total, from_base, mark)
        seen.add("before" if total == case.before["count"] else "after")

    outcomes = []
    seconds = ref["seconds"]
    for fraction in fractions:
        if now["case"] is None:
            now["tables"] += 1
            case = now["case"] = Case(env, f"killed_{now['tables']}", base, big)
            now["base_load"] = case.before["per_load"][0][0]
            now["allowed"] = {
                (case.before["count"], case.before["count"], case.before["watermark"]),
                (ref["count"], ref_from_base, ref["watermark"])}
        case = now["case"]
        wait_for_loader_sessions(env)
        started = time.monotonic()
        proc = popen(env, loader_cmd("load", big, "--table", case.table, *INCR, "--silent"))
        killed = kill_after(proc, fraction * seconds, poll=reader)
        if not killed:
            # It finished sooner than the reference said (the machine got less busy):
            # the fractions that follow are of the time an uninterrupted run takes now.
            seconds = min(seconds, time.monotonic() - started)
        outcome = case.killed_state_ok(ref)  # compares with the reference when 'after'
        outcomes.append((round(fraction, 2), killed, outcome))
        if not killed:
            assert proc.returncode == 0, proc.stderr
        if outcome.startswith("after"):
            now["case"] = None  # loaded: the next kill needs a table in its before-state
    if now["case"] is not None:
        now["case"].rerun_and_compare(ref)
    return {"outcomes": outcomes, "seen": seen, "reference_seconds": ref["seconds"]}


def _assert_kills_landed(result: dict, minimum: int) -> None:
    outcomes = result["outcomes"]
    killed = [o for o in outcomes if o[1]]
    assert len(killed) >= minimum, outcomes
    # Most kills must land inside the load (after its job row was committed).
    running = [o for o in killed if o[2].endswith("+running")]
    assert len(running) >= len(killed) // 2, outcomes


def test_crash_kill_by_time_during_a_large_load(env):
    # Fractions of an uninterrupted run's duration: the first land in the
    # start-up, most in staging, the last around the apply and the commit.
    # (With the 7 named points, 3 first-load kills and the lock check: 20+ kills.)
    fractions = [0.1, 0.2, 0.3, 0.4, 0.5, 0.58, 0.66, 0.74, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05,
                 1.12]
    result = _kill_by_time(env, 20_000, 200_000, fractions)
    _assert_kills_landed(result, 10)


@pytest.mark.slow
def test_crash_kill_by_time_during_a_very_large_load(env, request):
    skip_unless_slow_selected(request)
    fractions = [i / 40 for i in range(1, 46)]
    result = _kill_by_time(env, 100_000, 1_000_000, fractions)
    _assert_kills_landed(result, 30)


# -- a killed dbt build -------------------------------------------------------------------

def _kill_dbt_when(env, trigger: str, private_target) -> tuple[bool, str]:
    """Start `dbt build`, SIGKILL it once a line of its output contains trigger."""
    shared = os.environ.get("DBT_TARGET_PATH")
    private_target.mkdir(exist_ok=True)
    if shared and (os.path.exists(os.path.join(shared, "partial_parse.msgpack"))):
        shutil.copy(os.path.join(shared, "partial_parse.msgpack"), private_target)
    release_inprocess_duckdb()
    proc = popen(env, dbt_cmd(env, "build"), DBT_TARGET_PATH=private_target)
    seen = []
    deadline = time.monotonic() + 240
    killed = False
    for line in proc.stdout:
        seen.append(line)
        if trigger in line:
            proc.kill()
            killed = True
            break
        if time.monotonic() > deadline:
            proc.kill()
            break
    proc.communicate(timeout=60)
    return killed, "".join(seen)


def test_crash_dbt_build_killed_midway_next_build_equals_full_refresh(env):
    """Two kills: the first build killed once the marts start (the curated
    tables exist by then), a follow-up batch loaded, the next build killed as
    the incremental curated models start. Then one build to the end: cur and
    mart equal a --full-refresh build of the same raw data."""
    env.cli("simulate", env.data, "--students", 30, "--courses", 3, "--silent")
    env.cli("run", "--data-dir", env.data, "--no-build", "--silent")
    killed, output = _kill_dbt_when(env, "START sql table model mart.",
                                    env.root / "dbt_target_killed")
    assert killed, output[-3000:]
    assert "START sql incremental model cur." in output
    env.cli("simulate", env.data, "--follow-up", "--silent")
    env.cli("run", "--data-dir", env.data, "--no-build", "--silent", expect=None)
    killed, output = _kill_dbt_when(env, "START sql incremental model cur.",
                                    env.root / "dbt_target_killed")
    assert killed, output[-3000:]
    # Each killed build left its job_run row, still 'running' (written on-run-start).
    killed_runs = env.query("select status, ended_at from meta.job_run "
                            "where job_name = 'dbt build'")
    assert killed_runs == [("running", None), ("running", None)], killed_runs
    dbt_build_ok(env, "build")
    finished = env.query("select status from meta.job_run where job_name = 'dbt build' "
                         "and ended_at is not null")
    assert finished == [("success",)], finished
    incremental = {t: table_rows(env, t) for t in CURATED + MARTS}
    assert all(incremental[t] for t in CURATED)
    dbt_build_ok(env, "build", "--full-refresh")
    for table in CURATED + MARTS:
        assert table_rows(env, table) == incremental[table], table
    # No leftovers of the killed builds' intermediate relations.
    leftovers = env.query("select table_schema, table_name from information_schema.tables "
                          "where table_name like '%dbt_tmp%' or table_name like '%dbt_backup%'")
    assert leftovers == []
