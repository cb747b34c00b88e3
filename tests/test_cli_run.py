"""`loader run`: the whole pipeline end to end on one data set that grows batch by batch.

One scenario per module (building is the slow part): batch 1 is loaded and
built, then follow-up batches 2 and 3 (new, changed, unchanged, boundary and
late-arriving records, bad lines). The tests assert on what the runs left.
"""

from __future__ import annotations

import json

import pytest

from conftest import table_rows

CURATED = ["cur.person_identity_map", "cur.dim_student", "cur.dim_course", "cur.dim_assignment",
           "cur.fact_enrollment", "cur.fact_submission"]
MARTS = ["mart.student_performance_summary", "mart.course_performance_daily"]


def _manifest(env, batch: str) -> dict:
    return json.loads((env.data / batch / "manifest.json").read_text())


def _dq(env, run_id: str) -> dict[str, tuple]:
    rows = env.query(
        "select check_name, severity, status, failing_rows, sample_keys "
        "from meta.dq_check_result where run_id = ?", (run_id,))
    return {r[0]: r[1:] for r in rows}


def _latest_dbt_run(env) -> str:
    return env.scalar("select run_id from meta.job_run where job_name = 'dbt build' "
                      "order by started_at desc")


@pytest.fixture
def scenario(env):
    """Batch 1 run, then batch 2 run; returns the env with the run ids."""
    env.cli("simulate", env.data, "--students", 60, "--courses", 4, "--silent")
    first = env.cli("run", "--data-dir", env.data)
    env.run1 = _latest_dbt_run(env)
    env.run1_output = first.output
    env.cli("simulate", env.data, "--follow-up", "--silent")
    env.cli("run", "--data-dir", env.data)
    env.run2 = _latest_dbt_run(env)
    return env


def test_run_demo_on_empty_directory_succeeds(env):
    result = env.cli("run", "--demo")
    assert "== Loads" in result.output and "== Data quality" in result.output
    for table in CURATED + MARTS:
        assert env.scalar(f"select count(*) from {table}") > 0, table
    assert env.scalar("select count(*) from meta.job_run where job_name = 'dbt build' "
                      "and status = 'success'") == 1


def test_run_writes_job_runs_for_loads_and_dbt(scenario):
    env = scenario
    rows = env.query("select job_name, status, duration_ms, metrics_json from meta.job_run")
    names = {r[0] for r in rows}
    assert {"load canvas_users", "load canvas_submissions", "dbt build"} <= names
    for name, status, duration, metrics in rows:
        assert status == "success", (name, status)
        assert duration is not None and duration >= 0
        assert isinstance(json.loads(metrics), dict)
    dbt_metrics = json.loads(env.scalar(
        "select metrics_json from meta.job_run where run_id = ?", (env.run2,)))
    assert "fact_submission" in json.dumps(dbt_metrics["models"])
    assert dbt_metrics["checks"]


def test_run_writes_at_least_eight_dq_checks_per_run(scenario):
    env = scenario
    for run_id in (env.run1, env.run2):
        results = _dq(env, run_id)
        assert len(results) >= 8
        for severity, status, failing, samples in results.values():
            assert severity in ("info", "warn", "error")
            assert status in ("pass", "warn", "fail", "error", "skipped")
            keys = json.loads(samples)
            assert isinstance(keys, list) and len(keys) <= 10
            assert all(isinstance(k, str) for k in keys)
            if status == "pass":
                assert failing == 0 and keys == []


def test_run_seeded_faults_show_with_severity_and_sample_keys(scenario):
    env = scenario
    faults = _manifest(env, "batch-0001")["seeded_faults"]
    results = _dq(env, env.run1)

    def check(name: str) -> tuple:
        assert name in results, f"no check {name!r} in {sorted(results)}"
        return results[name]

    severity, status, failing, samples = check("dim_student_missing_email")
    assert (severity, status) == ("warn", "warn")
    assert set(json.loads(samples)) <= {str(u) for u in faults["students_without_email"]}
    assert failing == len(faults["students_without_email"])

    severity, status, failing, samples = check("fact_submission_score_out_of_range")
    assert status == "warn" and severity in ("warn", "error")
    assert {str(s) for s in faults["score_out_of_range"]} <= set(json.loads(samples))

    _, status, _, samples = check("fact_submission_unknown_workflow_state")
    assert status == "warn"
    assert {str(s) for s in faults["unknown_workflow_state"]} <= set(json.loads(samples))

    conflicts = env.query("select * from meta.person_identity_map_dq")
    assert len(conflicts) >= len(faults["sis_conflict"])


def test_run_bad_lines_of_the_follow_up_are_rejected_with_line_numbers(scenario):
    env = scenario
    bad = _manifest(env, "batch-0002")["bad_lines"]
    assert bad
    for line in bad:
        hits = env.query(
            "select reason from meta.load_reject where source_file like ? and line_number = ?",
            (f"%batch-0002/{line['file']}", line["line_number"]))
        assert len(hits) == 1, line


def test_run_late_arriving_student_is_an_orphan_until_it_lands(scenario):
    env = scenario
    late = _manifest(env, "batch-0002")["late_arriving"]
    sub_ids = [str(s) for s in late["submission_ids"]]
    assert sub_ids
    orphan = [v for k, v in _dq(env, env.run2).items() if k == "fact_submission_orphan_student"]
    assert orphan and orphan[0][1] == "warn"
    assert set(json.loads(orphan[0][3])) & set(sub_ids)
    env.cli("simulate", env.data, "--follow-up", "--silent")
    env.cli("run", "--data-dir", env.data)
    run3 = _latest_dbt_run(env)
    still = [v for k, v in _dq(env, run3).items() if k == "fact_submission_orphan_student"][0]
    assert not set(json.loads(still[3])) & set(sub_ids)
    joined = env.scalar(
        "select count(*) from cur.fact_submission as f join cur.dim_student as d "
        "on d.student_key = f.student_key where cast(f.submission_id as varchar) in "
        f"({', '.join('?' for _ in sub_ids)})", sub_ids)
    assert joined == len(sub_ids)


def test_run_incremental_build_equals_full_refresh(scenario):
    env = scenario
    env.cli("simulate", env.data, "--follow-up", "--silent")
    env.cli("run", "--data-dir", env.data)
    incremental = {t: table_rows(env, t) for t in CURATED + MARTS}
    env.dbt("build", "--full-refresh")
    for table in CURATED + MARTS:
        assert table_rows(env, table) == incremental[table], table


def test_run_added_raw_column_is_logged_as_schema_change(scenario):
    env = scenario
    env.execute("alter table raw.canvas_users add column extra_note varchar")
    result = env.cli("run", "--data-dir", env.data)
    assert "column_added: raw.canvas_users.extra_note" in result.output
    run_id = _latest_dbt_run(env)
    assert env.query(
        "select change_type from meta.schema_change_log where run_id = ? "
        "and table_name = 'canvas_users' and column_name = 'extra_note'", (run_id,)
    ) == [("column_added",)]


def test_run_second_run_with_nothing_new_writes_nothing(scenario):
    env = scenario
    before = {t: table_rows(env, t) for t in CURATED}
    result = env.cli("run", "--data-dir", env.data)
    assert "already loaded" in result.output or "written 0" in result.output
    assert {t: table_rows(env, t) for t in CURATED} == before


def test_run_exits_nonzero_when_a_load_fails(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    (env.data / "batch-0001" / "canvas_users.jsonl").write_text("oops\n" * 200)
    result = env.cli("run", "--data-dir", env.data, expect=1)
    assert "load failed" in result.output and "more than 100 lines rejected" in result.output
