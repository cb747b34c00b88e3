"""A staged column whose source key stopped arriving (renamed in the source) is a
warn finding in meta.dq_check_result, with sample keys (loader/staged_keys.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loader.staged_keys import read_staged_keys

PROJECT = Path(__file__).resolve().parent.parent
CHECK = "stg_canvas__users_source_keys_arriving"


def test_staged_keys_are_read_from_the_staging_models():
    staged = read_staged_keys(PROJECT)
    assert sorted(staged) == ["canvas_assignments", "canvas_courses", "canvas_enrollments",
                              "canvas_submissions", "canvas_users"]
    model, columns = staged["canvas_users"]
    assert model == "stg_canvas__users" and columns["login_id"] == ["login_id"]
    assert staged["canvas_assignments"][1]["course_id"] == ["course_id", "context_id"]
    assert staged["canvas_courses"][1]["end_at"] == ["end_at", "conclude_at"]
    assert staged["canvas_enrollments"][1]["current_score"] == ["grades.current_score"]
    # Every payload key a staging model reads is found (one per json_* call on 'record').
    for table, (model, columns) in staged.items():
        sql = (PROJECT / "models" / "staging" / f"{model}.sql").read_text()
        assert sum(map(len, columns.values())) == sql.count("('record', '"), model


def _user(uid, login_key="login_id"):
    return {"id": uid, "name": f"User {uid}", "sortable_name": f"{uid}, User",
            login_key: f"user{uid}@example.edu", "email": f"user{uid}@example.edu"}


def _finding(env):
    return env.query("select status, severity, column_name, failing_rows, sample_keys "
                     "from meta.dq_check_result where check_name = ? order by checked_at",
                     (CHECK,))


@pytest.mark.engines("duckdb", "postgres")
def test_staged_key_renamed_in_the_source_is_a_warn_finding(env):
    env.write_jsonl("data/batch-0001/canvas_users.jsonl", [_user(u) for u in (1, 2, 3)])
    env.cli("run", "--data-dir", env.data, "--source", "canvas_users", "--silent")
    assert _finding(env) == [("pass", "warn", None, 0, "[]")]
    # Batch 2: the source renamed login_id to unique_login.
    env.write_jsonl("data/batch-0002/canvas_users.jsonl",
                    [_user(u, "unique_login") for u in (1, 2, 3)])
    out = env.cli("run", "--data-dir", env.data, "--source", "canvas_users").output
    status, severity, column, failing, sample = _finding(env)[-1]
    assert (status, severity, column, failing) == ("warn", "warn", "login_id", 3)
    assert json.loads(sample) == ["1", "2", "3"]
    assert f"WARN (warn) {CHECK}: 3 failing rows, e.g. 1, 2, 3" in out
    assert env.query("select change_type, column_name from meta.schema_change_log "
                     "where change_type like 'key_%' order by column_name") \
        == [("key_removed", "login_id"), ("key_added", "unique_login")]
    assert env.query("select count(*) from cur.dim_student where login_id is null") == [(3,)]
