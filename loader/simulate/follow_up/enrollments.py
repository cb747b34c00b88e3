"""A follow-up's enrollments: new, changed, unchanged, watermark-boundary and one bad line."""

from __future__ import annotations

import orjson

from ..calendar import between, iso_z, parse_ts
from ..records import make_enrollment, touch_enrollment
from .state import FollowUpBatch, share


def add_enrollments(batch: FollowUpBatch) -> None:
    _add_new_enrollments(batch)
    out, enrollments = batch.out["enrollments"], batch.data["enrollments"]
    n = len(enrollments)
    changed, at_boundary, unchanged = batch.pick(
        enrollments, share(n, 0.03, 3, 100), 1, share(n, 0.02, 2, 50)
    )
    for eid in changed:
        t = batch.moment()
        out.add("changed", touch_enrollment(batch.rng, enrollments[eid], t, iso_z(t)))
    batch.resend("enrollments", unchanged)
    boundary = batch.boundary("enrollments")
    if boundary is not None:
        raw, boundary_t = boundary
        for eid in at_boundary:
            out.add("boundary", touch_enrollment(batch.rng, enrollments[eid], boundary_t, raw))
        out.add("boundary", _boundary_ta_enrollment(batch, raw, boundary_t))
    if batch.bad_lines:
        _add_bad_enrollment(batch)


def _add_new_enrollments(batch: FollowUpBatch) -> None:
    """A teacher for the new course; the new students in it and in one more course; the
    withheld late-arriving user in a course (their enrollment is delivered now)."""
    users = batch.data["users"]
    teacher = users[batch.rng.choice(batch.users_of("TeacherEnrollment"))]
    _enroll(batch, teacher, batch.new_course, "TeacherEnrollment")
    for student in batch.new_students:
        _enroll(batch, student, batch.new_course, "StudentEnrollment")
        _enroll(batch, student, batch.random_course(), "StudentEnrollment")
    for user in batch.pending_users:
        enrollment = _enroll(batch, user, batch.random_course(), "StudentEnrollment")
        batch.late["enrollment_ids"].append(enrollment["id"])


def _enroll(batch: FollowUpBatch, user: dict, course: dict, etype: str) -> dict:
    created_t = batch.moment(parse_ts(course.get("created_at")))
    record = make_enrollment(
        batch.rng, batch.ids.take("enrollments"), user, course, etype, state="active",
        created_t=created_t, updated_t=between(batch.rng, created_t, batch.t1), now_t=batch.t1,
    )
    batch.out["enrollments"].add("new", record)
    batch.new_enrollments.append(record)
    return record


def _boundary_ta_enrollment(batch: FollowUpBatch, raw: str, boundary_t: int) -> dict:
    """A TA added exactly at the previous watermark: new id, boundary ``updated_at``.

    Prefers a teacher in an existing course they are not in; falls back to
    students and to the new course, which nobody existing is enrolled in yet.
    """
    users, courses = batch.data["users"], batch.data["courses"]
    enrolled = {(e["user_id"], e["course_id"]) for e in batch.data["enrollments"].values()}
    teachers = [uid for uid in batch.users_of("TeacherEnrollment") if uid in users]

    def free_pairs(people: list[int]) -> list[tuple[int, int]]:
        return [(u, c) for u in people for c in sorted(courses) if (u, c) not in enrolled]

    candidates = free_pairs(teachers) or free_pairs(sorted(users))
    if candidates:
        uid, cid = batch.rng.choice(candidates)
        course = courses[cid]
    else:
        uid, course = batch.rng.choice(sorted(users)), batch.new_course
    record = make_enrollment(
        batch.rng, batch.ids.take("enrollments"), users[uid], course, "TaEnrollment",
        state="active", created_t=boundary_t, updated_t=boundary_t, now_t=boundary_t,
    )
    record.update(created_at=raw, updated_at=raw)
    return record


def _add_bad_enrollment(batch: FollowUpBatch) -> None:
    """An enrollment whose ``updated_at`` does not parse: a line a loader must reject."""
    users = batch.data["users"]
    user = users[batch.rng.choice(sorted(users))]
    record = make_enrollment(
        batch.rng, batch.ids.take("enrollments"), user, batch.random_course(),
        "StudentEnrollment",
        state="active", created_t=batch.t1, updated_t=batch.t1, now_t=batch.t1,
    )
    record["updated_at"] = "not-a-date"
    batch.out["enrollments"].bad.append(("unparsable_timestamp", orjson.dumps(record)))
