"""`loader load`: the raw contract, watermarks and bad input (DESIGN.md), on every engine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import PROJECT_DIR, subprocess_env, table_rows

USERS = [
    {"id": 1, "name": "Ada", "email": "ada@example.edu"},
    {"id": 2, "name": "Bo", "email": "bo@example.edu"},
    {"id": 3, "name": "Cy"},
]
ENROLLMENTS = [
    {"id": 10, "user_id": 1, "enrollment_state": "active", "updated_at": "2026-09-01T10:00:00Z"},
    {"id": 11, "user_id": 2, "enrollment_state": "active", "updated_at": "2026-09-02T10:00:00Z"},
    {"id": 12, "user_id": 3, "enrollment_state": "invited",
     "updated_at": "2026-09-03T12:00:00+02:00"},
]
INCR = ("--updated-field", "updated_at", "--incremental")


def _load_json(result_output: str) -> dict:
    return json.loads(result_output)


def test_load_first_load_writes_every_record(env):
    path = env.write_jsonl("users.jsonl", USERS)
    out = env.cli("load", path, "--table", "raw.canvas_users").output
    assert "written 3 (new 3, changed 0)" in out
    rows = env.query("select id, payload_hash, ingested_at, source_file, load_id "
                     "from raw.canvas_users order by id")
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert all(len(r[1]) == 64 and r[2] is not None and r[4] for r in rows)
    assert json.loads(env.scalar("select payload from raw.canvas_users where id = '3'")) == USERS[2]


def test_load_same_file_again_writes_nothing(env):
    path = env.write_jsonl("users.jsonl", USERS)
    env.load(path, "raw.canvas_users")
    before = table_rows(env, "raw.canvas_users")
    out = env.cli("load", path, "--table", "raw.canvas_users").output
    assert "already loaded" in out
    forced = env.cli("load", path, "--table", "raw.canvas_users", "--force").output
    assert "written 0" in forced and "skipped 3" in forced
    assert table_rows(env, "raw.canvas_users") == before
    statuses = [r[0] for r in env.query("select status from meta.load_file order by ended_at")]
    assert statuses == ["success", "skipped_file", "success"]


def test_load_untouched_file_again_is_skipped_without_reading_it(env, monkeypatch):
    """A re-run over the same data directory: the file's stat fingerprint matches a
    successful load, so it is not hashed (let alone parsed)."""
    from loader import read

    path = env.write_jsonl("users.jsonl", USERS)
    env.load(path, "raw.canvas_users")
    [(stat,)] = env.query("select file_stat from meta.load_file")
    assert stat and stat.count(":") == 4

    def read_it(_path):
        raise AssertionError("the file was read although it is unchanged")

    monkeypatch.setattr(read, "file_sha256", read_it)
    out = env.cli("load", path, "--table", "raw.canvas_users").output
    assert "already loaded" in out
    assert [r[0] for r in env.query("select status from meta.load_file order by ended_at")] == [
        "success", "skipped_file"]


def test_load_file_rewritten_with_same_size_and_mtime_is_read_again(env):
    """The fingerprint holds the ctime, which a rewrite moves and no user can set back."""
    import os

    path = env.write_jsonl("users.jsonl", USERS)
    env.load(path, "raw.canvas_users")
    before = os.stat(path)
    edited = path.read_bytes().replace(b'"Ada"', b'"Adb"')
    assert len(edited) == before.st_size
    path.write_bytes(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    out = env.cli("load", path, "--table", "raw.canvas_users").output
    assert "written 1 (new 0, changed 1)" in out
    # The same bytes under a new name: hashed, and skipped as already loaded.
    copy = path.with_name("copy.jsonl")
    copy.write_bytes(edited)
    assert "already loaded" in env.cli("load", copy, "--table", "raw.canvas_users").output


def test_load_adds_columns_missing_from_an_older_meta_table(env):
    """meta.load_file made before file_stat existed gets the column, and loads work."""
    ts = "datetime2" if env.engine == "sqlserver" else "timestamp"
    if env.engine == "sqlserver":
        env.execute("if schema_id('meta') is null exec('create schema meta')")
    else:
        env.execute("create schema if not exists meta", engine_specific=True)
    env.execute(
        "create table meta.load_file (load_id varchar(64), source_name varchar(200), "
        "target_table varchar(200), source_file varchar(1000), file_sha256 varchar(64), "
        f"status varchar(20), rows_read bigint, rows_written bigint, rows_skipped bigint, "
        f"rows_rejected bigint, started_at {ts}, ended_at {ts})"
    )
    path = env.write_jsonl("users.jsonl", USERS)
    env.load(path, "raw.canvas_users")
    assert "already loaded" in env.cli("load", path, "--table", "raw.canvas_users").output
    [(stat,)] = env.query("select file_stat from meta.load_file where status = 'success'")
    assert stat


def test_load_resent_records_with_reordered_keys_are_unchanged(env):
    env.load(env.write_jsonl("a.jsonl", USERS), "raw.canvas_users")
    reordered = [dict(reversed(list(u.items()))) for u in USERS]
    out = env.cli("load", env.write_jsonl("b.jsonl", reordered), "--table",
                  "raw.canvas_users").output
    assert "written 0" in out


def test_load_one_changed_record_without_updated_at_writes_exactly_it(env):
    env.load(env.write_jsonl("a.jsonl", USERS), "raw.canvas_users")
    first = dict(env.query("select id, ingested_at from raw.canvas_users"))
    changed = [USERS[0], {**USERS[1], "email": "bo@new.example.edu"}, USERS[2]]
    out = env.cli("load", env.write_jsonl("b.jsonl", changed), "--table",
                  "raw.canvas_users").output
    assert "written 1 (new 0, changed 1)" in out
    second = dict(env.query("select id, ingested_at from raw.canvas_users"))
    assert second["1"] == first["1"] and second["3"] == first["3"]
    assert second["2"] > first["2"]
    assert env.scalar("select count(*) from raw.canvas_users") == 3


def test_load_one_changed_record_with_updated_at_moves_watermark(env):
    env.load(env.write_jsonl("a.jsonl", ENROLLMENTS), "raw.canvas_enrollments", *INCR)
    assert str(env.scalar("select last_updated_at from meta.watermark "
                          "where source_name = 'canvas_enrollments'")) == "2026-09-03 10:00:00"
    changed = [*ENROLLMENTS[:2], {**ENROLLMENTS[2], "enrollment_state": "active",
                                  "updated_at": "2026-09-04T08:00:00Z"}]
    out = env.cli("load", env.write_jsonl("b.jsonl", changed), "--table",
                  "raw.canvas_enrollments", *INCR).output
    assert "written 1 (new 0, changed 1)" in out
    assert str(env.scalar("select last_updated_at from meta.watermark")) == "2026-09-04 08:00:00"
    assert str(env.scalar("select record_updated_at from raw.canvas_enrollments "
                          "where id = '12'")) == "2026-09-04 08:00:00"


def test_load_incremental_skips_records_below_watermark(env):
    env.load(env.write_jsonl("a.jsonl", ENROLLMENTS), "raw.canvas_enrollments", *INCR)
    stale = {**ENROLLMENTS[0], "id": 99, "updated_at": "2026-08-01T00:00:00Z"}
    out = env.cli("load", env.write_jsonl("b.jsonl", [stale]), "--table",
                  "raw.canvas_enrollments", *INCR).output
    assert "written 0" in out and "skipped 1" in out
    assert env.scalar("select count(*) from raw.canvas_enrollments where id = '99'") == 0
    metrics = json.loads(env.scalar(
        "select metrics_json from meta.job_run where status = 'success' "
        "order by started_at desc"))
    assert metrics["below_watermark"] == 1


def test_load_record_at_watermark_boundary_in_later_file_is_not_lost(env):
    env.load(env.write_jsonl("a.jsonl", ENROLLMENTS), "raw.canvas_enrollments", *INCR)
    boundary = "2026-09-03T10:00:00Z"  # equals the watermark set by the first file
    late = [{"id": 13, "user_id": 1, "enrollment_state": "active", "updated_at": boundary},
            ENROLLMENTS[2]]  # at the boundary too (+02:00), re-sent unchanged
    out = env.cli("load", env.write_jsonl("b.jsonl", late), "--table",
                  "raw.canvas_enrollments", *INCR).output
    assert "written 1 (new 1, changed 0)" in out
    assert env.scalar("select count(*) from raw.canvas_enrollments where id = '13'") == 1


def test_load_duplicate_ids_in_one_file_last_line_wins(env):
    records = [{"id": 1, "name": "first"}, {"id": 2, "name": "x"}, {"id": 1, "name": "last"}]
    out = env.cli("load", env.write_jsonl("a.jsonl", records), "--table",
                  "raw.canvas_users").output
    assert "written 2" in out and "skipped 1" in out
    assert json.loads(env.scalar("select payload from raw.canvas_users where id = '1'"))[
        "name"] == "last"


def test_load_bad_lines_go_to_load_reject_with_line_numbers(env):
    path = env.write_jsonl("a.jsonl", USERS[:1], raw_lines=[
        "{not json", "[1, 2]", '{"name": "no id"}', '{"id": null}', '{"id": {"a": 1}}',
        json.dumps({"id": 7, "updated_at": "yesterday"}), json.dumps(USERS[1]),
    ])
    out = env.cli("load", path, "--table", "raw.canvas_users",
                  "--updated-field", "updated_at").output
    assert "read 8, written 2" in out and "rejected 6" in out
    rejects = env.query("select line_number, reason, source_file from meta.load_reject "
                        "order by line_number")
    assert [r[0] for r in rejects] == [2, 3, 4, 5, 6, 7]
    reasons = " | ".join(r[1] for r in rejects)
    for expected in ("invalid JSON", "not a JSON object (a array)", "missing or null id",
                     "must be a string or integer", "unparsable timestamp"):
        assert expected in reasons
    assert all(r[2] == str(path) for r in rejects)
    assert env.scalar("select rows_read - rows_written - rows_skipped - rows_rejected "
                      "from meta.load_file") == 0


def test_load_past_max_rejects_writes_nothing_and_keeps_watermark(env):
    env.load(env.write_jsonl("a.jsonl", ENROLLMENTS), "raw.canvas_enrollments", *INCR)
    before = table_rows(env, "raw.canvas_enrollments")
    watermark = env.query("select * from meta.watermark")
    newer = [{**ENROLLMENTS[0], "id": 50, "updated_at": "2026-10-01T00:00:00Z"}]
    path = env.write_jsonl("b.jsonl", newer, raw_lines=["oops"] * 3)
    result = env.cli("load", path, "--table", "raw.canvas_enrollments", *INCR,
                     "--max-rejects", "2", expect=1)
    assert "more than 2 lines rejected" in result.output
    assert "`loader rejects " in result.output and "--max-rejects" in result.output
    assert "Traceback" not in result.output
    assert table_rows(env, "raw.canvas_enrollments") == before
    assert env.query("select * from meta.watermark") == watermark
    assert env.scalar("select count(*) from meta.load_reject") == 3
    assert env.scalar("select status from meta.job_run where job_name = "
                      "'load canvas_enrollments' order by started_at desc") == "failed"


@pytest.mark.parametrize("point", ["after_stage", "after_upsert", "after_watermark",
                                   "before_commit"])
def test_load_killed_midway_leaves_raw_and_watermark_as_before(env, point):
    env.load(env.write_jsonl("a.jsonl", ENROLLMENTS), "raw.canvas_enrollments", *INCR)
    before = table_rows(env, "raw.canvas_enrollments")
    watermark = env.query("select * from meta.watermark")
    changed = [{**e, "enrollment_state": "completed", "updated_at": "2026-10-01T00:00:00Z"}
               for e in ENROLLMENTS]
    path = env.write_jsonl("b.jsonl", changed)
    proc = subprocess.run(
        [sys.executable, "-m", "loader.cli", "load", str(path), "--table",
         "raw.canvas_enrollments", *INCR, "--silent"],
        env=subprocess_env(env, LOADER_CRASH_AT=point), cwd=PROJECT_DIR,
        capture_output=True, text=True,
    )
    assert proc.returncode == -9, proc.stderr
    assert table_rows(env, "raw.canvas_enrollments") == before
    assert env.query("select * from meta.watermark") == watermark
    assert env.query("select status from meta.job_run order by started_at") == [
        ("success",), ("running",)]
    out = env.cli("load", path, "--table", "raw.canvas_enrollments", *INCR).output
    assert "written 3" in out


def test_load_gzip_file_is_read(env):
    import gzip

    path = env.root / "users.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(u) + "\n" for u in USERS).encode()))
    assert "written 3" in env.cli("load", path, "--table", "raw.canvas_users").output


def test_load_json_array_file_is_read_as_one_and_gets_a_hint_declared_jsonl(env):
    path = env.root / "users.json"
    path.write_text(json.dumps(USERS, indent=2))
    result = env.cli("load", path, "--table", "raw.canvas_users", "--format", "jsonl",
                     expect=1)
    assert "JSON array, not JSON Lines" in result.output and "--format json" in result.output
    assert "written 3" in env.cli("load", path, "--table", "raw.canvas_users").output


def test_load_missing_file_is_a_one_line_error(env):
    result = env.cli("load", env.root / "nope.jsonl", "--table", "raw.canvas_users", expect=1)
    assert result.output.strip().startswith("Error:") and "no such file" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("table", ["raw.users; drop table x", "raw.\"users\"", "raw.users--",
                                   "raw.[users]", "a.b.c", "raw.usérs", "raw.users'", ""])
def test_load_rejects_table_names_that_are_not_identifiers(env, table):
    path = env.write_jsonl("a.jsonl", USERS)
    result = env.cli("load", path, "--table", table, expect=1)
    assert "Error:" in result.output
    assert env.is_empty()


def test_load_mixed_case_and_schema_qualified_names_work(env):
    path = env.write_jsonl("a.jsonl", USERS)
    env.cli("load", path, "--table", "Landing.Canvas_Users", "--source-name", "users.v2")
    assert env.scalar('select count(*) from "Landing"."Canvas_Users"') == 3


def test_load_records_job_run_with_metrics(env):
    env.load(env.write_jsonl("a.jsonl", USERS), "raw.canvas_users")
    job_name, status, duration, metrics = env.query(
        "select job_name, status, duration_ms, metrics_json from meta.job_run")[0]
    assert (job_name, status) == ("load canvas_users", "success")
    assert duration >= 0
    m = json.loads(metrics)
    assert (m["rows_read"], m["rows_written"], m["rows_skipped"], m["rows_rejected"]) == (3, 3, 0, 0)
