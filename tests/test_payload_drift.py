"""Payload drift (DESIGN.md "Payload drift"): keys that appear, stop appearing,
are renamed or change JSON type are meta.schema_change_log rows (table_schema
raw, column_name the JSON path) and show in `loader run` and `loader status`."""

from __future__ import annotations

import json


def _changes(env):
    return env.query("select change_type, column_name from meta.schema_change_log "
                     "where table_schema = 'raw' order by change_type, column_name")


def test_added_removed_renamed_and_retyped_keys(env):
    first = [{"id": i, "login_id": f"u{i}", "score": 1.5, "grades": {"final": 2},
              "sis_id": None} for i in range(1, 4)]
    env.load(env.write_jsonl("b1/users.jsonl", first), "raw.canvas_users")
    assert _changes(env) == []  # a source's first load only records its keys
    assert env.scalar("select count(*) from meta.payload_key") == 6
    second = [{"id": i, "unique_login": f"u{i}", "score": "1.5", "grades": {"final": 2},
               "sticker": None, "sis_id": "S"} for i in range(1, 4)]
    env.load(env.write_jsonl("b2/users.jsonl", second), "raw.canvas_users")
    assert _changes(env) == [
        ("key_added", "sticker"), ("key_added", "unique_login"),
        ("key_removed", "login_id"), ("key_type_changed", "score"),
    ]
    new = json.loads(env.scalar("select new_definition from meta.schema_change_log "
                                "where column_name = 'unique_login'"))
    assert new["first_line"] == 1 and new["sample_ids"] == ["1", "2", "3"]
    assert new["first_file"].endswith("b2/users.jsonl")
    old = json.loads(env.scalar("select old_definition from meta.schema_change_log "
                                "where column_name = 'score'"))
    assert old["json_type"] == "number"
    # The same shape again: nothing new (a removed key is reported once).
    env.load(env.write_jsonl("b3/users.jsonl", [{**r, "id": r["id"] + 10} for r in second]),
             "raw.canvas_users")
    assert len(_changes(env)) == 4


def test_a_key_left_out_now_and_then_is_not_removed(env):
    """CD2 leaves out nulls: a key absent from some records is never 'removed'."""
    def cd2(i, value):
        return {"meta": {"action": "U", "ts": "2024-03-01T06:00:00Z"}, "key": {"id": i},
                "value": value}

    env.load(env.write_jsonl("b1/a.jsonl", [cd2(1, {"title": "A", "points_possible": 1}),
                                            cd2(2, {"title": "B"})]), "raw.canvas_assignments")
    env.load(env.write_jsonl("b2/a.jsonl", [cd2(3, {"title": "C"})]), "raw.canvas_assignments")
    assert _changes(env) == []


def test_run_prints_drift_and_status_shows_it(env):
    env.write_jsonl("data/batch-0001/canvas_submissions.jsonl",
                    [{"id": 1, "assignment_id": 4, "score": 3.3}])
    env.cli("run", "--data-dir", env.data, "--no-build")
    env.write_jsonl("data/batch-0002/canvas_submissions.jsonl",
                    [{"id": 1, "assignment_id": 4, "score": 3.3, "sticker": None,
                      "custom_grade_status_id": None}])
    out = env.cli("run", "--data-dir", env.data, "--no-build").output
    assert "key_added: raw.canvas_submissions.custom_grade_status_id" in out
    assert "key_added: raw.canvas_submissions.sticker" in out
    # Values unchanged: the record is rewritten, its columns read the same.
    env.dbt("run", "--select", "v_schema_changes_latest")
    status = env.cli("status").output
    assert "key_added" in status and "sticker" in status


def test_payload_drift_switched_off_profiles_and_logs_nothing(env):
    """--no-payload-drift (pipeline.yml `payload_drift: false`): no key profiled or
    compared; the records load as always."""
    first = [{"id": i, "login_id": f"u{i}"} for i in range(1, 4)]
    env.load(env.write_jsonl("b1/users.jsonl", first), "raw.canvas_users",
             "--no-payload-drift")
    assert env.scalar("select count(*) from meta.payload_key") == 0
    more = [{"id": i, "login_id": f"u{i}"} for i in range(4, 7)]
    env.load(env.write_jsonl("b2/users.jsonl", more), "raw.canvas_users")  # profiled now
    assert env.scalar("select count(*) from meta.payload_key") == 2
    renamed = [{"id": i, "unique_login": f"u{i}"} for i in range(1, 4)]
    env.load(env.write_jsonl("b3/users.jsonl", renamed), "raw.canvas_users",
             "--no-payload-drift")
    assert _changes(env) == []
    assert env.scalar("select count(*) from raw.canvas_users") == 6
    config = env.root / "pipeline.yml"
    config.write_text("sources:\n  - name: canvas_users\n    table: raw.canvas_users\n"
                      '    files: "b4/*.jsonl"\n    payload_drift: false\n')
    env.write_jsonl("data/b4/users.jsonl", [{"id": 9, "other": 1}])
    env.cli("run", "--data-dir", env.data, "--config", config, "--no-build", "--silent")
    assert _changes(env) == [] and env.scalar("select count(*) from raw.canvas_users") == 7
    config.write_text(config.read_text().replace("false", "nope"))
    out = env.cli("run", "--data-dir", env.data, "--config", config, expect=1).output
    assert "payload_drift must be true or false, not 'nope'" in out
