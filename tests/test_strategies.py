"""Load strategies per source (`strategy:` in pipeline.yml, `loader load --strategy`):
upsert (the default), append (immutable events: an id already loaded is skipped and
counted) and snapshot (the complete current set: live ids absent from it are
deleted through the delete mechanism, guarded against a file that would delete
most of the table), on every engine, from raw to cur."""

from __future__ import annotations

import json

import pytest


def user(uid, name, updated="2026-01-01T00:00:00Z", **extra):
    return {"id": uid, "name": name, "sortable_name": name, "updated_at": updated, **extra}


def raw_users(env) -> dict:
    """id -> (name in the payload, deleted)."""
    out = {}
    for rid, payload, deleted_at in env.query(
            "select id, payload, deleted_at from raw.canvas_users order by id"):
        body = payload if isinstance(payload, dict) else json.loads(payload)
        out[rid] = (body["name"], deleted_at is not None)
    return out


def cur_students(env) -> list[tuple]:
    return env.query("select user_id, user_name, is_deleted from cur.dim_student "
                     "order by user_id")


def last_load(env) -> tuple:
    return env.query("select status, rows_read, rows_written, rows_skipped, rows_rejected "
                     "from meta.load_file order by ended_at desc")[0]


def last_metrics(env) -> dict:
    return json.loads(env.scalar("select metrics_json from meta.job_run "
                                 "where job_name = 'load canvas_users' order by ended_at desc"))


def build_equals_full_refresh(env) -> list[tuple]:
    """Build incrementally, then rebuild from scratch: cur.dim_student is the same."""
    env.dbt("run", "-s", "stg_canvas__users", "dim_student")
    incremental = cur_students(env)
    env.dbt("run", "-s", "stg_canvas__users", "dim_student", "--full-refresh")
    assert cur_students(env) == incremental
    return incremental


def test_strategy_append_inserts_new_ids_and_skips_present_ones(env):
    env.load(env.write_jsonl("b1/u.jsonl", [user(1, "Ann"), user(2, "Bo")]),
             "raw.canvas_users", "--strategy", "append")
    out = env.cli("load", env.write_jsonl("b2/u.jsonl", [
        user(2, "Bo changed", "2026-02-01T00:00:00Z"), user(3, "Cy"), user(1, "Ann")]),
        "--table", "raw.canvas_users", "--strategy", "append").output
    assert "written 1 (new 1, changed 0), skipped 2 (2 already present)" in out
    assert raw_users(env) == {"1": ("Ann", False), "2": ("Bo", False), "3": ("Cy", False)}
    assert last_load(env) == ("success", 3, 1, 2, 0)
    metrics = last_metrics(env)
    assert (metrics["skipped_existing"], metrics["inserted"], metrics["updated"],
            metrics["unchanged"]) == (2, 1, 0, 0)
    assert build_equals_full_refresh(env) == [(1, "Ann", 0), (2, "Bo", 0), (3, "Cy", 0)]


def test_strategy_append_keeps_a_deleted_event_deleted(env):
    """append never rewrites a row: a soft-deleted event sent again stays deleted."""
    env.load(env.write_jsonl("b1/u.jsonl", [user(1, "Ann"),
                                            user(2, "Bo", workflow_state="deleted")]),
             "raw.canvas_users", "--strategy", "append")
    assert raw_users(env) == {"1": ("Ann", False), "2": ("Bo", True)}
    env.load(env.write_jsonl("b2/u.jsonl", [user(2, "Bo again")]), "raw.canvas_users",
             "--strategy", "append")
    assert raw_users(env) == {"1": ("Ann", False), "2": ("Bo", True)}
    assert last_metrics(env)["skipped_existing"] == 1


def test_strategy_snapshot_deletes_absent_ids_and_cur_flags_them(env):
    env.load(env.write_jsonl("b1/u.jsonl", [user(i, f"U{i}") for i in range(1, 5)]),
             "raw.canvas_users", "--strategy", "snapshot")
    env.dbt("run", "-s", "stg_canvas__users", "dim_student")
    out = env.cli("load", env.write_jsonl("b2/u.jsonl", [
        user(1, "U1"), user(2, "U2"), user(3, "U3 renamed", "2026-02-01T00:00:00Z")]),
        "--table", "raw.canvas_users", "--strategy", "snapshot").output
    assert "written 1 (new 0, changed 1, deleted 1)" in out
    assert "snapshot: 1 ids absent from the file marked deleted" in out
    assert raw_users(env) == {"1": ("U1", False), "2": ("U2", False),
                              "3": ("U3 renamed", False), "4": ("U4", True)}
    # The delete keeps the last payload, moves ingested_at and takes the load's time.
    row = env.query("select deleted_at, ingested_at, load_id from raw.canvas_users "
                    "where id = '4'")[0]
    assert row[0] == row[1] and row[2] == last_metrics(env)["load_id"]
    # Counts add up: the deletes are no lines of the file.
    assert last_load(env) == ("success", 3, 1, 2, 0)
    metrics = last_metrics(env)
    assert (metrics["deleted"], metrics["snapshot_deleted"]) == (1, 1)
    assert build_equals_full_refresh(env) == [
        (1, "U1", 0), (2, "U2", 0), (3, "U3 renamed", 0), (4, "U4", 1)]


def test_strategy_snapshot_after_a_delete_and_a_reinsert(env):
    """An id absent from one snapshot is deleted; back in the next, it is live again
    (a re-insert, even with the same payload); a soft delete inside a snapshot is a
    delete of its own, not an absent id."""
    load = lambda name, records: env.cli(  # noqa: E731
        "load", env.write_jsonl(name, records), "--table", "raw.canvas_users",
        "--strategy", "snapshot").output
    load("b1/u.jsonl", [user(1, "A"), user(2, "B"), user(3, "C")])
    load("b2/u.jsonl", [user(1, "A"), user(2, "B")])
    assert raw_users(env)["3"] == ("C", True)
    env.dbt("run", "-s", "stg_canvas__users", "dim_student")
    out = load("b3/u.jsonl", [user(1, "A"), user(2, "B"), user(3, "C")])
    assert "written 1 (new 0, changed 1)" in out and "marked deleted" not in out
    assert raw_users(env) == {"1": ("A", False), "2": ("B", False), "3": ("C", False)}
    assert build_equals_full_refresh(env) == [(1, "A", 0), (2, "B", 0), (3, "C", 0)]
    out = load("b4/u.jsonl", [user(1, "A"), user(3, "C", workflow_state="deleted")])
    assert "snapshot: 1 ids absent from the file marked deleted" in out
    assert raw_users(env) == {"1": ("A", False), "2": ("B", True), "3": ("C", True)}
    assert last_metrics(env)["deleted"] == 2
    assert build_equals_full_refresh(env) == [(1, "A", 0), (2, "B", 1), (3, "C", 1)]


def test_strategy_snapshot_guard_fails_and_writes_nothing(env):
    args = ("--table", "raw.canvas_users", "--strategy", "snapshot",
            "--updated-field", "updated_at", "--incremental")
    env.cli("load", env.write_jsonl("b1/u.jsonl", [user(i, f"U{i}") for i in range(1, 11)]),
            *args)
    before = env.query("select id, payload_hash, ingested_at, deleted_at, load_id "
                       "from raw.canvas_users order by id")
    watermark = env.query("select last_updated_at, load_id from meta.watermark")
    small = env.write_jsonl("b2/u.jsonl", [user(i, f"U{i}", "2026-03-01T00:00:00Z")
                                          for i in range(1, 5)])
    result = env.cli("load", small, *args, expect=1)
    assert "holds 4 ids, fewer than 0.5 of the 10 live rows in raw.canvas_users" \
        in result.output
    assert "it would delete 6 of them, so nothing was loaded" in result.output
    assert "--allow-shrink" in result.output and "snapshot_min_ratio" in result.output
    assert str(small) in result.output
    assert env.query("select id, payload_hash, ingested_at, deleted_at, load_id "
                     "from raw.canvas_users order by id") == before
    assert env.query("select last_updated_at, load_id from meta.watermark") == watermark
    assert last_load(env)[:3] == ("failed", 4, 0)
    # Allowed to shrink, the same file deletes the six.
    out = env.cli("load", small, *args, "--allow-shrink").output
    assert "snapshot: 6 ids absent from the file marked deleted" in out
    assert sum(deleted for _, deleted in raw_users(env).values()) == 6
    assert str(env.scalar("select last_updated_at from meta.watermark")) == "2026-03-01 00:00:00"


def test_strategy_snapshot_with_rejected_lines_deletes_nothing(env):
    env.load(env.write_jsonl("b1/u.jsonl", [user(i, f"U{i}") for i in range(1, 5)]),
             "raw.canvas_users", "--strategy", "snapshot")
    out = env.cli("load", env.write_jsonl("b2/u.jsonl", [user(1, "U1 new"), user(2, "U2")],
                                          raw_lines=['{"id": 3, "name": "U3", broken']),
                  "--table", "raw.canvas_users", "--strategy", "snapshot").output
    assert "snapshot not complete (1 rejected): 2 ids absent from it were kept" in out
    assert raw_users(env) == {"1": ("U1 new", False), "2": ("U2", False),
                              "3": ("U3", False), "4": ("U4", False)}
    metrics = last_metrics(env)
    assert (metrics["snapshot_kept"], metrics["deleted"], metrics["rows_rejected"]) == (2, 0, 1)


def test_strategy_snapshot_incremental_keeps_records_below_the_watermark(env):
    """A record below the watermark is not rewritten, but it is in the file, so it is
    not absent either: the watermark filters writes, the whole file is the set."""
    args = ("--table", "raw.canvas_users", "--strategy", "snapshot",
            "--updated-field", "updated_at", "--incremental")
    env.cli("load", env.write_jsonl("b1/u.jsonl", [
        user(1, "A", "2026-01-05T00:00:00Z"), user(2, "B", "2026-01-01T00:00:00Z"),
        user(3, "C", "2026-01-01T00:00:00Z")]), *args)
    out = env.cli("load", env.write_jsonl("b2/u.jsonl", [
        user(1, "A", "2026-01-05T00:00:00Z"), user(2, "B older", "2026-01-01T00:00:00Z")]),
        *args).output
    assert "snapshot: 1 ids absent from the file marked deleted" in out
    assert raw_users(env) == {"1": ("A", False), "2": ("B", False), "3": ("C", True)}
    assert last_metrics(env)["below_watermark"] == 1


def test_strategy_from_pipeline_yml_with_min_ratio(env):
    (env.root / "pipeline.yml").write_text(
        "sources:\n"
        "  - name: roster\n    table: raw.canvas_users\n    files: '*/roster.jsonl'\n"
        "    strategy: snapshot\n    snapshot_min_ratio: 0.9\n")
    env.write_jsonl("data/batch-0001/roster.jsonl", [user(i, f"U{i}") for i in range(1, 11)])
    run = ("run", "--data-dir", env.data, "--config", env.root / "pipeline.yml", "--no-build")
    env.cli(*run)
    env.write_jsonl("data/batch-0002/roster.jsonl", [user(i, f"U{i}") for i in range(1, 9)])
    result = env.cli(*run, expect=1)
    assert "holds 8 ids, fewer than 0.9 of the 10 live rows" in result.output
    assert sum(deleted for _, deleted in raw_users(env).values()) == 0
    # Fixed: 9 of 10, but one line is rejected: applied, nothing deleted, a warning.
    env.write_jsonl("data/batch-0002/roster.jsonl", [user(i, f"U{i}") for i in range(1, 10)],
                    raw_lines=["not json"])
    result = env.cli(*run)
    assert f"roster: {env.data}/batch-0002/roster.jsonl had 1 rejected lines, so 1 ids " \
        "absent from the snapshot were kept, not deleted" in result.output
    assert sum(deleted for _, deleted in raw_users(env).values()) == 0
    # The complete file deletes the one absent id.
    env.write_jsonl("data/batch-0003/roster.jsonl", [user(i, f"U{i}") for i in range(1, 10)])
    env.cli(*run)
    assert raw_users(env)["10"] == ("U10", True)


def test_strategy_run_allow_shrink_lets_every_snapshot_source_shrink(env):
    (env.root / "pipeline.yml").write_text(
        "sources:\n"
        "  - name: roster\n    table: raw.canvas_users\n    files: '*/roster.jsonl'\n"
        "    strategy: snapshot\n    snapshot_min_ratio: 0.9\n"
        "  - name: staff\n    table: raw.school_staff\n    files: '*/staff.jsonl'\n"
        "    strategy: snapshot\n")

    def deleted(table):
        return env.scalar(f"select count(*) from {table} where deleted_at is not null")

    run = ("run", "--data-dir", env.data, "--config", env.root / "pipeline.yml", "--no-build")
    for name in ("roster", "staff"):
        env.write_jsonl(f"data/batch-0001/{name}.jsonl", [user(i, f"U{i}") for i in range(1, 11)])
        env.write_jsonl(f"data/batch-0002/{name}.jsonl", [user(i, f"U{i}") for i in range(1, 5)])
    result = env.cli(*run, expect=1)  # batch-0001 loads, each source's batch-0002 is refused
    assert "snapshot of roster holds 4 ids, fewer than 0.9 of the 10 live rows" in result.output
    assert "snapshot of staff holds 4 ids, fewer than 0.5 of the 10 live rows" in result.output
    assert (deleted("raw.canvas_users"), deleted("raw.school_staff")) == (0, 0)
    out = env.cli(*run, "--allow-shrink").output
    assert out.count("snapshot: 6 ids absent from the file marked deleted") == 2, out
    assert (deleted("raw.canvas_users"), deleted("raw.school_staff")) == (6, 6)
    # For that run only: the next shrink is refused again.
    for name in ("roster", "staff"):
        env.write_jsonl(f"data/batch-0003/{name}.jsonl", [user(1, "U1")])
    result = env.cli(*run, expect=1)
    assert "snapshot of roster holds 1 ids, fewer than 0.9 of the 4 live rows" in result.output
    assert "snapshot of staff holds 1 ids, fewer than 0.5 of the 4 live rows" in result.output
    assert (deleted("raw.canvas_users"), deleted("raw.school_staff")) == (6, 6)


@pytest.mark.parametrize("setting, message", [
    ("strategy: merge", "strategy must be one of upsert, append, snapshot, not 'merge'"),
    ("snapshot_min_ratio: 2", "snapshot_min_ratio must be a share between 0 and 1, not 2"),
    ("snapshot_min_ratio: yes", "snapshot_min_ratio must be a share between 0 and 1"),
])
def test_strategy_settings_are_checked_before_anything_runs(env, setting, message):
    (env.root / "pipeline.yml").write_text(
        "sources:\n  - name: roster\n    table: raw.canvas_users\n    files: '*/r.jsonl'\n"
        f"    {setting}\n")
    env.data.mkdir()
    result = env.cli("run", "--data-dir", env.data, "--config", env.root / "pipeline.yml",
                     "--no-build", expect=1)
    assert message in result.output and "source #1" in result.output
    assert env.is_empty()


def test_strategy_snapshot_of_envelopes_with_a_delete_record(env):
    """A CD2 snapshot: an id the file deletes is deleted once, at the delete's time, not
    also counted absent; an id the file lacks altogether is absent."""
    def cd2(uid, name=None, action="U", ts="2026-02-01T00:00:00Z"):
        record = {"meta": {"action": action, "ts": ts}, "key": {"id": uid}}
        if name is not None:
            record["value"] = {"name": name, "sortable_name": name}
        return record

    args = ("--table", "raw.canvas_users", "--strategy", "snapshot")
    env.cli("load", env.write_jsonl("b1/u.jsonl", [cd2(i, f"U{i}") for i in range(1, 5)]),
            *args)
    out = env.cli("load", env.write_jsonl("b2/u.jsonl", [
        cd2(1, "U1"), cd2(2, "U2"), cd2(3, action="D", ts="2026-02-02T00:00:00Z")]),
        *args).output
    assert "written 1 (new 0, changed 0, deleted 2)" in out
    assert "snapshot: 1 ids absent from the file marked deleted" in out
    rows = env.query("select id, deleted_at, ingested_at from raw.canvas_users order by id")
    assert [(rid, deleted is not None) for rid, deleted, _ in rows] == [
        ("1", False), ("2", False), ("3", True), ("4", True)]
    assert str(rows[2][1]) == "2026-02-02 00:00:00" and rows[3][1] == rows[3][2]
    metrics = last_metrics(env)
    assert (metrics["deleted"], metrics["snapshot_deleted"], metrics["rows_written"]) == \
        (2, 1, 1)
