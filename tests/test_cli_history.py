"""`loader history` (a record's versions) and `loader prune` (retention of raw
history), on every engine."""

from __future__ import annotations

from conftest import table_rows
from test_rollback import USERS, load_users, rollback, user


def test_history_shows_every_version_and_what_changed(env):
    first = load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    second = load_users(env, "b2/users.jsonl", [
        user(1, 2, "2026-09-02T00:00:00Z", locale="de")])
    third = load_users(env, "b3/users.jsonl", [
        user(1, 2, "2026-09-03T00:00:00Z", locale="de", workflow_state="deleted")])
    out = env.cli("history", "--table", USERS, "1").output
    lines = out.splitlines()
    assert lines[0] == f"{USERS} id 1: 3 versions"
    assert f"load {first}" in lines[1] and "(updated)" in lines[1]
    assert lines[2].strip() == "first kept version"
    assert f"load {second}" in lines[3] and "(deleted)" in lines[3]
    assert lines[4].strip() == "added: locale; changed: name, updated_at"
    assert f"load {third}" in lines[5] and "current" in lines[5] and "deleted at" in lines[5]
    assert lines[6].strip() == "added: workflow_state; changed: updated_at"
    assert env.cli("history", "--table", USERS, "99").output.strip() == \
        f"{USERS} has no version of id 99"


def test_history_of_a_table_never_loaded_says_so(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    out = env.cli("history", "--table", "raw.nope", "1", expect=1).output
    assert "no history table for raw.nope" in out


def test_prune_keeps_what_a_rollback_needs_unless_forced(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z"),
                                       user(2, 1, "2026-09-01T00:00:00Z")])
    second = load_users(env, "b2/users.jsonl", [user(1, 2, "2026-09-02T00:00:00Z")])
    third = load_users(env, "b3/users.jsonl", [user(2, 2, "2026-09-03T00:00:00Z")])
    rollback(env, third)
    history = f"{USERS}__history"
    assert env.query(f"select id, change_kind from {history} order by id") == [
        ("1", "updated"), ("2", "rolled_back")]
    out = env.cli("prune", "--older-than", "1000").output
    assert f"{history}: 0 versions dropped" in out
    before = table_rows(env, history)
    out = env.cli("prune", "--older-than", "0").output
    assert f"{history}: 1 versions dropped; 1 kept" in out  # the rolled-back version
    assert table_rows(env, history) == [r for r in before if "rolled_back" not in r]
    out = env.cli("prune", "--older-than", "0", "--force").output
    assert f"{history}: 1 versions dropped" in out
    assert table_rows(env, history) == []
    assert "kept no history" in rollback(env, second, expect=1).output


def test_history_as_of_rebuilds_staging_as_raw_was_then(env):
    load_users(env, "b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z"),
                                       user(2, 1, "2026-09-01T00:00:00Z")])
    then = env.scalar(f"select max(ingested_at) from {USERS}")
    load_users(env, "b2/users.jsonl", [
        user(1, 2, "2026-09-02T00:00:00Z"), user(3, 1, "2026-09-02T00:00:00Z"),
        user(2, 2, "2026-09-02T00:00:00Z", workflow_state="deleted")])
    query = "select user_id, user_name, is_deleted from stg.stg_canvas__users order by user_id"
    at = then.strftime("%Y-%m-%d %H:%M:%S.%f")
    env.dbt("run", "--select", "stg_canvas__users", "--vars", f"{{as_of: '{at}'}}")
    assert [tuple(map(str, r)) for r in env.query(query)] == [
        ("1", "User 1 v1", "0"), ("2", "User 2 v1", "0")]
    env.dbt("run", "--select", "stg_canvas__users")
    assert [tuple(map(str, r)) for r in env.query(query)] == [
        ("1", "User 1 v2", "0"), ("2", "User 2 v2", "1"), ("3", "User 3 v1", "0")]


def test_history_as_of_compiles_to_tsql(tmp_path, monkeypatch):
    """raw_as_of for SQL Server, rendered without a server: parses as T-SQL and uses
    nothing SQL Server rejects."""
    import sys

    from test_contract import PROJECT_DIR, compile_inline

    sys.path.insert(0, str(PROJECT_DIR / "scripts"))
    from check_tsql import forbidden_constructs, parse_problems

    sql = compile_inline("select * from {{ raw_as_of('canvas_users', '2026-11-24 18:00:00') }}",
                         "sqlserver", tmp_path, monkeypatch)
    assert "canvas_users__history" in sql and "superseded_at >" in sql
    assert forbidden_constructs(sql) == [] and parse_problems(sql) == []


def test_history_off_for_a_pipeline_source(env):
    config = env.root / "pipeline.yml"
    config.write_text("sources:\n  - name: canvas_users\n    table: raw.canvas_users\n"
                      "    files: '*/users.jsonl'\n    history: false\n")
    env.write_jsonl("data/b1/users.jsonl", [user(1, 1, "2026-09-01T00:00:00Z")])
    env.write_jsonl("data/b2/users.jsonl", [user(1, 2, "2026-09-02T00:00:00Z")])
    env.cli("run", "--data-dir", env.data, "--config", config, "--no-build", "--silent")
    assert table_rows(env, USERS + "__history") == []
    second = env.scalar("select load_id from meta.load_file where source_file like ?",
                        ("%b2%",))
    assert env.query(f"select id, load_id from {USERS}") == [("1", second)]  # replaced
    assert "kept no history" in rollback(env, second, expect=1).output
    config.write_text(config.read_text().replace("false", "'no'"))
    out = env.cli("run", "--data-dir", env.data, "--config", config, "--no-build",
                  expect=1).output
    assert "history must be true or false, not 'no'" in out
