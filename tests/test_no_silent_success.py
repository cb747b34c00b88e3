"""No silent success (issue: a run that loads nothing must say so): a missing
--data-dir fails, a source with no file is warned about and recorded in job_run,
a file whose every line is rejected fails its load, and a source that usually
delivers but loaded 0 rows is named in the summary."""

from __future__ import annotations

import json


def test_run_fails_when_the_data_dir_does_not_exist(env):
    result = env.cli("run", "--data-dir", env.root / "nowhere", "--no-build", expect=1)
    assert "--data-dir" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_run_warns_and_records_a_source_without_files(env):
    env.write_jsonl("data/batch-0001/canvas_users.jsonl", [{"id": 1, "name": "A"}])
    result = env.cli("run", "--data-dir", env.data, "--no-build")
    assert ("WARNING: canvas_courses: no file matches '*/canvas_courses.jsonl*'"
            in result.output)
    rows = env.query("select status, error_message from meta.job_run "
                     "where job_name = 'load canvas_courses'")
    assert len(rows) == 1 and rows[0][0] == "warn" and "no file matches" in rows[0][1]


def test_a_load_whose_every_line_is_rejected_fails(env):
    path = env.write_jsonl("users.jsonl", [{"name": "no id"}, {"name": "none either"}])
    result = env.cli("load", path, "--table", "raw.canvas_users", expect=1)
    assert "every line (2) was rejected" in result.output
    assert env.query("select status, rows_rejected from meta.load_file") == [("failed", 2)]
    assert env.scalar("select count(*) from meta.load_reject") == 2
    assert env.scalar("select count(*) from raw.canvas_users") == 0


def test_run_with_every_line_rejected_exits_1(env):
    env.write_jsonl("data/batch-0001/canvas_users.jsonl", [{"key": {"id": 1}}])
    result = env.cli("run", "--data-dir", env.data, "--no-build", expect=1)
    assert "FAILED" in result.output and "every line (1) was rejected" in result.output


def test_a_source_that_usually_delivers_but_loaded_nothing_is_named(env):
    env.write_jsonl("data/batch-0001/canvas_users.jsonl", [{"id": 1}, {"id": 2}])
    env.cli("run", "--data-dir", env.data, "--no-build")
    (env.data / "batch-0002").mkdir()
    (env.data / "batch-0002" / "canvas_users.jsonl").write_text("\n")
    result = env.cli("run", "--data-dir", env.data, "--no-build")
    assert "WARNING: canvas_users: 0 rows this run; its loads usually write about 2 rows" \
        in result.output
    metrics = json.loads(env.scalar(
        "select metrics_json from meta.job_run where job_name = 'load canvas_users' "
        "order by started_at desc"))
    assert metrics["rows_read"] == 0
