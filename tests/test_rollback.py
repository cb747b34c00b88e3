"""`loader rollback`: a committed load undone, on every engine (DuckDB, PostgreSQL).

Each test loads, keeps the state before the load to undo (raw without
ingested_at, which a restored row gets new; history; watermark; load log),
rolls back, and compares: the state is as before, history keeps the undone
versions only as 'rolled_back' rows, the load's meta.load_file row is
'rolled_back', and the next incremental dbt run equals a --full-refresh and,
but for ingested_at, what dbt held before the load.
"""

from __future__ import annotations

import pytest

from helpers_attack import CURATED, MARTS, dbt_build_ok, release_inprocess_duckdb
from conftest import table_rows
from test_envelopes import cd2, cd2_delete, submission

USERS = "raw.canvas_users"
SUBS = "raw.canvas_submissions"
INGESTED = ("ingested_at", "assignment_ingested_at")


def user(i, v, updated, **extra):
    return {"id": i, "name": f"User {i} v{v}", "sortable_name": f"{i}, User",
            "short_name": f"U{i}", "sis_user_id": f"S{i}", "login_id": f"u{i}",
            "email": f"u{i}@example.edu", "updated_at": updated, **extra}


def load_users(env, name, records, *extra):
    path = env.write_jsonl(name, records)
    env.load(path, USERS, "--updated-field", "updated_at", "--incremental", *extra)
    return last_load(env)


def last_load(env) -> str:
    return env.scalar("select load_id from meta.load_file order by ended_at desc, load_id")


def state(env, table=USERS, skip_loads=()) -> dict:
    """Everything a rollback must put back, comparable before and after."""
    history = [r for r in table_rows(env, table + "__history")
               if "rolled_back" not in r]
    loads = [r for r in table_rows(env, "meta.load_file", exclude=("ended_at",))
             if r[0] not in skip_loads]
    return {"raw": table_rows(env, table, exclude=("ingested_at",)), "history": history,
            "watermark": table_rows(env, "meta.watermark"), "load_file": loads}


def warehouse(env) -> dict:
    return {t: table_rows(env, t, exclude=INGESTED) for t in CURATED + MARTS}


def assert_incremental_equals_full_refresh(env, expected: dict | None = None) -> None:
    dbt_build_ok(env, "run")
    incremental = {t: table_rows(env, t) for t in CURATED + MARTS}
    if expected is not None:
        assert warehouse(env) == expected
    dbt_build_ok(env, "run", "--full-refresh")
    for table in CURATED + MARTS:
        assert table_rows(env, table) == incremental[table], table


def rollback(env, load_id, *extra, expect=0):
    release_inprocess_duckdb()
    return env.cli("rollback", load_id, *extra, expect=expect)


def test_rollback_last_load_restores_raw_history_watermark_and_load_log(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z"),
                                       user(2, 1, "2026-09-01T00:00:00Z"),
                                       user(3, 1, "2026-09-02T00:00:00Z")])
    dbt_build_ok(env, "run")
    before, built = state(env), warehouse(env)
    second = load_users(env, "b2/users.jsonl", [
        user(1, 2, "2026-09-05T00:00:00Z"),  # updated
        user(2, 2, "2026-09-05T00:00:00Z", workflow_state="deleted"),  # soft delete
        user(4, 1, "2026-09-06T00:00:00Z"),  # inserted
        user(3, 1, "2026-09-02T00:00:00Z"),  # unchanged
    ])
    kinds = env.query(f"select id, change_kind from {USERS}__history order by id")
    assert kinds == [("1", "updated"), ("2", "deleted")]
    dbt_build_ok(env, "run")

    out = rollback(env, second).output
    assert f"rolled back load {second}" in out and "1 removed, 2 restored" in out
    assert state(env, skip_loads=(second,)) == before
    assert env.scalar("select status from meta.load_file where load_id = ?",
                      (second,)) == "rolled_back"
    undone = env.query(f"select id, load_id from {USERS}__history "
                       "where change_kind = 'rolled_back' order by id")
    assert undone == [("1", second), ("2", second), ("4", second)]
    job = env.query("select status, metrics_json from meta.job_run where job_name = ?",
                    (f"rollback {second}",))
    assert job[0][0] == "success" and second in job[0][1]
    assert_incremental_equals_full_refresh(env, built)
    # The same file loads again, as new.
    env.load(env.root / "b2/users.jsonl", USERS, "--updated-field", "updated_at",
             "--incremental")
    assert env.scalar("select rows_written from meta.load_file where load_id = ?",
                      (last_load(env),)) == 3


def test_rollback_of_a_load_with_later_loads_is_refused_then_cascades(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    before = state(env)
    dbt_build_ok(env, "run")
    built = warehouse(env)
    second = load_users(env, "b2/users.jsonl", [user(1, 2, "2026-09-02T00:00:00Z"),
                                                user(2, 1, "2026-09-02T00:00:00Z")])
    third = load_users(env, "b3/users.jsonl", [user(1, 3, "2026-09-03T00:00:00Z"),
                                               user(3, 1, "2026-09-03T00:00:00Z")])
    dbt_build_ok(env, "run")
    after = state(env)
    out = rollback(env, second, expect=1).output
    assert "later load" in out and third in out and "--cascade" in out
    assert state(env) == after
    out = rollback(env, second, "--cascade").output
    assert out.index(third) < out.index(second)  # newest first
    assert state(env, skip_loads=(second, third)) == before
    assert_incremental_equals_full_refresh(env, built)


def test_rollback_of_a_load_with_cd2_deletes(env):
    path = env.write_jsonl("b1/subs.jsonl", [
        cd2(10, submission(3.0, "2024-03-01T10:00:00Z")),
        cd2(11, submission(4.0, "2024-03-01T10:00:00Z")),
        cd2(12, submission(5.0, "2024-03-01T10:00:00Z"))])
    env.load(path, SUBS)
    dbt_build_ok(env, "run")
    before, built = state(env, SUBS), warehouse(env)
    path = env.write_jsonl("b2/subs.jsonl", [
        cd2_delete(10, "2024-03-02T10:00:00Z"), cd2_delete(11, "2024-03-02T10:00:00Z"),
        cd2(12, submission(6.0, "2024-03-02T10:00:00Z")),
        cd2(13, submission(1.0, "2024-03-02T10:00:00Z"))])
    env.load(path, SUBS)
    second = last_load(env)
    assert env.query(f"select id, change_kind from {SUBS}__history order by id") == [
        ("10", "deleted"), ("11", "deleted"), ("12", "updated")]
    dbt_build_ok(env, "run")
    assert env.scalar("select count(*) from cur.fact_submission where is_deleted = 1") == 2
    out = rollback(env, second).output
    assert "1 removed, 3 restored" in out
    assert state(env, SUBS, skip_loads=(second,)) == before
    assert env.scalar(f"select count(*) from {SUBS} where deleted_at is not null") == 0
    assert_incremental_equals_full_refresh(env, built)



def test_rollback_of_a_snapshot_load_brings_back_the_absent_ids(env):
    """A snapshot deletes the live ids its file lacks (strategy snapshot, through the
    same delete step as envelope deletes): the rollback restores them, live."""
    load_users(env, "b1/users.jsonl", [user(i, 1, "2026-09-01T00:00:00Z") for i in (1, 2, 3)],
               "--strategy", "snapshot")
    dbt_build_ok(env, "run")
    before, built = state(env), warehouse(env)
    second = load_users(env, "b2/users.jsonl", [user(1, 2, "2026-09-02T00:00:00Z"),
                                                user(2, 1, "2026-09-01T00:00:00Z")],
                        "--strategy", "snapshot")
    assert env.query(f"select id from {USERS} where deleted_at is not null") == [("3",)]
    assert env.query(f"select id, change_kind from {USERS}__history order by id") == [
        ("1", "updated"), ("3", "deleted")]
    dbt_build_ok(env, "run")
    assert env.scalar("select count(*) from cur.dim_student where is_deleted = 1") == 1
    out = rollback(env, second).output
    assert "0 removed, 2 restored" in out, out
    assert state(env, skip_loads=(second,)) == before
    assert env.scalar(f"select count(*) from {USERS} where deleted_at is not null") == 0
    assert_incremental_equals_full_refresh(env, built)
    assert env.scalar("select count(*) from cur.dim_student where is_deleted = 1") == 0

def test_rollback_of_a_first_load_empties_the_table(env):
    dbt_build_ok(env, "run")  # an empty warehouse, built
    built = warehouse(env)
    first = load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z"),
                                               user(2, 1, "2026-09-01T00:00:00Z")])
    dbt_build_ok(env, "run")
    assert env.scalar("select count(*) from cur.dim_student") == 2
    rollback(env, first)
    assert env.scalar(f"select count(*) from {USERS}") == 0
    assert table_rows(env, "meta.watermark") == []
    assert env.query(f"select id, change_kind from {USERS}__history order by id") == [
        ("1", "rolled_back"), ("2", "rolled_back")]
    assert_incremental_equals_full_refresh(env, built)
    assert env.scalar("select count(*) from cur.dim_student") == 0


def _every_table(env) -> dict:
    names = env.query("select table_schema, table_name from information_schema.tables "
                      "where table_schema in ('raw', 'meta', 'cur', 'mart') "
                      "and table_type = 'BASE TABLE' order by table_schema, table_name")
    return {f"{s}.{t}": table_rows(env, f"{s}.{t}") for s, t in names}


def test_rollback_dry_run_changes_nothing(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    second = load_users(env, "b2/users.jsonl", [user(1, 2, "2026-09-02T00:00:00Z"),
                                                user(2, 1, "2026-09-02T00:00:00Z")])
    dbt_build_ok(env, "run")
    release_inprocess_duckdb()
    everything = _every_table(env)
    out = rollback(env, second, "--dry-run").output
    assert "would roll back" in out and "1 removed, 1 restored" in out
    assert "removed: 2" in out and "restored: 1" in out and "nothing changed" in out
    assert _every_table(env) == everything


@pytest.mark.parametrize("load_id, message", [
    ("nope", "no load nope in meta.load_file")])
def test_rollback_unknown_or_repeated_load_is_refused(env, load_id, message):
    first = load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    assert message in rollback(env, load_id, expect=1).output
    rollback(env, first)
    assert "rolled back already" in rollback(env, first, expect=1).output


def test_rollback_of_a_load_without_history_is_refused(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    second = load_users(env, "b2/users.jsonl", [user(1, 2, "2026-09-02T00:00:00Z")],
                        "--no-history")
    assert table_rows(env, USERS + "__history") == []
    assert "kept no history" in rollback(env, second, expect=1).output


def test_rollback_reaches_rows_that_depend_on_other_records(env):
    """A rolled-back assignment that submissions had joined, and a rolled-back user
    whose sis_user_id had made another user's identity a conflict: the facts and
    the identity map are rebuilt, not only the rows of the records themselves."""
    from test_incremental_property import assignment

    subs = env.write_jsonl("b1/subs.jsonl", [
        {"id": 1, "assignment_id": 2, "user_id": 1, "score": 5.0, "workflow_state": "graded"}])
    env.load(subs, SUBS)
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    dbt_build_ok(env, "run")
    built = warehouse(env)
    assignments = env.write_jsonl("b2/assignments.jsonl", [
        assignment(2, 0, 7, 10.0, "2026-09-02T00:00:00Z")])
    env.load(assignments, "raw.canvas_assignments")
    added_assignment = last_load(env)
    added_user = load_users(env, "b2/users.jsonl", [
        user(2, 1, "2026-09-02T00:00:00Z", sis_user_id="S1")])
    dbt_build_ok(env, "run")
    assert env.scalar("select course_id from cur.fact_submission") == 7
    assert env.scalar("select count(*) from cur.person_identity_map "
                      "where has_identity_conflict = 1") == 2
    rollback(env, added_assignment)
    rollback(env, added_user)
    assert_incremental_equals_full_refresh(env, built)
    assert env.scalar("select count(*) from cur.fact_submission where course_id is null") == 1
