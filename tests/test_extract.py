"""`loader extract` against a fake Canvas on 127.0.0.1 (tests/fake_canvas.py):
the five entities over several pages, loaded and built by `loader run`; the
injected failures (throttling, 5xx, a timeout, a dropped connection, a
malformed page, an expired token, a course the token may not read); the token
kept out of every output, file and meta table.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from fake_canvas import FakeCanvas, serving
from helpers_attack import secrets_in_tree

COURSES = "101,102,103"


@pytest.fixture
def canvas(monkeypatch):
    with serving(monkeypatch, courses=3, students=150, assignments=4) as fake:
        yield fake


def extract(env, *args, expect: int = 0):
    return env.cli("extract", "--data-dir", env.data, "--backoff", "0.01", *args, expect=expect)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected(fake: FakeCanvas) -> dict[str, list[dict]]:
    """What the fake serves, per entity, keyed by id (users once)."""
    ns, na = fake.n_students, fake.n_assignments
    users = {fake.student(c, i): fake.user(fake.student(c, i))
             for c in range(fake.n_courses) for i in range(ns)}
    return {
        "courses": [fake.course(c) for c in range(fake.n_courses)],
        "users": list(users.values()),
        "enrollments": [fake.enrollment(c, i) for c in range(fake.n_courses) for i in range(ns)],
        "assignments": [fake.assignment(c, a) for c in range(fake.n_courses) for a in range(na)],
        "submissions": [fake.submission(c, k) for c in range(fake.n_courses)
                        for k in range(ns * na)],
    }


def by_id(records: list[dict]) -> dict:
    return {r["id"]: r for r in records}


def assert_batch_is(batch: Path, want: dict[str, list[dict]]) -> None:
    assert sorted(p.name for p in batch.iterdir()) == sorted(f"canvas_{e}.jsonl" for e in want)
    for entity, records in want.items():
        got = lines(batch / f"canvas_{entity}.jsonl")
        assert len(got) == len(records), entity
        assert by_id(got) == by_id(records), entity


def job_metrics(env) -> dict:
    rows = env.query("select status, metrics_json, error_message from meta.job_run "
                     "where job_name = 'loader_extract' order by started_at desc")
    return {"status": rows[0][0], "error": rows[0][2], **json.loads(rows[0][1])}


def test_extract_five_entities_paged_then_loaded_and_built(env, canvas):
    out = extract(env, "--course", COURSES).output
    batch = env.data / "batch-0001"
    want = expected(canvas)
    assert_batch_is(batch, want)
    assert "users 225, courses 3, enrollments 450, assignments 12, submissions 1800" in out
    # Pages: per_page=100 on the first request, then only the Link URLs (page=2, ...).
    sub_requests = [q for p, q in canvas.requests if p == "/api/v1/courses/101/students/submissions"]
    assert [q.get("page", ["1"])[0] for q in sub_requests] == ["1", "2", "3", "4", "5", "6"]
    assert all(q["per_page"] == ["100"] and q["student_ids[]"] == ["all"] for q in sub_requests)
    metrics = job_metrics(env)
    assert metrics["status"] == "success" and metrics["batch"] == "batch-0001"
    assert metrics["records"] == {e: len(r) for e, r in want.items()}
    assert metrics["requests"] == len(canvas.requests) and metrics["pages"] == 33
    assert metrics["bytes"] > 500_000 and metrics["retries"] == metrics["throttled"] == 0

    env.cli("run", "--data-dir", env.data, "--silent")
    assert env.scalar("select count(*) from raw.canvas_submissions") == 1800
    assert env.scalar("select count(*) from raw.canvas_users") == 225
    assert env.scalar("select count(*) from cur.fact_submission") == 1800
    assert env.scalar("select count(*) from cur.dim_course") == 3
    assert env.scalar("select count(*) from meta.extract_cursor where entity = 'submissions'") == 3


@pytest.mark.engines("duckdb")
def test_extract_rides_out_injected_failures(env, canvas):
    """5xx, a timeout, a dropped connection, a malformed page and throttled answers
    are retried; the batch is the one an undisturbed extract writes."""
    canvas.inject("/courses/101/students/submissions", "500")
    canvas.inject("/courses/102/enrollments", "502")
    canvas.inject("/courses/103/users", "503", times=2)
    canvas.inject("/courses/101/assignments", "timeout:1.5")
    canvas.inject("/courses/102/students/submissions", "drop")
    canvas.inject("/courses/103/students/submissions", "malformed")
    canvas.inject("/courses/101/users", "ratelimit", times=3)
    extract(env, "--course", COURSES, "--timeout", "0.5")
    assert_batch_is(env.data / "batch-0001", expected(canvas))
    metrics = job_metrics(env)
    assert metrics["retries"] == 7 and metrics["throttled"] == 3


@pytest.mark.engines("duckdb")
def test_extract_slows_down_and_retries_when_the_bucket_runs_dry(env, monkeypatch):
    """A small leaky bucket: Canvas's 403 Rate Limit Exceeded with a falling
    X-Rate-Limit-Remaining; the extract paces itself, retries, and completes."""
    fake = FakeCanvas(courses=2, students=100, assignments=3, capacity=600, refill=120,
                      cost=100).start()
    try:
        monkeypatch.setenv("CANVAS_API_TOKEN", fake.token)
        extract(env, "--base-url", fake.url, "--course", "101,102", "--concurrency", "3")
        assert_batch_is(env.data / "batch-0001", expected(fake))
        seen = fake.remaining_seen
        assert seen[0] > seen[1] > seen[2] and min(seen) < 100  # a falling budget
        metrics = job_metrics(env)
        assert metrics["throttled"] > 0 and metrics["paced_seconds"] > 0
    finally:
        fake.stop()


@pytest.mark.engines("duckdb")
def test_extract_gives_up_naming_the_url_and_status(env, canvas):
    canvas.inject("/courses/102/assignments", "503", times=50)
    out = extract(env, "--course", COURSES, "--max-retries", "2", expect=1).output
    assert "GET http://127.0.0.1:" in out and "/api/v1/courses/102/assignments" in out
    assert "failed 3 times; last: HTTP 503" in out
    assert len(canvas.paths("/courses/102/assignments")) == 3
    assert not list(env.data.glob("batch-*"))
    assert job_metrics(env)["status"] == "failed"
    assert canvas.token not in out


@pytest.mark.engines("duckdb")
def test_extract_expired_token_fails_at_once(env, canvas, monkeypatch):
    monkeypatch.setenv("CANVAS_API_TOKEN", "expired-token-987654321")
    out = extract(env, "--course", COURSES, expect=1).output
    assert "401 Unauthorized" in out and "invalid or expired" in out
    assert len(canvas.requests) == 1  # no retry storm
    assert "expired-token-987654321" not in out
    assert not list(env.data.glob("batch-*"))


@pytest.mark.engines("duckdb")
def test_extract_token_revoked_midway_stops_every_thread(env, canvas):
    canvas.inject("/courses/102/students/submissions", "401")
    out = extract(env, "--course", COURSES, "--concurrency", "2", expect=1).output
    assert "401 Unauthorized" in out
    failed_at = canvas.paths().index("/api/v1/courses/102/students/submissions")
    assert canvas.paths().count("/api/v1/courses/102/students/submissions") == 1  # no retry
    # The other thread: what it sent before the 401 was seen (a scheduling race), no more.
    assert len(canvas.requests) - failed_at - 1 <= 5
    assert not list(env.data.glob("batch-*"))


@pytest.mark.engines("duckdb")
def test_extract_missing_token_or_scope_is_a_clear_error(env, canvas, monkeypatch):
    out = extract(env, "--account", "1", "--course", "101", expect=1).output
    assert "--course ID (one or more) or --account ID" in out
    out = extract(env, "--course", "101", "--base-url", "http://canvas.example.edu", expect=1)
    assert "plain http: the token would travel unencrypted" in out.output
    monkeypatch.delenv("CANVAS_API_TOKEN")
    out = extract(env, "--course", "101", expect=1).output
    assert "$CANVAS_API_TOKEN is empty or not set" in out
    assert canvas.requests == []


@pytest.mark.engines("duckdb")
def test_extract_skips_a_course_the_token_may_not_read(env, canvas):
    canvas.denied.add(102)
    result = extract(env, "--course", COURSES)
    assert "skipped course 102: HTTP 403" in result.output
    batch = env.data / "batch-0001"
    assert {r["id"] for r in lines(batch / "canvas_courses.jsonl")} == {101, 103}
    assert {r["course_id"] for r in lines(batch / "canvas_enrollments.jsonl")} == {101, 103}
    assert len(lines(batch / "canvas_submissions.jsonl")) == 1200
    assert [s["course_id"] for s in job_metrics(env)["skipped_courses"]] == ["102"]


@pytest.mark.engines("duckdb")
def test_extract_by_account_and_term(env, canvas):
    extract(env, "--account", "1", "--term", "1")
    courses = lines(env.data / "batch-0001" / "canvas_courses.jsonl")
    assert {c["id"] for c in courses} == {101, 103}
    assert canvas.paths("/api/v1/accounts/1/courses")


@pytest.mark.engines("duckdb")
def test_extract_profile_chooses_entities_and_includes(env, canvas):
    config = env.root / "pipeline.yml"
    config.write_text(Path(__file__).resolve().parent.parent.joinpath("pipeline.yml").read_text())
    extract(env, "--course", "101", "--config", config, "--profile", "light")
    batch = env.data / "batch-0001"
    assert sorted(p.name for p in batch.iterdir()) == [
        "canvas_assignments.jsonl", "canvas_courses.jsonl", "canvas_enrollments.jsonl",
        "canvas_users.jsonl"]
    assert not canvas.paths("submissions")
    queries = [q for p, q in canvas.requests if p == "/api/v1/courses/101"]
    assert queries[0]["include[]"] == ["term"]
    out = extract(env, "--course", "101", "--config", config, "--profile", "nope", expect=1)
    assert "no extract profile 'nope'" in out.output


@pytest.mark.engines("duckdb")
def test_extract_token_is_nowhere(env, canvas):
    """The token never appears in output (even --debug failures), files or meta."""
    canvas.inject("/courses/103/users", "500", times=2)
    out = [extract(env, "--course", COURSES, "--max-retries", "1", expect=1).output,
           env.cli("--debug", "extract", "--data-dir", env.data, "--course", "999",
                   "--base-url", "http://127.0.0.1:9/", "--max-retries", "0",
                   "--timeout", "0.2", expect=1).output]
    extract(env, "--course", COURSES)
    for text in out:
        assert canvas.token not in text
    assert secrets_in_tree(env.root, canvas.token) == []
    tables = [r[0] for r in env.query("select table_name from information_schema.tables "
                                      "where table_schema = 'meta'")]
    dump = repr([env.query(f"select * from meta.{t}") for t in tables])
    assert "extract_cursor" in tables and canvas.token not in dump


@pytest.mark.engines("duckdb")
def test_run_extract_extracts_loads_and_builds(env, canvas):
    out = env.cli("run", "--extract", "--course", "101,102", "--data-dir", env.data,
                  "--backoff", "0.01").output
    assert "extracted 2 courses into" in out and "canvas_submissions: read 1200" in out
    assert env.scalar("select count(*) from cur.fact_submission") == 1200
    assert env.query("select job_name, status from meta.job_run where job_name = "
                     "'loader_extract'") == [("loader_extract", "success")]
    env.cli("run", "--extract", "--course", "101,102", "--data-dir", env.data, "--silent")
    assert sorted(p.name for p in env.data.iterdir()) == ["batch-0001", "batch-0002"]


def test_extract_progress_line_on_a_terminal_only(monkeypatch):
    from loader.extract.progress import extract_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with extract_progress(every=0) as show:
        show({"users": 5, "courses": 1})
        show({"users": 1200, "courses": 2})
    assert "\rextracting: users 1,200  courses 2" in terminal.getvalue()
    with extract_progress(silent=True) as show:
        assert show is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe, not a terminal
    with extract_progress() as show:
        assert show is None
