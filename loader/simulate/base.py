"""Batch 1: the base world and its streamed submissions, with the seeded data-quality faults."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from .cd2 import convert_batch
from .calendar import BASE_T, DAY, ZONE_CHOICES, ZONES, between, extract_time, iso_z, parse_ts
from .entities import FIRST_IDS, Ids
from .records import enrollment_state, make_assignment, make_course, make_enrollment, new_user
from .submissions import AssignmentCtx, contexts_by_course, grade_text, make_submission
from .writer import (
    JsonlWriter,
    ProgressCallback,
    batch_name,
    file_name,
    write_batch,
    write_records,
)


@dataclass
class _BaseWorld:
    users: list[dict]
    courses: list[dict]
    enrollments: list[dict]
    assignments: list[dict]
    faults: dict


def _base_users(
    rng: random.Random, ids: Ids, n_students: int, n_teachers: int, now_t: int
) -> tuple[list[dict], list[int], dict]:
    teacher_ids = [ids.take("users") for _ in range(n_teachers)]
    student_ids = [ids.take("users") for _ in range(n_students)]
    no_email = sorted(rng.sample(student_ids, min(3, n_students)))
    conflict = sorted(rng.sample(student_ids, 2)) if n_students >= 2 else []
    others = [uid for uid in student_ids if uid not in conflict]
    no_sis = set(rng.sample(others, len(others) // 50))
    sis = {uid: f"SIS{uid:06d}" for uid in teacher_ids + student_ids if uid not in no_sis}
    if conflict:
        sis[conflict[1]] = sis[conflict[0]]
    used_logins: set[str] = set()
    users = [
        new_user(rng, uid, used_logins, now_t, sis.get(uid), has_email=uid not in no_email)
        for uid in teacher_ids + student_ids
    ]
    faults = {
        "students_without_email": no_email,
        "sis_conflict": {sis[conflict[0]]: conflict} if conflict else {},
    }
    return users, teacher_ids, faults


def _base_enrollments(
    rng: random.Random,
    ids: Ids,
    users: list[dict],
    teacher_ids: list[int],
    courses: list[dict],
    now_t: int,
) -> list[dict]:
    by_id = {user["id"]: user for user in users}
    enrollments = []

    def add(user: dict, course: dict, etype: str, state: str) -> None:
        created_t = BASE_T - int(rng.uniform(3, 30) * DAY)
        enrollments.append(
            make_enrollment(
                rng, ids.take("enrollments"), user, course, etype, state=state,
                created_t=created_t, updated_t=between(rng, created_t, now_t), now_t=now_t,
            )
        )

    for index, course in enumerate(courses):
        add(by_id[teacher_ids[index % len(teacher_ids)]], course, "TeacherEnrollment", "active")
    for user in users[len(teacher_ids):]:
        k = min(len(courses), rng.choice((1, 2, 2, 3, 3, 4)))
        for course in sorted(rng.sample(courses, k), key=lambda c: c["id"]):
            add(user, course, "StudentEnrollment", enrollment_state(rng))
    return enrollments


def _build_base_world(
    rng: random.Random, ids: Ids, n_students: int, n_courses: int, per_course: int, now_t: int
) -> _BaseWorld:
    n_teachers = max(1, (n_courses + 2) // 3)
    users, teacher_ids, faults = _base_users(rng, ids, n_students, n_teachers, now_t)
    courses = []
    for index in range(n_courses):
        zone = ZONES[rng.choice(ZONE_CHOICES)]
        created_t = BASE_T - int(rng.uniform(20, 90) * DAY)
        courses.append(make_course(rng, ids.take("courses"), index, zone, created_t))
    enrollments = _base_enrollments(rng, ids, users, teacher_ids, courses, now_t)
    assignments = [
        make_assignment(
            rng, ids.take("assignments"), course, position, per_course + 1,
            created_t=parse_ts(course["created_at"]) + int(rng.uniform(1, 15) * DAY),
            now_t=now_t,
        )
        for course in courses
        for position in range(1, per_course + 1)
    ]
    null_points = sorted(
        rng.sample([a["id"] for a in assignments], 1 if len(assignments) < 8 else 2)
    )
    for assignment in assignments:
        if assignment["id"] in null_points:
            assignment["points_possible"] = None
    faults["null_points_possible"] = null_points
    return _BaseWorld(users, courses, enrollments, assignments, faults)


def _pick_submission_faults(
    rng: random.Random, slots: list[tuple[int, AssignmentCtx]], total: int
) -> dict[int, str]:
    """Line indexes (among the first natural ones) that get a seeded submission fault."""
    scope = range(min(total, len(slots)))
    scorable = [i for i in scope if slots[i][1].points is not None]
    out_of_range = rng.sample(scorable, min(3, len(scorable)))
    taken = set(out_of_range)
    rest = [i for i in scope if i not in taken]
    unknown = rng.sample(rest, min(2, len(rest)))
    return {i: "score_out_of_range" for i in out_of_range} | {
        i: "unknown_workflow_state" for i in unknown
    }


def _seed_fault(record: dict, ctx: AssignmentCtx, fault: str) -> None:
    if fault == "score_out_of_range":  # only picked for graded ones with points_possible
        score = ctx.points + max(1.0, round(ctx.points * 0.2))
        grade = grade_text(ctx.grading_type, score, ctx.points)
        record.update(grade=grade, score=score, entered_score=score, entered_grade=grade)
    else:
        record["workflow_state"] = "needs_review_legacy"


def _stream_submissions(
    path: Path,
    rng: random.Random,
    slots: list[tuple[int, AssignmentCtx]],
    total: int,
    first_id: int,
    faults: dict[int, str],
    now_t: int,
    progress: ProgressCallback | None,
) -> dict[str, list[int]]:
    """Write ``total`` submissions cycling over the (user, assignment) slots.

    Past the natural count the slots are reused with new ids. Returns the ids of the
    seeded faults by kind.
    """
    seeded: dict[str, list[int]] = {"score_out_of_range": [], "unknown_workflow_state": []}
    n_slots = len(slots)
    with JsonlWriter(path, progress) as out:
        write = out.record
        for index in range(total):
            uid, ctx = slots[index % n_slots]
            sid = first_id + index
            fault = faults.get(index)
            record = make_submission(
                rng, ctx, sid, uid, now_t, force_graded=fault == "score_out_of_range"
            )
            if fault:
                _seed_fault(record, ctx, fault)
                seeded[fault].append(sid)
            write(record)
    return seeded


def simulate_base(
    out_dir: Path,
    seed: int,
    n_students: int,
    n_courses: int,
    per_course: int,
    submissions: int | None,
    progress: ProgressCallback | None,
    shape: str = "rest",
) -> dict:
    """Write ``batch-0001`` under ``out_dir`` (REST or CD2 ``shape``); return its manifest."""
    rng = random.Random(seed)
    now_t = extract_time(1)
    ids = Ids(FIRST_IDS)
    world = _build_base_world(rng, ids, n_students, n_courses, per_course, now_t)
    users = {user["id"]: user for user in world.users}
    by_course = contexts_by_course(world.assignments, world.enrollments, users)
    slots = [
        (enrollment["user_id"], ctx)
        for enrollment in world.enrollments
        if enrollment["type"] == "StudentEnrollment"
        for ctx in by_course.get(enrollment["course_id"], ())
    ]
    total = len(slots) if submissions is None else submissions
    faults = _pick_submission_faults(rng, slots, total)
    first_submission_id = ids.take("submissions")
    ids.next["submissions"] = first_submission_id + total

    def write(tmp: Path) -> dict:
        line_counts = {}
        for entity in ("users", "courses", "enrollments", "assignments"):
            line_counts[file_name(entity)] = write_records(
                tmp / file_name(entity), getattr(world, entity), progress
            )
        seeded = _stream_submissions(
            tmp / file_name("submissions"), rng, slots, total,
            first_submission_id, faults, now_t, progress,
        )
        line_counts[file_name("submissions")] = total
        return {
            "batch": batch_name(1),
            "seed": seed,
            "extracted_at": iso_z(now_t),
            "parameters": {
                "students": n_students,
                "courses": n_courses,
                "assignments_per_course": per_course,
                "submissions": submissions,
            },
            "line_counts": line_counts,
            "next_ids": ids.next,
            "seeded_faults": world.faults | seeded,
            "bad_lines": [],
            "pending_users": [],
        }

    out_dir.mkdir(parents=True, exist_ok=True)
    return write_batch(out_dir, batch_name(1), write, _finisher(shape, progress))


def _finisher(shape: str, progress: ProgressCallback | None):
    """write_batch's finish step for the shape: CD2 rewrites the REST files."""
    if shape != "cd2":
        return None
    return lambda tmp, manifest: convert_batch(tmp, manifest, {}, progress)
