"""`loader status`: what the operations view prints after real loads and runs."""

from __future__ import annotations

import json


def _section(output: str, title: str) -> str:
    """The text of one `== title` section of the status output."""
    start = output.index(f"== {title}")
    end = output.find("\n== ", start + 1)
    return output[start:end if end > 0 else None]


def test_status_after_a_load_shows_watermark_rejects_and_what_is_not_built_yet(env):
    path = env.root / "assignments.jsonl"
    path.write_text(
        json.dumps({"id": 1, "updated_at": "2026-09-01T10:00:00Z"}) + "\n"
        + "this is not json\n"
        + json.dumps({"id": 2, "updated_at": "2026-09-02T11:30:00Z"}) + "\n")
    # Relative (the test runs in env.root): the source file fits its column.
    env.load(path.name, "raw.canvas_assignments", "--updated-field", "updated_at",
             "--incremental")
    out = env.cli("status").output
    watermarks = _section(out, "Watermarks")
    assert "canvas_assignments" in watermarks and "2026-09-02 11:30:00" in watermarks
    rejects = _section(out, "Recent rejects")
    assert "assignments.jsonl" in rejects and "invalid JSON" in rejects
    assert "  2  " in rejects.splitlines()[-1] + "  "  # the line number
    for title, view in (("Latest job runs", "v_job_run_latest"),
                        ("Data quality (latest result per check)", "v_dq_latest_summary")):
        assert f"meta.{view} does not exist yet: `dbt build`" in _section(out, title)


def test_status_after_a_run_shows_jobs_checks_and_how_many_more(env):
    env.cli("simulate", env.data, "--students", 30, "--courses", 2, "--silent")
    env.cli("run", "--data-dir", env.data, "--silent")
    out = env.cli("status", "--limit", 3).output
    jobs = _section(out, "Latest job runs")
    assert "job_name" in jobs and "status" in jobs
    assert jobs.count("success") == 3 and "... and 3 more" in jobs  # 5 loads + dbt build
    checks = _section(out, "Data quality (latest result per check)")
    total = env.scalar("select count(*) from meta.v_dq_latest_summary")
    assert f"... and {total - 3} more" in checks
    first = checks.splitlines()[3]
    worst = env.query("select check_name from meta.v_dq_latest_summary "
                      "order by case status when 'pass' then 1 else 0 end, severity, "
                      "check_name")[0][0]
    assert first.split()[0] == worst
    assert "(none)" in _section(out, "Recent rejects")
