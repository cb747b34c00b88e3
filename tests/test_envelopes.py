"""Source shapes and deletes: Canvas Data 2 and Debezium envelopes, soft deletes,
re-inserts and out-of-order deletes, on every engine (DESIGN.md "Source shapes,
deletes"). The fixtures are written here, in the shapes Canvas Data 2's DAP client
and Debezium write: CD2 `{"meta": {"action", "ts"}, "key": {...}, "value": {...}}`
with nulls omitted and a delete carrying the key only."""

from __future__ import annotations

import json

import pytest

from loader.read import RecordReader


def cd2(key, value=None, ts="2024-03-01T06:00:00.000Z", action="U"):
    key = key if isinstance(key, dict) else {"id": key}
    record = {"meta": {"action": action, "ts": ts}, "key": key}
    if value is not None:
        record["value"] = value
    return record


def cd2_delete(key, ts):
    return cd2(key, None, ts, "D")


def submission(score, updated_at, **extra):
    return {"assignment_id": 4, "user_id": 1968, "course_id": 69, "workflow_state": "graded",
            "score": score, "grade": str(score), "updated_at": updated_at, **extra}


def raw_state(env, table="raw.canvas_submissions"):
    """id -> (score from the payload's value, deleted_at is set)."""
    rows = env.query(f"select id, payload, deleted_at from {table} order by id")
    out = {}
    for rid, payload, deleted_at in rows:
        body = payload if isinstance(payload, dict) else json.loads(payload)
        value = body.get("value", body)
        out[rid] = (value.get("score"), deleted_at is not None)
    return out


def test_cd2_shape_is_recognized_without_configuration(tmp_path):
    path = tmp_path / "subs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        cd2(7, submission(3.0, "2024-03-01T10:00:00Z")),
        cd2_delete(8, "2024-03-02T11:00:00.000Z"),
        cd2({"course_id": 1, "user_id": 2}, {"score": 1}),
    ]) + "\n")
    reader = RecordReader(path)
    chunks = list(reader)
    assert reader.shape == "cd2"
    assert [c for chunk in chunks for c in chunk.id] == ["7", '{"course_id":1,"user_id":2}']
    # The change time: value.updated_at, else meta.ts; the delete keeps its ts.
    stamps = [s for chunk in chunks for s in chunk.record_updated_at]
    assert [str(s) for s in stamps] == ["2024-03-01 10:00:00", "2024-03-01 06:00:00"]
    assert {k: str(v[1]) for k, v in reader.deletes.items()} == {"8": "2024-03-02 11:00:00"}
    assert reader.rejects == []


def test_cd2_broken_envelopes_are_rejected_with_a_reason(tmp_path):
    path = tmp_path / "subs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        cd2(1, {"score": 1}),
        {"meta": {"action": "X", "ts": "2024-03-01T06:00:00Z"}, "key": {"id": 2}},
        {"meta": {"action": "U", "ts": "2024-03-01T06:00:00Z"}, "key": {"id": 3}},
        {"meta": {"action": "U"}, "key": {}, "value": {}},
    ]) + "\n")
    reader = RecordReader(path)
    list(reader)
    reasons = {n: r for n, r, _ in reader.rejects}
    assert reasons[2] == "cd2: meta.action must be U or D, got 'X'"
    assert reasons[3] == "cd2: a Canvas Data 2 upsert (action U) needs a 'value' object"
    assert reasons[4] == "cd2: envelope 'key' must be a non-empty JSON object"


def test_cd2_update_then_delete_keeps_the_last_payload_flagged(env):
    first = env.write_jsonl("b1/canvas_submissions.jsonl", [
        cd2(7493, submission(3.3, "2021-05-04T11:49:50Z")),
        cd2(101, submission(84.0, "2019-02-01T22:59:52Z")),
    ])
    env.load(first, "raw.canvas_submissions")
    second = env.write_jsonl("b2/canvas_submissions.jsonl", [
        cd2(7493, submission(4.0, "2024-03-02T10:00:00Z"), "2024-03-02T10:00:01Z"),
        cd2_delete(101, "2024-03-02T10:05:00.000Z"),
        cd2(7493, submission(4.5, "2024-03-02T10:30:00.250Z"), "2024-03-02T10:30:01Z"),
    ])
    out = env.cli("load", second, "--table", "raw.canvas_submissions").output
    assert "written 2 (new 0, changed 1, deleted 1)" in out
    assert raw_state(env) == {"101": (84.0, True), "7493": (4.5, False)}
    assert str(env.scalar("select deleted_at from raw.canvas_submissions where id = '101'")) \
        == "2024-03-02 10:05:00"
    row = env.query("select rows_read, rows_written, rows_skipped, rows_rejected "
                    "from meta.load_file order by ended_at desc")[0]
    assert row == (3, 2, 1, 0)
    metrics = json.loads(env.scalar(
        "select metrics_json from meta.job_run where job_name = 'load canvas_submissions' "
        "order by ended_at desc"))
    assert metrics["deleted"] == 1
    # A delete is idempotent: the same delete again changes nothing.
    again = env.write_jsonl("b3/canvas_submissions.jsonl",
                            [cd2_delete(101, "2024-03-02T10:05:00.000Z")])
    before = env.query("select id, ingested_at, deleted_at from raw.canvas_submissions "
                       "order by id")
    assert "written 0" in env.cli("load", again, "--table", "raw.canvas_submissions").output
    assert env.query("select id, ingested_at, deleted_at from raw.canvas_submissions "
                     "order by id") == before


def test_delete_then_reinsert_clears_deleted_at(env):
    env.load(env.write_jsonl("b1/s.jsonl", [cd2(1, submission(1.0, "2024-01-01T00:00:00Z"))]),
             "raw.canvas_submissions")
    env.load(env.write_jsonl("b2/s.jsonl", [cd2_delete(1, "2024-01-02T00:00:00Z")]),
             "raw.canvas_submissions")
    assert raw_state(env) == {"1": (1.0, True)}
    # Re-inserted with the very same value: live again (the hash alone would skip it).
    env.load(env.write_jsonl("b3/s.jsonl", [cd2(1, submission(1.0, "2024-01-01T00:00:00Z"),
                                                "2024-01-05T00:00:00Z")]),
             "raw.canvas_submissions")
    assert raw_state(env) == {"1": (1.0, False)}
    # Within one file, the later line wins: delete then re-insert is live, the
    # reverse is deleted.
    env.load(env.write_jsonl("b4/s.jsonl", [
        cd2_delete(1, "2024-01-03T00:00:00Z"), cd2(1, submission(2.0, "2024-01-04T00:00:00Z")),
        cd2(2, submission(5.0, "2024-01-03T00:00:00Z")), cd2_delete(2, "2024-01-04T00:00:00Z"),
    ]), "raw.canvas_submissions")
    assert raw_state(env) == {"1": (2.0, False), "2": (5.0, True)}


def test_out_of_order_delete_changes_nothing(env):
    env.load(env.write_jsonl("b1/s.jsonl", [cd2(1, submission(9.0, "2024-05-01T00:00:00Z"))]),
             "raw.canvas_submissions")
    before = env.query("select id, payload_hash, ingested_at, deleted_at "
                       "from raw.canvas_submissions")
    late = env.write_jsonl("b2/s.jsonl", [cd2_delete(1, "2024-04-30T23:59:59Z")])
    out = env.cli("load", late, "--table", "raw.canvas_submissions").output
    assert "written 0" in out and "skipped 1" in out
    assert env.query("select id, payload_hash, ingested_at, deleted_at "
                     "from raw.canvas_submissions") == before


def test_composite_cd2_key_is_one_stable_text(env):
    key = {"user_id": 2, "course_id": 1}
    env.load(env.write_jsonl("b1/s.jsonl", [cd2(key, {"score": 1})]), "raw.canvas_scores")
    env.load(env.write_jsonl("b2/s.jsonl", [cd2({"course_id": 1, "user_id": 2}, {"score": 2})]),
             "raw.canvas_scores")
    assert env.query("select id from raw.canvas_scores") == [('{"course_id":1,"user_id":2}',)]
    assert raw_state(env, "raw.canvas_scores") == {'{"course_id":1,"user_id":2}': (2, False)}


def test_soft_delete_in_plain_records(env):
    users = [{"id": 1, "name": "Ann", "workflow_state": "registered"},
             {"id": 2, "name": "Bea", "workflow_state": "registered"}]
    env.load(env.write_jsonl("b1/u.jsonl", users), "raw.canvas_users")
    gone = {"id": 1, "name": "Ann", "workflow_state": "deleted"}
    out = env.cli("load", env.write_jsonl("b2/u.jsonl", [gone]), "--table",
                  "raw.canvas_users").output
    assert "written 1 (new 0, changed 1, deleted 1)" in out
    assert env.query("select id from raw.canvas_users where deleted_at is not null") == [("1",)]
    # Sent again unchanged (keys in another order: another file, the same record):
    # nothing moves.
    before = env.query("select id, ingested_at, deleted_at from raw.canvas_users order by id")
    same = {"workflow_state": "deleted", "name": "Ann", "id": 1}
    out = env.cli("load", env.write_jsonl("b3/u.jsonl", [same]), "--table",
                  "raw.canvas_users").output
    assert "written 0" in out
    assert env.query("select id, ingested_at, deleted_at from raw.canvas_users "
                     "order by id") == before


def test_debezium_create_update_read_delete(env):
    def event(op, before=None, after=None, ts_ms=1709287200000):
        return {"before": before, "after": after, "op": op,
                "source": {"ts_ms": ts_ms, "connector": "sqlserver"}}

    a1, a2 = {"id": 5, "name": "Ann"}, {"id": 5, "name": "Ann B"}
    path = env.write_jsonl("cdc/users.jsonl", [
        event("r", after={"id": 4, "name": "Old"}),
        event("c", after=a1), event("u", before=a1, after=a2, ts_ms=1709287300000),
        event("c", after={"id": 6, "name": "Cy"}),
        event("d", before={"id": 6, "name": "Cy"}, ts_ms=1709287400000),
    ])
    out = env.cli("load", path, "--table", "raw.cdc_users", "--shape", "debezium").output
    assert "deleted 1" in out
    rows = env.query("select id, payload_hash, deleted_at from raw.cdc_users order by id")
    assert [(r[0], r[2] is not None) for r in rows] == [("4", False), ("5", False), ("6", True)]
    payload = env.scalar("select payload from raw.cdc_users where id = '5'")
    body = payload if isinstance(payload, dict) else json.loads(payload)
    assert body["after"]["name"] == "Ann B"  # the raw row keeps the event as received
    assert str(env.scalar("select deleted_at from raw.cdc_users where id = '6'")) \
        == "2024-03-01 10:03:20"


def test_declared_shape_rejects_records_of_another_shape(env):
    path = env.write_jsonl("u.jsonl", [{"id": 1, "name": "plain"}])
    out = env.cli("load", path, "--table", "raw.canvas_users", "--shape", "cd2",
                  "--max-rejects", "5", expect=1).output
    assert "every line (1) was rejected" in out and "--shape" in out
    reason = env.scalar("select reason from meta.load_reject")
    assert reason == "cd2: not a Canvas Data 2 record: no 'meta' object"


@pytest.mark.parametrize("shape", ["cd2", "rest"])
def test_staging_gives_the_same_columns_from_rest_and_cd2(env, shape):
    """One dbt build over either shape: the typed columns agree, CD2 names mapped,
    deletes flagged in cur and left out of the marts."""
    course = {"name": "Course name", "course_code": "C1", "workflow_state": "available",
              "created_at": "2020-10-14T16:04:58Z"}
    assignment = {"points_possible": 12.0, "due_at": "2012-07-02T05:59:00Z",
                  "created_at": "2012-07-02T05:59:00Z", "updated_at": "2012-07-02T05:59:00Z"}
    enrollment = {"user_id": 1968, "course_id": 69, "type": "StudentEnrollment",
                  "updated_at": "2019-09-16T18:27:59Z"}
    user = {"name": "Example Name", "sortable_name": "Name, Example"}
    if shape == "cd2":
        files = {
            "canvas_courses": [cd2(69, {**course, "conclude_at": "2021-01-01T00:00:00Z",
                                        "sis_source_id": "C-69"})],
            "canvas_assignments": [cd2(4, {**assignment, "title": "some assignment",
                                           "context_id": 69, "workflow_state": "published"})],
            "canvas_enrollments": [cd2(8236, {**enrollment, "workflow_state": "active"}),
                                   cd2(2, {**enrollment, "user_id": 2})],
            "canvas_users": [cd2(1968, user), cd2(2, {"name": "Gone"})],
            "canvas_submissions": [cd2(7493, submission(4.5, "2024-03-02T10:30:00.250Z"))],
        }
        deletes = {"canvas_enrollments": [cd2_delete(2, "2024-03-02T11:00:00Z")],
                   "canvas_users": [cd2(2, {"name": "Gone", "workflow_state": "deleted"},
                                        "2024-03-02T12:00:01Z")]}
    else:
        files = {
            "canvas_courses": [{"id": 69, **course, "end_at": "2021-01-01T00:00:00Z",
                                "sis_course_id": "C-69"}],
            "canvas_assignments": [{"id": 4, **assignment, "name": "some assignment",
                                    "course_id": 69, "published": True}],
            "canvas_enrollments": [{"id": 8236, **enrollment, "enrollment_state": "active"},
                                   {"id": 2, **enrollment, "user_id": 2}],
            "canvas_users": [{"id": 1968, **user}, {"id": 2, "name": "Gone"}],
            "canvas_submissions": [{"id": 7493, **submission(4.5, "2024-03-02T10:30:00.250Z")}],
        }
        deletes = {"canvas_users": [{"id": 2, "name": "Gone", "workflow_state": "deleted"}]}
    for table, records in files.items():
        env.write_jsonl(f"data/batch-0001/{table}.jsonl", records)
    for table, records in deletes.items():
        env.write_jsonl(f"data/batch-0002/{table}.jsonl", records)
    env.cli("run", "--data-dir", env.data, "--silent")
    assert env.query("select assignment_name, course_id, points_possible, is_published, "
                     "cast(due_at as varchar(30)) from cur.dim_assignment") \
        == [("some assignment", 69, 12, 1, "2012-07-02 05:59:00")]
    assert env.query("select course_name, sis_course_id, cast(end_at as varchar(30)) "
                     "from cur.dim_course") == [("Course name", "C-69", "2021-01-01 00:00:00")]
    assert env.query("select user_id, is_deleted from cur.dim_student order by user_id") \
        == [(2, 1), (1968, 0)]
    expected = [(2, 1), (8236, 0)] if shape == "cd2" else [(2, 0), (8236, 0)]
    assert env.query("select enrollment_id, is_deleted from cur.fact_enrollment "
                     "order by enrollment_id") == expected
    assert env.query("select enrollment_state, enrollment_type from cur.fact_enrollment "
                     "where enrollment_id = 8236") == [("active", "StudentEnrollment")]
    assert env.query("select score from cur.fact_submission") == [(4.5,)]
    # Marts count live rows only: the deleted enrollment (CD2) has no summary row.
    expected = [(1968,)] if shape == "cd2" else [(2,), (1968,)]
    assert env.query("select distinct user_id from mart.student_performance_summary "
                     "order by user_id") == expected
