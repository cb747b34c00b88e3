"""A raw table made before the contract had `deleted_at` gets the column, its rows
kept: from dbt's on-run-start hook (create_meta_tables) and from the loader."""

from __future__ import annotations

import json

import pytest

from loader import contract

pytestmark = pytest.mark.engines("duckdb", "postgres")


def _old_shape_table(env, table="canvas_users"):
    """raw.<table> as the contract made it before deletes: no deleted_at, one row."""
    columns = [(c, t) for c, t in contract.raw_table_columns(env.engine) if c != "deleted_at"]
    env.execute("create schema if not exists raw", engine_specific=True)
    env.execute(f"create table raw.{table} ("
                + ", ".join(f"{c} {t}" for c, t in columns) + ")", engine_specific=True)
    payload = json.dumps({"id": 1, "name": "Old Row", "login_id": "old@example.edu"})
    env.execute(
        f"insert into raw.{table} (id, payload, payload_hash, record_updated_at, ingested_at,"
        f" source_file, load_id) values ('1', '{payload}', 'h1', null,"
        " timestamp '2026-01-01 00:00:00', 'old.jsonl', 'old-load')", engine_specific=True)


def _columns(env, table="canvas_users"):
    return [r[0] for r in env.query(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = ? order by ordinal_position", (table,))]


def test_raw_column_added_by_the_dbt_hook_rows_kept(env):
    _old_shape_table(env)
    assert "deleted_at" not in _columns(env)
    # A table that is no raw table gets only the added-later column, as from the
    # loader (which then refuses it, naming what it lacks).
    env.execute("create table raw.canvas_courses (id varchar(20), name varchar(20))")
    # A meta table of an older contract gets every column it lacks.
    env.execute("create schema if not exists meta", engine_specific=True)
    env.execute("create table meta.watermark (source_name varchar(200), "
                "last_updated_at timestamp)", engine_specific=True)
    env.execute("insert into meta.watermark values ('canvas_users', "
                "timestamp '2026-01-01 00:00:00')", engine_specific=True)
    env.dbt("run", "-s", "stg_canvas__users")
    assert _columns(env, "canvas_courses") == ["id", "name", "deleted_at"]
    assert [r[0] for r in env.query(
        "select column_name from information_schema.columns where table_schema = 'meta' "
        "and table_name = 'watermark' order by ordinal_position")] \
        == [c for c in contract.meta_columns("watermark")]
    assert env.query("select source_name from meta.watermark") == [("canvas_users",)]
    assert _columns(env) == [c for c, _ in contract.raw_table_columns(env.engine)]
    assert env.query("select id, source_file, deleted_at from raw.canvas_users") \
        == [("1", "old.jsonl", None)]
    assert env.query("select user_id, user_name, is_deleted from stg.stg_canvas__users") \
        == [(1, "Old Row", 0)]
    env.dbt("run", "-s", "stg_canvas__users")  # again: nothing left to add
    assert _columns(env).count("deleted_at") == 1


def test_raw_column_added_by_the_loader_rows_kept(env):
    _old_shape_table(env)
    path = env.write_jsonl("users.jsonl", [
        {"id": 2, "name": "New Row"},
        {"id": 1, "name": "Old Row", "workflow_state": "deleted"},
    ])
    env.load(path, "raw.canvas_users")
    assert "deleted_at" in _columns(env)
    rows = env.query("select id, source_file, deleted_at is not null from raw.canvas_users "
                     "order by id", engine_specific=True)
    assert rows == [("1", str(path), True), ("2", str(path), False)]
