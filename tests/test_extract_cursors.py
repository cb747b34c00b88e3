"""Cursors: a second `loader extract` after changes on the (fake) Canvas reads
submissions only from each course's cursor (submitted_since / graded_since),
and the warehouse it builds equals the one a full extract builds.
"""

from __future__ import annotations

import json

import pytest

from conftest import DuckDBDatabase, Env, table_rows
from fake_canvas import FakeCanvas, serving
from helpers_attack import release_inprocess_duckdb

pytestmark = pytest.mark.engines("duckdb")
COURSES = "101,102,103"
CUR = ["cur.dim_course", "cur.dim_student", "cur.dim_assignment", "cur.fact_enrollment",
       "cur.fact_submission"]
LOAD_COLUMNS = ("ingested_at", "assignment_ingested_at", "load_id")


@pytest.fixture
def canvas(monkeypatch):
    with serving(monkeypatch, courses=3, students=40, assignments=5) as fake:
        yield fake


def _extract(env, data, *args):
    env.cli("extract", "--data-dir", data, "--course", COURSES, "--silent", *args)
    return sorted(data.glob("batch-*"))[-1]


def _change(fake: FakeCanvas) -> set[int]:
    """Grade four submissions, hand in two, edit an enrollment and an assignment."""
    changed = set()
    for c, k in [(0, 3), (0, 17), (1, 40), (2, 199)]:
        sid = fake.submission(c, k)["id"]
        fake.change("submissions", sid, graded_at="2026-01-05T10:00:00Z", score=9.0, grade="9",
                    workflow_state="graded", grader_id=1)
        changed.add(sid)
    for c, k in [(1, 0), (2, 4)]:  # unsubmitted until now
        sid = fake.submission(c, k)["id"]
        fake.change("submissions", sid, submitted_at="2026-01-06T08:30:00Z",
                    workflow_state="submitted", submission_type="online_upload", attempt=1)
        changed.add(sid)
    fake.change("enrollments", fake.enrollment(1, 2)["id"], enrollment_state="completed",
                updated_at="2026-01-05T09:00:00Z")
    fake.change("assignments", fake.assignment(0, 1)["id"], name="Renamed",
                updated_at="2026-01-05T09:00:00Z")
    return changed


def test_second_extract_reads_only_what_changed_and_cur_equals_a_full_build(
        env, canvas, monkeypatch):
    _extract(env, env.data)
    env.cli("run", "--data-dir", env.data, "--silent")
    cursors = dict(env.query("select scope, cursor_value from meta.extract_cursor "
                             "where entity = 'submissions'"))
    assert set(cursors) == {"101", "102", "103"}

    changed = _change(canvas)
    before = len(canvas.requests)
    batch = _extract(env, env.data)
    fetched = [json.loads(x) for x in (batch / "canvas_submissions.jsonl").read_text().splitlines()]
    ids = {r["id"] for r in fetched}
    assert changed <= ids
    # Besides the changes, only records of the cursor's own second (the overlap).
    for r in fetched:
        if r["id"] not in changed:
            course = str(r["assignment_id"] // 1000)
            assert cursors[course] in (r["submitted_at"], r["graded_at"]), r
    assert len(ids) <= len(changed) + 2 * 3
    sub_queries = [q for p, q in canvas.requests[before:] if p.endswith("/students/submissions")]
    assert len(sub_queries) == 6  # two filters per course, one page each
    assert all(("submitted_since" in q) != ("graded_since" in q) for q in sub_queries)
    new_cursors = dict(env.query("select scope, cursor_value from meta.extract_cursor "
                                 "where entity = 'submissions'"))
    assert new_cursors == {"101": "2026-01-05T10:00:00Z", "102": "2026-01-06T08:30:00Z",
                           "103": "2026-01-06T08:30:00Z"}
    env.cli("run", "--data-dir", env.data, "--silent")
    incremental = {t: table_rows(env, t, LOAD_COLUMNS) for t in CUR}

    # The same instance, extracted in full (--full ignores the cursors) into a new database.
    release_inprocess_duckdb()
    monkeypatch.setenv("CANVAS_DUCKDB_PATH", str(env.root / "full.duckdb"))
    full_dir = env.root / "full"
    batch = _extract(env, full_dir, "--full")
    assert len((batch / "canvas_submissions.jsonl").read_text().splitlines()) == 3 * 40 * 5
    env.cli("run", "--data-dir", full_dir, "--silent")
    release_inprocess_duckdb()
    full = Env(env.root, DuckDBDatabase(env.root / "full.duckdb"), env.profiles)
    assert full.scalar("select count(*) from meta.job_run where job_name = 'loader_extract'") == 1
    for table in CUR:
        assert table_rows(full, table, LOAD_COLUMNS) == incremental[table], table
    assert full.scalar("select count(*) from cur.fact_submission where score = 9") >= 4
    assert full.scalar("select count(*) from cur.dim_assignment "
                       "where assignment_name = 'Renamed'") == 1
