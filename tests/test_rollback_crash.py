"""`loader rollback` killed with SIGKILL at each of its crash points (LOADER_CRASH_AT,
loader/faults.py) leaves the state before the rollback or the state after it,
never a mix; run again, it ends where an uninterrupted rollback ends. A load
of the same source started during a rollback waits for it. Every engine."""

from __future__ import annotations

import time

import pytest

from conftest import table_rows
from helpers_attack import loader_cmd, popen, release_inprocess_duckdb, run
from test_rollback import USERS, load_users, state, user

POINTS = ("rollback_after_job_start", "rollback_after_remove", "rollback_after_restore",
          "rollback_after_load", "rollback_before_commit", "rollback_after_commit")


def _everything(env) -> dict:
    return {t: table_rows(env, t) for t in
            (USERS, USERS + "__history", "meta.watermark", "meta.load_file")}


def _two_loads(env) -> tuple[dict, str]:
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z"),
                                       user(2, 1, "2026-09-01T00:00:00Z")])
    before = state(env)
    second = load_users(env, "b2/users.jsonl", [
        user(1, 2, "2026-09-02T00:00:00Z"), user(3, 1, "2026-09-02T00:00:00Z"),
        user(2, 2, "2026-09-02T00:00:00Z", workflow_state="deleted")])
    release_inprocess_duckdb()
    return before, second


def _assert_rolled_back(env, before: dict, second: str) -> None:
    assert state(env, skip_loads=(second,)) == before
    assert env.scalar("select status from meta.load_file where load_id = ?",
                      (second,)) == "rolled_back"
    assert env.scalar(f"select count(*) from {USERS}__history "
                      "where change_kind = 'rolled_back'") == 3


@pytest.mark.parametrize("point", POINTS)
def test_rollback_crash_leaves_before_or_after(env, point):
    before, second = _two_loads(env)
    loaded = _everything(env)
    proc = run(env, loader_cmd("rollback", second), LOADER_CRASH_AT=point)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    if point == "rollback_after_commit":
        _assert_rolled_back(env, before, second)
        return
    assert _everything(env) == loaded  # nothing of the rollback is visible
    jobs = env.query("select status from meta.job_run where job_name = ?",
                     (f"rollback {second}",))
    assert jobs == [("running",)]  # the killed rollback stays visible
    proc = run(env, loader_cmd("rollback", second))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_rolled_back(env, before, second)


def test_rollback_load_of_the_same_source_waits_for_it(env):
    _, second = _two_loads(env)
    rollback = popen(env, loader_cmd("rollback", second),
                     LOADER_PAUSE_AT="rollback_before_commit:4")
    seen = ""
    while "paused at" not in seen:
        line = rollback.stderr.readline()
        assert line, f"rollback ended without pausing: {seen}"
        seen += line
    third = env.write_jsonl("b3/users.jsonl", [user(1, 3, "2026-09-03T00:00:00Z")])
    load = popen(env, loader_cmd("load", third, "--table", USERS, "--updated-field",
                                 "updated_at", "--incremental", "--silent"))
    time.sleep(1.5)
    assert load.poll() is None  # waiting for the rollback
    assert rollback.wait(timeout=60) == 0, rollback.stderr.read()
    assert load.wait(timeout=60) == 0, load.stderr.read()
    load.stdout.close(), load.stderr.close(), rollback.stdout.close(), rollback.stderr.close()
    rows = env.query(f"select id, load_id from {USERS} order by id")
    last = env.scalar("select load_id from meta.load_file order by ended_at desc, load_id")
    assert [r[0] for r in rows] == ["1", "2"] and rows[0][1] == last != second
    assert env.scalar("select status from meta.load_file where load_id = ?",
                      (second,)) == "rolled_back"
