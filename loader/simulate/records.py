"""Canvas users, courses, enrollments and assignments as the REST API shows them, and edits."""

from __future__ import annotations

import random
from datetime import timedelta

from .calendar import (
    DAY,
    DEFAULT_ZONE,
    HOUR,
    TERM_END,
    TERM_ID,
    TERM_JSON,
    TERM_START,
    ZONES,
    Zone,
    between,
    iso_z,
)
from .vocabulary import (
    ASSIGNMENT_KINDS,
    DEFAULT_VIEWS,
    FIRST_NAMES,
    HOST,
    INSTRUCTIONS,
    LAST_NAMES,
    LICENSES,
    LOCALES,
    ROLE_IDS,
    SUBJECTS,
    letter,
    token,
    unique_login,
)


def make_user(
    rng: random.Random,
    uid: int,
    first: str,
    last: str,
    login_id: str,
    *,
    sis_user_id: str | None,
    has_email: bool,
    now_t: int,
) -> dict:
    name = f"{first} {last}"
    record: dict = {
        "id": uid,
        "name": name,
        "sortable_name": f"{last}, {first}",
        "first_name": first,
        "last_name": last,
        "short_name": first if rng.random() < 0.15 else name,
    }
    if sis_user_id is not None:
        record["sis_user_id"] = sis_user_id
    record["integration_id"] = None
    record["login_id"] = login_id
    if has_email:
        record["email"] = login_id
    if rng.random() < 0.3:
        record["avatar_url"] = f"{HOST}/images/thumbnails/{uid}/{token(rng, 24)}"
    else:
        record["avatar_url"] = f"{HOST}/images/messages/avatar-50.png"
    record["locale"] = rng.choice(LOCALES)
    if rng.random() < 0.9:
        record["last_login"] = iso_z(now_t - int(rng.random() * 14 * DAY))
    return record


def new_user(
    rng: random.Random,
    uid: int,
    used_logins: set[str],
    now_t: int,
    sis_user_id: str | None,
    has_email: bool = True,
) -> dict:
    """A user with a random name and a login made from it (``used_logins``: local parts)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return make_user(
        rng, uid, first, last, unique_login(first, last, used_logins),
        sis_user_id=sis_user_id, has_email=has_email, now_t=now_t,
    )


def make_course(rng: random.Random, cid: int, index: int, zone: Zone, created_t: int) -> dict:
    subject, title = SUBJECTS[index % len(SUBJECTS)]
    code = f"{subject}-{101 + 100 * (index // len(SUBJECTS))}"
    return {
        "id": cid,
        "name": f"{code}: {title}",
        "course_code": code,
        "workflow_state": "unpublished" if rng.random() < 0.1 else "available",
        "account_id": 10 + index % len(SUBJECTS),
        "root_account_id": 1,
        "enrollment_term_id": TERM_ID,
        "uuid": token(rng, 40),
        "sis_course_id": f"{code}-FA26",
        "integration_id": None,
        "start_at": zone.format(zone.wall_to_t(TERM_START, 0, 0)),
        "end_at": zone.format(zone.wall_to_t(TERM_END, 23, 59, 59)),
        "created_at": iso_z(created_t),
        "time_zone": zone.name,
        "default_view": rng.choice(DEFAULT_VIEWS),
        "is_public": rng.random() < 0.2,
        "license": rng.choice(LICENSES),
        "term": dict(TERM_JSON),
    }


def _zone_of(course: dict) -> Zone:
    return ZONES.get(course.get("time_zone"), DEFAULT_ZONE)


def enrollment_state(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.9:
        return "active"
    if r < 0.95:
        return "invited"
    return "inactive" if r < 0.98 else "deleted"


def _student_grades(rng: random.Random) -> dict:
    current = round(55 + 45 * rng.random(), 2)
    final = round(current * (0.55 + 0.35 * rng.random()), 2)  # ungraded work counts as 0
    return {
        "current_score": current,
        "final_score": final,
        "current_grade": letter(current),
        "final_grade": letter(final),
    }


def make_enrollment(
    rng: random.Random,
    eid: int,
    user: dict,
    course: dict,
    etype: str,
    *,
    state: str,
    created_t: int,
    updated_t: int,
    now_t: int,
) -> dict:
    cid, uid = course["id"], user["id"]
    active = state == "active"
    grades = {"html_url": f"{HOST}/courses/{cid}/grades/{uid}"}
    if etype == "StudentEnrollment" and state != "invited":
        grades |= _student_grades(rng)
    else:
        grades |= dict.fromkeys(("current_score", "final_score", "current_grade", "final_grade"))
    return {
        "id": eid,
        "course_id": cid,
        "sis_course_id": course.get("sis_course_id"),
        "course_section_id": cid + 1000,
        "user_id": uid,
        "sis_user_id": user.get("sis_user_id"),
        "type": etype,
        "role": etype,
        "role_id": ROLE_IDS[etype],
        "enrollment_state": state,
        "created_at": iso_z(created_t),
        "updated_at": iso_z(updated_t),
        "start_at": None,
        "end_at": None,
        "last_activity_at": (
            iso_z(max(created_t, now_t - int(rng.random() * 7 * DAY))) if active else None
        ),
        "total_activity_time": 600 + int(rng.random() * 90 * HOUR) if active else 0,
        "html_url": f"{HOST}/courses/{cid}/users/{uid}",
        "grades": grades,
        "user": {
            "id": uid,
            "name": user["name"],
            "sortable_name": user["sortable_name"],
            "short_name": user["short_name"],
        },
    }


def make_assignment(
    rng: random.Random,
    aid: int,
    course: dict,
    position: int,
    slots: int,
    *,
    created_t: int,
    now_t: int,
) -> dict:
    """Assignment ``position`` of a course whose term is split into ``slots`` due dates."""
    cid, zone = course["id"], _zone_of(course)
    kind_index = (cid + position) % len(ASSIGNMENT_KINDS)
    label, submission_types, grading_type, points = ASSIGNMENT_KINDS[kind_index]
    name = f"{label} {(position - 1) // len(ASSIGNMENT_KINDS) + 1}"
    term_days = (TERM_END - TERM_START).days
    due_day = TERM_START + timedelta(days=round(position * term_days / slots))
    due_t = zone.wall_to_t(due_day, 23, 59)
    updated_t = between(rng, created_t, max(created_t, min(now_t, due_t)))
    state = "unpublished" if due_t > now_t and rng.random() < 0.15 else "published"
    return {
        "id": aid,
        "name": name,
        "description": (
            f"<p>{name} for {course['course_code']}. {rng.choice(INSTRUCTIONS)}</p>"
        ),
        "course_id": cid,
        "created_at": iso_z(created_t),
        "updated_at": iso_z(updated_t),
        "due_at": zone.format(due_t),
        "lock_at": iso_z(due_t + 3 * DAY) if rng.random() < 0.5 else None,
        "unlock_at": iso_z(due_t - 14 * DAY) if rng.random() < 0.5 else None,
        "points_possible": rng.choice(points),
        "grading_type": grading_type,
        "submission_types": list(submission_types),
        "workflow_state": state,
        "published": state == "published",
        "position": position,
        "assignment_group_id": cid * 10 + 1 + kind_index % 4,
        "html_url": f"{HOST}/courses/{cid}/assignments/{aid}",
        "omit_from_final_grade": rng.random() < 0.05,
    }


def touch_enrollment(rng: random.Random, record: dict, t: int, updated_at: str) -> dict:
    """Activity and grade changes that Canvas stamps with a new ``updated_at``."""
    record = dict(record)
    record["updated_at"] = updated_at
    if record.get("enrollment_state") == "invited":
        record["enrollment_state"] = "active"
    record["last_activity_at"] = iso_z(t - int(rng.random() * DAY))
    record["total_activity_time"] = (
        (record.get("total_activity_time") or 0) + 60 + int(rng.random() * 5 * HOUR)
    )
    grades = dict(record.get("grades") or {})
    if isinstance(grades.get("current_score"), (int, float)):
        current = round(min(100.0, max(0.0, grades["current_score"] + rng.uniform(-3, 3))), 2)
        grades.update(current_score=current, current_grade=letter(current))
        record["grades"] = grades
    return record


def edit_assignment(record: dict, t: int, updated_at: str) -> dict:
    """A teacher's edit: the description gains a note (so the content always differs)."""
    record = dict(record)
    record["updated_at"] = updated_at
    record["description"] = (
        f"{record.get('description') or ''}<p>Updated {iso_z(t)[:10]}: rubric clarified.</p>"
    )
    if record.get("workflow_state") == "unpublished":
        record["workflow_state"], record["published"] = "published", True
    return record
