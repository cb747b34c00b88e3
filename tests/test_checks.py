"""Freshness and volume in the audit: `loader run` stores `dbt source freshness`
per source (meta.source_freshness and meta.dq_check_result), checks each load's
row count against the source's history and each curated table's count against
the previous run's."""

from __future__ import annotations

import json

from conftest import PROJECT_DIR


def _findings(env, prefix: str) -> dict[str, tuple]:
    latest = env.query("select run_id from meta.dq_check_result where checked_at = "
                       "(select max(checked_at) from meta.dq_check_result)")
    if not latest:
        return {}
    run_id = latest[0][0]
    rows = env.query("select check_name, severity, status, failing_rows, sample_keys "
                     "from meta.dq_check_result where run_id = ? and check_name like ?",
                     (run_id, prefix + "%"))
    return {r[0]: r[1:] for r in rows}


def test_freshness_is_stored_and_a_stale_source_fails_the_run(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    # Freshness is part of the build (--no-build runs no dbt): build one view.
    env.cli("run", "--data-dir", env.data, "-s", "stg_canvas__users", "--silent")
    stored = env.query("select table_name, status, warn_after_seconds, error_after_seconds "
                       "from meta.source_freshness order by table_name")
    assert [r[0] for r in stored] == sorted(
        ["canvas_users", "canvas_courses", "canvas_assignments", "canvas_enrollments",
         "canvas_submissions"])
    assert {r[1:] for r in stored} == {("pass", 24 * 3600, 72 * 3600)}
    assert set(_findings(env, "source_freshness_").values()) == {("warn", "pass", 0, "[]")}

    # Engine-specific: date arithmetic (duckdb and postgres here).
    env.execute("update raw.canvas_users set ingested_at = ingested_at - interval '100 hours'",
                engine_specific=True)
    out = env.cli("run", "--data-dir", env.data, "-s", "stg_canvas__users", "--source",
                  "canvas_users", expect=1).output
    severity, status, failing, numbers = _findings(env, "source_freshness_")[
        "source_freshness_canvas_users"]
    assert (severity, status, failing) == ("error", "fail", 1)
    assert "(warn after 24 h, error after 72 h)" in json.loads(numbers)[0]
    assert "FAIL (error) source_freshness_canvas_users: newest loaded_at" in out
    assert out.count("source_freshness_canvas_users") == 1
    assert env.scalar("select count(*) from meta.source_freshness where status = 'error'") == 1


def _things(env, batch: int, rows: int):
    path = env.data / f"batch-{batch:04d}" / "things.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": f"{batch}-{i}"}) + "\n" for i in range(rows)))


def test_a_load_far_below_the_sources_history_is_a_finding(env):
    config = env.root / "pipeline.yml"
    config.write_text(
        "sources:\n  - {name: things, table: raw.things, files: '*/things.jsonl'}\n"
        "checks:\n  volume: {min_history: 3, min_ratio: 0.5, severity: error}\n")
    for batch in (1, 2, 3):
        _things(env, batch, 100)
    env.cli("run", "--data-dir", env.data, "--config", config, "--no-build", "--silent")
    assert _findings(env, "volume_") == {}  # no history to go by yet
    _things(env, 4, 90)
    env.cli("run", "--data-dir", env.data, "--config", config, "--no-build", "--silent")
    assert _findings(env, "volume_")["volume_load_things"][1] == "pass"
    _things(env, 5, 10)
    out = env.cli("run", "--data-dir", env.data, "--config", config, "--no-build",
                  expect=1).output
    severity, status, failing, numbers = _findings(env, "volume_")["volume_load_things"]
    assert (severity, status, failing) == ("error", "fail", 1)
    assert json.loads(numbers) == [
        "10 rows read against a median of 100 over the last 4 loads (minimum ratio 0.5)"]
    assert "FAIL (error) volume_load_things: 10 rows read against a median of 100" in out
    (env.data / "batch-0006").mkdir()
    (env.data / "batch-0006" / "things.jsonl").write_text("")
    env.cli("run", "--data-dir", env.data, "--config", config, "--no-build", expect=1)
    numbers = _findings(env, "volume_")["volume_load_things"][3]
    assert json.loads(numbers)[0].startswith("0 rows read against a median of 100")


def test_bad_volume_settings_name_the_key(env):
    config = env.root / "pipeline.yml"
    config.write_text((PROJECT_DIR / "pipeline.yml").read_text().replace(
        "max_shrink: 0.5", "max_shrink: 1.5"))
    out = env.cli("run", "--data-dir", env.data, "--config", config, expect=1).output
    assert f"{config}: checks.volume.max_shrink must be a share between 0 and 1" in out


def test_a_curated_table_that_shrinks_by_more_than_the_share_is_a_finding(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    env.cli("run", "--data-dir", env.data, "--silent", expect=None)
    courses = env.scalar("select count(*) from cur.dim_course")
    assert env.scalar("select row_count from meta.table_volume "
                      "where table_name = 'dim_course'") == courses
    assert set(r[1] for r in _findings(env, "volume_").values()) <= {"pass"}
    # As if the previous run had counted ten times as many courses.
    env.execute("update meta.table_volume set row_count = row_count * 10 "
                "where table_name = 'dim_course'")
    out = env.cli("run", "--data-dir", env.data, "-s", "dim_course", expect=None).output
    severity, status, failing, numbers = _findings(env, "volume_")["volume_dim_course"]
    assert (severity, status, failing) == ("warn", "warn", 1)
    assert json.loads(numbers) == [
        f"{courses} rows, {courses * 10} before: 90% fewer (at most 50% allowed)"]
    assert f"WARN (warn) volume_dim_course: {courses} rows, {courses * 10} before" in out
    status = env.cli("status", "--limit", 200).output  # the latest result per check
    assert "volume_dim_course" in status and "source_freshness_canvas_users" in status, status


def test_sample_keys_are_limited_globally_and_per_check(env):
    env.cli("simulate", env.data, "--students", 40, "--courses", 2, "--silent")
    env.cli("simulate", env.data, "--follow-up", "--silent")
    env.cli("run", "--data-dir", env.data, "--silent", "--vars", "{dq_sample_keys: 2}",
            expect=None)
    rows = env.query("select check_name, failing_rows, sample_keys from meta.dq_check_result "
                     "where status in ('warn', 'fail') and check_name not like 'volume%' "
                     "and check_name not like 'source_freshness%'")
    keys = {name: (failing, json.loads(sample)) for name, failing, sample in rows}
    assert keys["person_identity_map_conflict_sis_user_id"] == (1, [])  # its own 0
    others = {n: v for n, v in keys.items() if n != "person_identity_map_conflict_sis_user_id"}
    assert all(len(k) == min(failing, 2) for failing, k in others.values()), others
    assert any(failing > 2 for failing, _ in others.values())
    out = env.cli("run", "--data-dir", env.data, "--vars", "{dq_sample_keys: 0}",
                  expect=None).output
    run_id = env.scalar("select run_id from meta.job_run where job_name = 'dbt build' and "
                        "started_at = (select max(started_at) from meta.job_run "
                        "where job_name = 'dbt build')")
    assert {r[0] for r in env.query("select sample_keys from meta.dq_check_result "
                                    "where run_id = ?", (run_id,))} == {"[]"}
    assert "e.g." not in out
