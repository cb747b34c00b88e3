"""loader.simulate: the simulated Canvas JSONL batches and what their manifests promise."""

from __future__ import annotations

import re
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from loader.simulate import ENTITIES, SimulateError, simulate

SMALL = {"students": 40, "courses": 4, "assignments_per_course": 5}

REQUIRED_KEYS = {
    "users": {
        "id", "name", "sortable_name", "first_name", "last_name", "short_name",
        "integration_id", "login_id", "avatar_url", "locale",
    },
    "courses": {
        "id", "name", "course_code", "workflow_state", "account_id", "root_account_id",
        "enrollment_term_id", "uuid", "sis_course_id", "integration_id", "start_at", "end_at",
        "created_at", "time_zone", "default_view", "is_public", "license", "term",
    },
    "enrollments": {
        "id", "course_id", "sis_course_id", "course_section_id", "user_id", "sis_user_id",
        "type", "role", "role_id", "enrollment_state", "created_at", "updated_at", "start_at",
        "end_at", "last_activity_at", "total_activity_time", "html_url", "grades", "user",
    },
    "assignments": {
        "id", "name", "description", "course_id", "created_at", "updated_at", "due_at",
        "lock_at", "unlock_at", "points_possible", "grading_type", "submission_types",
        "workflow_state", "published", "position", "assignment_group_id", "html_url",
        "omit_from_final_grade",
    },
    "submissions": {
        "id", "assignment_id", "user_id", "attempt", "body", "grade", "score",
        "submission_type", "submitted_at", "graded_at", "grader_id", "posted_at",
        "workflow_state", "late", "missing", "excused", "late_policy_status",
        "points_deducted", "seconds_late", "cached_due_date", "extra_attempts",
        "redo_request", "grade_matches_current_submission", "entered_score",
        "entered_grade", "html_url", "preview_url",
    },
}
OPTIONAL_KEYS = {
    "users": {"sis_user_id", "email", "last_login"},
    "submissions": {"submission_comments"},
}
TIMESTAMP_FIELDS = {
    "users": ("last_login",),
    "courses": ("start_at", "end_at", "created_at"),
    "enrollments": ("created_at", "updated_at", "start_at", "end_at", "last_activity_at"),
    "assignments": ("created_at", "updated_at", "due_at", "lock_at", "unlock_at"),
    "submissions": ("submitted_at", "graded_at", "posted_at", "cached_due_date"),
}
OFFSET_FIELDS = {"courses": ("start_at", "end_at"), "assignments": ("due_at",)}
WHOLE_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
NUMERIC_OFFSET = re.compile(r"[+-]\d\d:\d\d$")


def _lines(batch: Path, entity: str) -> list[bytes]:
    return (batch / f"canvas_{entity}.jsonl").read_bytes().splitlines()


def _records(batch: Path, entity: str) -> list[dict]:
    """The records a loader would keep (bad lines left out)."""
    return [record for line in _lines(batch, entity) if (record := _loaded(line, entity))]


def _manifest(batch: Path) -> dict:
    return orjson.loads((batch / "manifest.json").read_bytes())


def _ts(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def _loaded(line: bytes, entity: str) -> dict | None:
    """The record a loader keeps from ``line``, or None when it must reject it."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), int):
        return None
    if entity in ("enrollments", "assignments") and _ts(record.get("updated_at")) is None:
        return None
    return record


def _latest(root: Path, before: int, entity: str) -> dict[int, bytes]:
    """Latest valid line per id over the batches numbered below ``before``."""
    latest: dict[int, bytes] = {}
    for number in range(1, before):
        for line in _lines(root / f"batch-{number:04d}", entity):
            record = _loaded(line, entity)
            if record is not None:
                latest[record["id"]] = line
    return latest


def _category_ids(categories: dict) -> dict[str, list[int]]:
    return {
        name: value["ids"] if isinstance(value, dict) else value
        for name, value in categories.items()
    }


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    """batch-0001 with the default sizes and two follow-ups; tests only read it."""
    root = tmp_path_factory.mktemp("simulated")
    simulate(root)
    simulate(root, follow_up=True)
    simulate(root, follow_up=True)
    return root


def test_simulate_is_deterministic(tmp_path):
    for name in ("a", "b"):
        simulate(tmp_path / name, seed=7, **SMALL)
        simulate(tmp_path / name, seed=7, follow_up=True)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) == 12
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    simulate(tmp_path / "c", seed=8, **SMALL)
    assert (tmp_path / "c/batch-0001/canvas_users.jsonl").read_bytes() != (
        tmp_path / "a/batch-0001/canvas_users.jsonl"
    ).read_bytes()


def test_simulate_base_lines_are_objects_with_expected_keys(series):
    manifest = _manifest(series / "batch-0001")
    for entity in ENTITIES:
        lines = _lines(series / "batch-0001", entity)
        assert len(lines) == manifest["line_counts"][f"canvas_{entity}.jsonl"] > 0
        for line in lines:
            record = orjson.loads(line)
            assert isinstance(record, dict) and isinstance(record["id"], int)
            keys = set(record)
            assert REQUIRED_KEYS[entity] <= keys, (entity, REQUIRED_KEYS[entity] - keys)
            assert keys <= REQUIRED_KEYS[entity] | OPTIONAL_KEYS.get(entity, set())
    assert manifest["bad_lines"] == []


def test_simulate_updated_at_only_on_enrollments_and_assignments(series):
    for batch in sorted(series.glob("batch-*")):
        for entity in ENTITIES:
            for line in _lines(batch, entity):
                record = _loaded(line, entity)
                if record is None:
                    continue  # a deliberately bad line
                if entity in ("enrollments", "assignments"):
                    assert _ts(record["updated_at"]) is not None
                else:
                    assert "updated_at" not in record
                if entity == "users":
                    assert "created_at" not in record


def test_simulate_timestamps_are_whole_seconds_with_offsets_where_specified(series):
    batch = series / "batch-0001"
    for entity, fields in TIMESTAMP_FIELDS.items():
        for record in _records(batch, entity):
            for field in fields:
                value = record.get(field)
                if value is None:
                    continue
                assert WHOLE_SECOND.match(value), (entity, field, value)
                is_offset = field in OFFSET_FIELDS.get(entity, ())
                assert bool(NUMERIC_OFFSET.search(value)) == is_offset, (entity, field, value)
    offsets = {record["due_at"][-6:] for record in _records(batch, "assignments")}
    assert len(offsets) > 1  # courses in several zones, and a DST change in the term


def test_simulate_most_users_are_students(series):
    enrollments = _records(series / "batch-0001", "enrollments")
    teachers = {e["user_id"] for e in enrollments if e["type"] == "TeacherEnrollment"}
    students = {e["user_id"] for e in enrollments if e["type"] == "StudentEnrollment"}
    assert len(students) == 200 and 1 <= len(teachers) <= 5
    assert not students & teachers


def test_simulate_base_references_resolve(series):
    batch = series / "batch-0001"
    users = {r["id"] for r in _records(batch, "users")}
    courses = {r["id"] for r in _records(batch, "courses")}
    assignments = {r["id"]: r["course_id"] for r in _records(batch, "assignments")}
    enrolled = set()
    for enrollment in _records(batch, "enrollments"):
        assert enrollment["user_id"] in users and enrollment["course_id"] in courses
        enrolled.add((enrollment["user_id"], enrollment["course_id"]))
    for submission in _records(batch, "submissions"):
        course_id = assignments[submission["assignment_id"]]
        assert (submission["user_id"], course_id) in enrolled
        assert submission["html_url"] == (
            f"https://canvas.example.edu/courses/{course_id}/assignments/"
            f"{submission['assignment_id']}/submissions/{submission['user_id']}"
        )


def test_simulate_seeded_faults_are_in_the_data(series):
    batch = series / "batch-0001"
    faults = _manifest(batch)["seeded_faults"]
    users = {r["id"]: r for r in _records(batch, "users")}
    assignments = {r["id"]: r for r in _records(batch, "assignments")}
    submissions = {r["id"]: r for r in _records(batch, "submissions")}

    assert len(faults["students_without_email"]) == 3
    assert {uid for uid, u in users.items() if "email" not in u} == set(
        faults["students_without_email"]
    )
    ((sis_id, pair),) = faults["sis_conflict"].items()
    assert len(set(pair)) == 2 and all(users[uid]["sis_user_id"] == sis_id for uid in pair)
    assert faults["null_points_possible"]
    assert {a for a, r in assignments.items() if r["points_possible"] is None} == set(
        faults["null_points_possible"]
    )
    assert len(faults["score_out_of_range"]) == 3
    too_high = {
        sid for sid, s in submissions.items()
        if s["score"] is not None
        and (points := assignments[s["assignment_id"]]["points_possible"]) is not None
        and s["score"] > points
    }
    assert too_high == set(faults["score_out_of_range"])
    unknown = {
        sid for sid, s in submissions.items()
        if s["workflow_state"] not in ("graded", "submitted", "unsubmitted", "pending_review")
    }
    assert unknown == set(faults["unknown_workflow_state"]) and len(unknown) == 2
    assert {submissions[sid]["workflow_state"] for sid in unknown} == {"needs_review_legacy"}


def test_simulate_seeded_faults_survive_follow_ups(series):
    faults = _manifest(series / "batch-0001")["seeded_faults"]
    first = _latest(series, 2, "submissions")
    latest = _latest(series, 4, "submissions")
    for sid in faults["score_out_of_range"] + faults["unknown_workflow_state"]:
        assert latest[sid] == first[sid]


def test_simulate_refuses_an_existing_first_batch(tmp_path):
    simulate(tmp_path, **SMALL)
    with pytest.raises(SimulateError, match="already exists"):
        simulate(tmp_path, **SMALL)


def test_simulate_follow_up_needs_a_first_batch(tmp_path):
    with pytest.raises(SimulateError, match="batch-0001"):
        simulate(tmp_path, follow_up=True)


def test_simulate_rejects_bad_arguments(tmp_path):
    with pytest.raises(SimulateError, match="students"):
        simulate(tmp_path, students=0)
    with pytest.raises(SimulateError, match="negative"):
        simulate(tmp_path, submissions=-1)
    simulate(tmp_path, **SMALL)
    with pytest.raises(SimulateError, match="first batch"):
        simulate(tmp_path, follow_up=True, submissions=10)


@pytest.mark.parametrize("number", [2, 3])
def test_simulate_follow_up_categories_match_the_files(series, number):
    batch = series / f"batch-{number:04d}"
    manifest = _manifest(batch)
    assert manifest["batch"] == batch.name
    for entity in ENTITIES:
        categories = _category_ids(manifest["categories"][entity])
        assert categories["new"] and categories["changed"] and categories["unchanged"], entity
        lines = _lines(batch, entity)
        assert len(lines) == manifest["line_counts"][f"canvas_{entity}.jsonl"]
        valid = {}
        for line in lines:
            record = _loaded(line, entity)
            if record is not None:
                valid[record["id"]] = line
        listed = [rid for ids in categories.values() for rid in ids]
        assert len(listed) == len(set(listed)) == len(valid)
        assert set(listed) == set(valid)
        earlier = _latest(series, number, entity)
        for rid in categories["new"]:
            assert rid not in earlier
        for rid in categories["unchanged"]:
            assert valid[rid] == earlier[rid]
        for rid in categories["changed"]:
            assert orjson.loads(valid[rid]) != orjson.loads(earlier[rid])


@pytest.mark.parametrize("number", [2, 3])
def test_simulate_follow_up_boundary_records_sit_on_the_previous_max(series, number):
    batch = series / f"batch-{number:04d}"
    manifest = _manifest(batch)
    for entity in ("enrollments", "assignments"):
        earlier = _latest(series, number, entity)
        previous_max = max(
            (orjson.loads(line)["updated_at"] for line in earlier.values()),
            key=lambda value: _ts(value),
        )
        categories = manifest["categories"][entity]
        boundary = categories["boundary"]
        assert boundary["updated_at"] == previous_max
        records = {r["id"]: r for r in _records(batch, entity)}
        assert len(boundary["ids"]) == 2
        assert {rid in earlier for rid in boundary["ids"]} == {True, False}  # changed + new
        for rid in boundary["ids"]:
            assert records[rid]["updated_at"] == previous_max
            if rid in earlier:
                assert records[rid] != orjson.loads(earlier[rid])
        for rid in categories["new"] + categories["changed"]:
            assert _ts(records[rid]["updated_at"]) > _ts(previous_max)


def test_simulate_late_arriving_user_comes_one_batch_later(series):
    second, third = (_manifest(series / f"batch-000{n}") for n in (2, 3))
    late = second["late_arriving"]
    (user_id,) = late["user_ids"]
    assert late["submission_ids"] and late["enrollment_ids"]
    assert user_id not in _latest(series, 3, "users")
    submissions = {r["id"]: r for r in _records(series / "batch-0002", "submissions")}
    enrollments = {r["id"]: r for r in _records(series / "batch-0002", "enrollments")}
    assert {submissions[sid]["user_id"] for sid in late["submission_ids"]} == {user_id}
    assert {enrollments[eid]["user_id"] for eid in late["enrollment_ids"]} == {user_id}
    assert set(late["submission_ids"]) <= set(second["categories"]["submissions"]["new"])

    assert third["late_arriving"]["delivered_user_ids"] == [user_id]
    assert user_id in third["categories"]["users"]["new"]
    delivered = [r for r in _records(series / "batch-0003", "users") if r["id"] == user_id]
    assert delivered == second["pending_users"]


@pytest.mark.parametrize("number", [2, 3])
def test_simulate_bad_lines_sit_at_the_manifest_line_numbers(series, number):
    batch = series / f"batch-{number:04d}"
    bad = _manifest(batch)["bad_lines"]
    assert sorted(b["reason_kind"] for b in bad) == [
        "malformed_json", "missing_id", "not_an_object", "unparsable_timestamp",
    ]
    expected = {(b["file"], b["line_number"]): b["reason_kind"] for b in bad}
    for entity in ENTITIES:
        file_name = f"canvas_{entity}.jsonl"
        for number_1, line in enumerate(_lines(batch, entity), start=1):
            kind = expected.get((file_name, number_1))
            if kind is None:
                assert _loaded(line, entity) is not None, (file_name, number_1)
                continue
            assert _loaded(line, entity) is None
            if kind == "malformed_json":
                with pytest.raises(orjson.JSONDecodeError):
                    orjson.loads(line)
            elif kind == "not_an_object":
                assert not isinstance(orjson.loads(line), dict)
            elif kind == "missing_id":
                assert "id" not in orjson.loads(line)
            else:
                assert orjson.loads(line)["updated_at"] == "not-a-date"


def test_simulate_follow_up_without_bad_lines(tmp_path):
    simulate(tmp_path, **SMALL)
    manifest = simulate(tmp_path, follow_up=True, bad_lines=False)
    assert manifest["bad_lines"] == []
    for entity in ENTITIES:
        assert all(_loaded(line, entity) for line in _lines(tmp_path / "batch-0002", entity))


def test_simulate_exact_submission_count_below_the_natural_one(tmp_path):
    manifest = simulate(tmp_path, submissions=10, **SMALL)
    assert manifest["line_counts"]["canvas_submissions.jsonl"] == 10
    assert len(_lines(tmp_path / "batch-0001", "submissions")) == 10


def test_simulate_streams_submissions_in_constant_memory(tmp_path):
    tracemalloc.start()
    try:
        simulate(tmp_path, submissions=200_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024


def test_simulate_writes_an_exact_large_submission_count_quickly(tmp_path):
    reported = []
    started = time.perf_counter()
    manifest = simulate(tmp_path, submissions=200_000, progress=reported.append)
    elapsed = time.perf_counter() - started
    assert 200_000 / elapsed > 25_000  # lines/s; ~200k on an idle machine, slack for CI

    batch = tmp_path / "batch-0001"
    counts = manifest["line_counts"]
    assert counts["canvas_submissions.jsonl"] == 200_000
    assert sum(reported) == sum(counts.values())
    users = {r["id"] for r in _records(batch, "users")}
    assignments = {r["id"] for r in _records(batch, "assignments")}
    previous_id = 0
    with (batch / "canvas_submissions.jsonl").open("rb") as handle:
        for line in handle:
            record = orjson.loads(line)
            assert record["id"] > previous_id
            assert record["user_id"] in users and record["assignment_id"] in assignments
            previous_id = record["id"]
    assert manifest["next_ids"]["submissions"] == previous_id + 1
