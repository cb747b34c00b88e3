"""Simulate Canvas LMS REST API exports as JSONL batches.

``simulate(DIR)`` writes ``DIR/batch-0001/canvas_<entity>.jsonl`` for users, courses,
enrollments, assignments and submissions, shaped like the Canvas REST API v1 objects
(the ``@model`` fields; only enrollments and assignments carry ``updated_at``), plus a
``manifest.json``. ``simulate(DIR, follow_up=True)`` writes the next batch against what
is already there: new, changed, unchanged (re-sent byte-identical) and
watermark-boundary records, a late-arriving user, and a few bad lines.

Everything is a function of the seed and the batch number: a fixed simulated
calendar (term from 2026-08-24, batch 1 exported 2026-10-19T06:00:00Z, one batch a
week after that) replaces the wall clock, and all randomness comes from
``random.Random``. Submissions, the only big file, are streamed in chunks, so
``submissions=10_000_000`` runs in constant memory.

The manifest (also the return value), for tests and demos to check against:

- every batch: ``batch``, ``seed``, ``extracted_at``, ``line_counts`` (per file name,
  bad lines included), ``next_ids`` (the next free id per entity), ``bad_lines``
  (``{file, line_number, reason_kind}``, 1-based; kinds ``malformed_json``,
  ``not_an_object``, ``missing_id``, ``unparsable_timestamp``), ``pending_users`` (full
  user records withheld from this batch, written by the next follow-up);
- batch 1: ``parameters`` and ``seeded_faults``: ``students_without_email``,
  ``sis_conflict`` (``{sis_user_id: [user ids]}``), ``score_out_of_range``,
  ``unknown_workflow_state`` (submission ids), ``null_points_possible`` (assignment ids);
- follow-ups: ``previous_extracted_at``; ``categories.<entity>`` with the ids that are
  ``new``, ``changed`` and ``unchanged`` and, for enrollments and assignments,
  ``boundary: {updated_at, ids}`` (one changed and one new record stamped with the
  earlier batches' max ``updated_at``); together they cover every valid line of the
  file exactly once. ``late_arriving``: ``user_ids`` (withheld now), their
  ``enrollment_ids`` and ``submission_ids`` (all in ``new``), and
  ``delivered_user_ids`` (the previous batch's withheld users, in ``users.new``).
"""

from __future__ import annotations

import functools
import random
import shutil
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import orjson

ENTITIES = ("users", "courses", "enrollments", "assignments", "submissions")
UPDATED_AT_ENTITIES = ("enrollments", "assignments")
MANIFEST_NAME = "manifest.json"

HOST = "https://canvas.example.edu"
EMAIL_DOMAIN = "example.edu"

MINUTE, HOUR, DAY = 60, 3600, 86400
TERM_ID, TERM_NAME = 3, "Fall 2026"
TERM_START, TERM_END = date(2026, 8, 24), date(2026, 12, 18)
FIRST_EXTRACT_DELAY = 56 * DAY + 6 * HOUR  # batch 1 is exported in week 9 of the term
BATCH_INTERVAL = 7 * DAY

FIRST_IDS = {
    "users": 1001,
    "courses": 101,
    "enrollments": 10001,
    "assignments": 5001,
    "submissions": 100001,
}
CHUNK_LINES = 4096
# A follow-up keeps at most this many submission lines per earlier file in memory
# (the first ones); the much smaller follow-up files are always read whole.
SUBMISSION_SCAN_LIMIT = 50_000

ProgressCallback = Callable[[int], None]


class SimulateError(Exception):
    """The simulator refuses the request (bad arguments or the directory's state)."""


# ---------------------------------------------------------------- calendar


def _epoch(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=timezone.utc)
    return int(moment.timestamp())


BASE_T = _epoch(TERM_START)


def _extract_time(batch_number: int) -> int:
    """The simulated export time of a batch: nothing in it happens later."""
    return BASE_T + FIRST_EXTRACT_DELAY + (batch_number - 1) * BATCH_INTERVAL


_MINUTES_SECONDS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))


@functools.cache
def _hour_prefix(hour_number: int) -> str:
    day_number, hour = divmod(hour_number, 24)
    return f"{(date(1970, 1, 1) + timedelta(days=day_number)).isoformat()}T{hour:02d}:"


def _wall(t: int) -> str:
    """Format epoch seconds as ``YYYY-MM-DDTHH:MM:SS``: a cached hour plus a table lookup.

    Several times faster than strftime, which matters at millions of timestamps.
    """
    hour_number, rest = divmod(t, HOUR)
    return _hour_prefix(hour_number) + _MINUTES_SECONDS[rest]


def _z(t: int) -> str:
    return _wall(t) + "Z"


def _parse_ts(value: object) -> int | None:
    """Epoch seconds of an ISO-8601 string (naive means UTC), None if unparsable."""
    if not isinstance(value, str):
        return None
    if value.endswith("Z"):  # fromisoformat reads "Z" only from Python 3.11 on
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


@dataclass(frozen=True)
class _Zone:
    """A course time zone reduced to its two UTC offsets around the term's DST change.

    Hard-coded for the simulated 2026 term, so output never depends on tzdata.
    """

    name: str
    summer: int  # minutes east of UTC before dst_end_t
    winter: int
    dst_end_t: int

    def offset(self, t: int) -> int:
        return self.summer if t < self.dst_end_t else self.winter

    def format(self, t: int) -> str:
        """``t`` as local wall time with a numeric offset, e.g. ``...T23:59:00-05:00``."""
        offset = self.offset(t)
        hours, minutes = divmod(abs(offset), 60)
        sign = "-" if offset < 0 else "+"
        return f"{_wall(t + offset * MINUTE)}{sign}{hours:02d}:{minutes:02d}"

    def wall_to_t(self, day: date, hour: int, minute: int, second: int = 0) -> int:
        naive = _epoch(day, hour, minute, second)
        t = naive - self.summer * MINUTE
        return t if t < self.dst_end_t else naive - self.winter * MINUTE


_ZONES = {
    zone.name: zone
    for zone in (
        _Zone("America/Chicago", -300, -360, _epoch(date(2026, 11, 1), 7)),
        _Zone("America/Denver", -360, -420, _epoch(date(2026, 11, 1), 8)),
        _Zone("America/New_York", -240, -300, _epoch(date(2026, 11, 1), 6)),
        _Zone("Europe/Berlin", 120, 60, _epoch(date(2026, 10, 25), 1)),
        _Zone("Asia/Kolkata", 330, 330, 0),
    )
}
# Weighted: most courses follow the institution's own zone.
_ZONE_CHOICES = ("America/Chicago",) * 4 + tuple(_ZONES)[1:]
_DEFAULT_ZONE = _ZONES["America/Chicago"]

_TERM_JSON = {
    "id": TERM_ID,
    "name": TERM_NAME,
    "start_at": _z(BASE_T),
    "end_at": _z(_epoch(TERM_END, 23, 59, 59)),
}


# ---------------------------------------------------------------- vocabulary

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofía", "Ethan", "Amara", "Lucas",
    "Chloé", "Wei", "Priya", "Omar", "Zoë", "José", "Hannah", "Kwame", "Mia", "Diego",
    "Aisha", "Jonas", "Siobhán", "Hiroshi", "Isabella", "Renée", "Tariq", "Grace",
    "Mohammed", "Elena", "Caleb", "Ananya", "Felix", "Nadia", "Samuel", "Yuki", "Leah",
    "Andrés", "Fatima", "Owen",
)
LAST_NAMES = (
    "García", "Smith", "Nguyễn", "Johnson", "Müller", "Patel", "O'Brien", "Kim", "Williams",
    "Okafor", "Rossi", "Brown", "Dubois", "Silva", "Andersson", "Kowalski", "Martínez",
    "Chen", "Jones", "Haddad", "Van der Berg", "Schmidt", "Ivanova", "Mensah", "Taylor",
    "Novak", "Yamamoto", "López", "Davies", "Cohen", "Singh", "Moreau", "Hernández",
    "Wilson", "Nakamura", "Fischer", "Osei", "Ramírez", "Murphy", "Lee",
)
LOCALES = ("en",) * 6 + ("es", "de", "zh-Hans", None)
SUBJECTS = (
    ("BIO", "Introduction to Biology"),
    ("CHEM", "General Chemistry"),
    ("MATH", "Calculus I"),
    ("HIST", "World History since 1500"),
    ("ENG", "English Composition"),
    ("PHYS", "Physics for Engineers"),
    ("CS", "Introduction to Programming"),
    ("ECON", "Principles of Microeconomics"),
    ("PSY", "Introduction to Psychology"),
    ("STAT", "Applied Statistics"),
    ("SPAN", "Elementary Spanish"),
    ("ART", "Survey of Art History"),
)
DEFAULT_VIEWS = ("modules", "modules", "assignments", "syllabus", "feed", "wiki")
LICENSES = ("private", "private", "cc_by", "cc_by_sa", "public_domain")
# (label, submission_types, grading_type, points_possible choices)
ASSIGNMENT_KINDS = (
    ("Problem Set", ("online_upload",), "points", (10.0, 20.0, 25.0)),
    ("Quiz", ("online_quiz",), "points", (10.0, 15.0, 20.0)),
    ("Lab Report", ("online_upload", "online_text_entry"), "points", (25.0, 50.0)),
    ("Reading Response", ("online_text_entry",), "pass_fail", (5.0, 10.0)),
    ("Essay", ("online_upload",), "letter_grade", (100.0,)),
    ("Discussion Post", ("online_text_entry",), "percent", (10.0,)),
    ("Midterm Exam", ("on_paper",), "points", (100.0,)),
    ("Project Milestone", ("online_url", "online_upload"), "points", (50.0, 100.0)),
)
_ONLINE_TYPES = {
    "online_upload", "online_quiz", "online_text_entry", "online_url",
    "media_recording", "student_annotation",
}
INSTRUCTIONS = (
    "Show all of your work.",
    "Use at least two peer-reviewed sources.",
    "Submit a single PDF.",
    "Answer every question in complete sentences.",
)
BODY_TEXTS = (
    "<p>My analysis of the data set is below.</p>",
    "<p>There are three factors to consider here.</p>",
    "<p>I agree with the reading's main argument, with one caveat.</p>",
    "<p>See my answers to questions 1-4.</p>",
)
COMMENTS = (
    "Nice work, see the rubric for details.",
    "Please cite your sources next time.",
    "Good structure; the conclusion needs more evidence.",
    "Well argued.",
)
_LETTERS = (
    (93, "A"), (90, "A-"), (87, "B+"), (83, "B"), (80, "B-"), (77, "C+"),
    (73, "C"), (70, "C-"), (67, "D+"), (60, "D"),
)
_ROLE_IDS = {"StudentEnrollment": 3, "TeacherEnrollment": 4, "TaEnrollment": 5}
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _letter(percent: float) -> str:
    return next((letter for floor, letter in _LETTERS if percent >= floor), "F")


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _email_local(first: str, last: str, used: set[str]) -> str:
    """``first.last``, numbered on a clash, so login ids stay unique."""
    base = f"{_ascii_slug(first)}.{_ascii_slug(last)}"
    local, number = base, 1
    while local in used:
        number += 1
        local = f"{base}{number}"
    used.add(local)
    return local


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_TOKEN_ALPHABET, k=length))


def _between(rng: random.Random, start_t: int, end_t: int) -> int:
    """A whole second in ``(start_t, end_t]`` (``end_t`` when the range is empty)."""
    if end_t <= start_t:
        return end_t
    return start_t + 1 + int(rng.random() * (end_t - start_t))


# ---------------------------------------------------------------- records


def _make_user(
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
        record["avatar_url"] = f"{HOST}/images/thumbnails/{uid}/{_token(rng, 24)}"
    else:
        record["avatar_url"] = f"{HOST}/images/messages/avatar-50.png"
    record["locale"] = rng.choice(LOCALES)
    if rng.random() < 0.9:
        record["last_login"] = _z(now_t - int(rng.random() * 14 * DAY))
    return record


def _new_user(
    rng: random.Random, uid: int, used_logins: set[str], now_t: int, sis_user_id: str | None
) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    login_id = f"{_email_local(first, last, used_logins)}@{EMAIL_DOMAIN}"
    return _make_user(
        rng, uid, first, last, login_id, sis_user_id=sis_user_id, has_email=True, now_t=now_t
    )


def _make_course(rng: random.Random, cid: int, index: int, zone: _Zone, created_t: int) -> dict:
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
        "uuid": _token(rng, 40),
        "sis_course_id": f"{code}-FA26",
        "integration_id": None,
        "start_at": zone.format(zone.wall_to_t(TERM_START, 0, 0)),
        "end_at": zone.format(zone.wall_to_t(TERM_END, 23, 59, 59)),
        "created_at": _z(created_t),
        "time_zone": zone.name,
        "default_view": rng.choice(DEFAULT_VIEWS),
        "is_public": rng.random() < 0.2,
        "license": rng.choice(LICENSES),
        "term": dict(_TERM_JSON),
    }


def _zone_of(course: dict) -> _Zone:
    return _ZONES.get(course.get("time_zone"), _DEFAULT_ZONE)


def _enrollment_state(rng: random.Random) -> str:
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
        "current_grade": _letter(current),
        "final_grade": _letter(final),
    }


def _make_enrollment(
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
        "role_id": _ROLE_IDS[etype],
        "enrollment_state": state,
        "created_at": _z(created_t),
        "updated_at": _z(updated_t),
        "start_at": None,
        "end_at": None,
        "last_activity_at": (
            _z(max(created_t, now_t - int(rng.random() * 7 * DAY))) if active else None
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


def _make_assignment(
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
    updated_t = _between(rng, created_t, max(created_t, min(now_t, due_t)))
    state = "unpublished" if due_t > now_t and rng.random() < 0.15 else "published"
    return {
        "id": aid,
        "name": name,
        "description": (
            f"<p>{name} for {course['course_code']}. {rng.choice(INSTRUCTIONS)}</p>"
        ),
        "course_id": cid,
        "created_at": _z(created_t),
        "updated_at": _z(updated_t),
        "due_at": zone.format(due_t),
        "lock_at": _z(due_t + 3 * DAY) if rng.random() < 0.5 else None,
        "unlock_at": _z(due_t - 14 * DAY) if rng.random() < 0.5 else None,
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


@dataclass(frozen=True, slots=True)
class _AssignmentCtx:
    """What a submission needs to know about its assignment, precomputed once."""

    id: int
    points: float | None
    grading_type: str
    submission_type: str | None  # None: graded without an online submission (on paper)
    due_t: int
    due_z: str | None
    url_prefix: str
    grader_id: int | None
    grader_name: str | None


def _assignment_ctx(assignment: dict, grader: dict | None) -> _AssignmentCtx:
    cid, aid = assignment["course_id"], assignment["id"]
    due_t = _parse_ts(assignment.get("due_at"))
    types = [t for t in assignment.get("submission_types") or () if t in _ONLINE_TYPES]
    return _AssignmentCtx(
        id=aid,
        points=assignment.get("points_possible"),
        grading_type=assignment.get("grading_type") or "points",
        submission_type=types[0] if types else None,
        due_t=due_t if due_t is not None else _epoch(TERM_END, 23, 59),
        due_z=_z(due_t) if due_t is not None else None,
        url_prefix=f"{HOST}/courses/{cid}/assignments/{aid}/submissions/",
        grader_id=grader["id"] if grader else None,
        grader_name=grader["name"] if grader else None,
    )


def _grade_text(grading_type: str, score: float, points: float) -> str | None:
    percent = 100.0 * score / points
    if grading_type == "points":
        return f"{score:g}"
    if grading_type == "percent":
        return f"{round(percent, 2):g}%"
    if grading_type in ("letter_grade", "gpa_scale"):
        return _letter(percent)
    if grading_type == "pass_fail":
        return "complete" if percent >= 60 else "incomplete"
    return None


def _grade(rng: random.Random, ctx: _AssignmentCtx) -> tuple[float, str | None]:
    """A plausible (score, grade); an assignment without points is scored out of 100."""
    points = ctx.points or 100.0
    percent = 100.0 - 45.0 * rng.random() ** 1.5
    if ctx.grading_type == "pass_fail":
        score = points if percent >= 60 else 0.0
    else:
        score = round(points * percent / 50.0) / 2.0
    return score, _grade_text(ctx.grading_type, score, points)


def _make_submission(
    rng: random.Random,
    ctx: _AssignmentCtx,
    sid: int,
    uid: int,
    now_t: int,
    force_graded: bool = False,
) -> dict:
    """One submission as Canvas would show it at ``now_t``; the hot loop of big runs."""
    due_t = ctx.due_t
    past_due = due_t <= now_t
    r = rng.random()
    if force_graded:
        state = "graded"
    elif past_due:
        state = (
            "graded" if r < 0.72
            else "submitted" if r < 0.84
            else "pending_review" if r < 0.87
            else "unsubmitted"
        )
    else:
        state = "submitted" if r < 0.2 else "unsubmitted"
    submission_type = ctx.submission_type
    submitted_t = None
    if state != "unsubmitted":
        if submission_type is None:
            state = "graded"  # on paper: nothing is submitted online, it is only graded
        elif past_due and rng.random() < 0.1:
            submitted_t = min(due_t + MINUTE + int(rng.random() * 2 * DAY), now_t - MINUTE)
        else:
            submitted_t = min(due_t, now_t) - MINUTE - int(rng.random() * 4 * DAY)
    late = submitted_t is not None and submitted_t > due_t
    missing = past_due and state == "unsubmitted"
    score = grade = graded_at = grader_id = posted_at = deducted = None
    if state == "graded":
        score, grade = _grade(rng, ctx)
        graded_t = min((submitted_t or due_t) + HOUR + int(rng.random() * 6 * DAY), now_t)
        graded_at = _z(graded_t)
        grader_id = ctx.grader_id
        posted_at = graded_at if rng.random() < 0.9 else None
        if late:
            deducted = round((ctx.points or 100.0) * 0.05, 2)
    attempt = None if submitted_t is None else (2 if rng.random() < 0.05 else 1)
    url = f"{ctx.url_prefix}{uid}"
    record = {
        "id": sid,
        "assignment_id": ctx.id,
        "user_id": uid,
        "attempt": attempt,
        "body": (
            BODY_TEXTS[sid % len(BODY_TEXTS)]
            if submitted_t is not None and submission_type == "online_text_entry"
            else None
        ),
        "grade": grade,
        "score": score,
        "submission_type": submission_type if submitted_t is not None else None,
        "submitted_at": _z(submitted_t) if submitted_t is not None else None,
        "graded_at": graded_at,
        "grader_id": grader_id,
        "posted_at": posted_at,
        "workflow_state": state,
        "late": late,
        "missing": missing,
        "excused": False,
        "late_policy_status": "late" if late else "missing" if missing else None,
        "points_deducted": deducted,
        "seconds_late": (submitted_t - due_t) if late else (now_t - due_t) if missing else 0,
        "cached_due_date": ctx.due_z,
        "extra_attempts": None,
        "redo_request": False,
        "grade_matches_current_submission": True,
        "entered_score": score,
        "entered_grade": grade,
        "html_url": url,
        "preview_url": f"{url}?preview=1&version={attempt or 0}",
    }
    if graded_at is not None and rng.random() < 0.08:
        record["submission_comments"] = [
            {
                "id": sid,  # at most one comment per submission: reuse its id
                "author_id": ctx.grader_id,
                "author_name": ctx.grader_name,
                "comment": COMMENTS[sid % len(COMMENTS)],
                "created_at": graded_at,
            }
        ]
    return record


def _advance_submission(
    rng: random.Random, record: dict, ctx: _AssignmentCtx, t: int
) -> dict:
    """The next step of a submission's life at ``t``: hand it in, or (re)grade it.

    Submissions carry no ``updated_at``; the change shows in the content only.
    """
    record = dict(record)
    if record.get("workflow_state") == "unsubmitted" and ctx.submission_type is not None:
        late = t > ctx.due_t
        record.update(
            attempt=1,
            body=BODY_TEXTS[0] if ctx.submission_type == "online_text_entry" else None,
            submission_type=ctx.submission_type,
            submitted_at=_z(t),
            workflow_state="submitted",
            late=late,
            missing=False,
            late_policy_status="late" if late else None,
            seconds_late=t - ctx.due_t if late else 0,
            preview_url=f"{ctx.url_prefix}{record['user_id']}?preview=1&version=1",
        )
        return record
    score, grade = _grade(rng, ctx)
    record.update(
        grade=grade,
        score=score,
        graded_at=_z(t),
        grader_id=ctx.grader_id,
        posted_at=_z(t),
        workflow_state="graded",
        missing=False,
        entered_score=score,
        entered_grade=grade,
    )
    return record


def _touch_enrollment(rng: random.Random, record: dict, t: int, updated_at: str) -> dict:
    """Activity and grade changes that Canvas stamps with a new ``updated_at``."""
    record = dict(record)
    record["updated_at"] = updated_at
    if record.get("enrollment_state") == "invited":
        record["enrollment_state"] = "active"
    record["last_activity_at"] = _z(t - int(rng.random() * DAY))
    record["total_activity_time"] = (
        (record.get("total_activity_time") or 0) + 60 + int(rng.random() * 5 * HOUR)
    )
    grades = dict(record.get("grades") or {})
    if isinstance(grades.get("current_score"), (int, float)):
        current = round(min(100.0, max(0.0, grades["current_score"] + rng.uniform(-3, 3))), 2)
        grades.update(current_score=current, current_grade=_letter(current))
        record["grades"] = grades
    return record


def _edit_assignment(record: dict, t: int, updated_at: str) -> dict:
    """A teacher's edit: the description gains a note (so the content always differs)."""
    record = dict(record)
    record["updated_at"] = updated_at
    record["description"] = (
        f"{record.get('description') or ''}<p>Updated {_z(t)[:10]}: rubric clarified.</p>"
    )
    if record.get("workflow_state") == "unpublished":
        record["workflow_state"], record["published"] = "published", True
    return record


# ---------------------------------------------------------------- writing


class _JsonlWriter:
    """Buffered JSONL file: one ``write`` per chunk, ``progress`` told per chunk.

    ``orjson.dumps`` returns bytes over-allocated to about 8 KB; concatenating the
    newline copies each line into a right-sized object, which keeps a chunk of
    thousands of lines at a few MB.
    """

    def __init__(self, path: Path, progress: ProgressCallback | None):
        self._file = path.open("wb")
        self._buffer: list[bytes] = []
        self._progress = progress
        self.lines = 0

    def record(self, record: object) -> None:
        self.line(orjson.dumps(record) + b"\n")

    def line(self, line: bytes) -> None:
        """Write one newline-terminated line as it is."""
        self._buffer.append(line)
        self.lines += 1
        if len(self._buffer) >= CHUNK_LINES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            if self._progress is not None:
                self._progress(len(self._buffer))
            self._buffer.clear()

    def __enter__(self) -> _JsonlWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._flush()
        finally:
            self._file.close()


def _file_name(entity: str) -> str:
    return f"canvas_{entity}.jsonl"


def _batch_name(number: int) -> str:
    return f"batch-{number:04d}"


def _write_records(
    path: Path, records: Iterable[dict], progress: ProgressCallback | None
) -> int:
    with _JsonlWriter(path, progress) as out:
        for record in records:
            out.record(record)
    return out.lines


def _write_batch(out_dir: Path, name: str, write: Callable[[Path], dict]) -> dict:
    """Run ``write(tmp_dir)`` in a hidden staging directory, then rename it to ``name``.

    A crash leaves no half-written batch that would block the next run.
    """
    final = out_dir / name
    staging = out_dir / f".{name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        manifest = write(staging)
        (staging / MANIFEST_NAME).write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(final)
    return manifest


class _Ids:
    """Hands out increasing ids per entity; the next free ones go into every manifest."""

    def __init__(self, next_ids: dict[str, int]):
        self.next = dict(next_ids)

    def take(self, entity: str) -> int:
        value = self.next[entity]
        self.next[entity] += 1
        return value


# ---------------------------------------------------------------- public API


def simulate(
    out_dir: Path,
    *,
    seed: int = 42,
    students: int = 200,
    courses: int = 8,
    assignments_per_course: int = 6,
    submissions: int | None = None,
    follow_up: bool = False,
    bad_lines: bool = True,
    progress: ProgressCallback | None = None,
) -> dict:
    """Write one batch of simulated Canvas JSONL files under ``out_dir``; return its manifest.

    Without ``follow_up``: ``batch-0001`` with ``students`` students (plus a teacher
    per three courses), ``courses`` courses of ``assignments_per_course`` assignments,
    and either one submission per student enrolment and assignment
    (``submissions=None``) or exactly ``submissions`` of them, streamed. Its lines are
    all valid; the data-quality faults are listed under ``seeded_faults``.

    With ``follow_up``: the next ``batch-NNNN``, sized from the existing data (the size
    arguments are ignored); with ``bad_lines`` it holds a few lines a loader must
    reject. ``progress`` is called with the number of lines written since its previous
    call (it fits ``click.progressbar``'s ``update``).
    """
    out_dir = Path(out_dir)
    if follow_up:
        if submissions is not None:
            raise SimulateError("--submissions only applies to the first batch, not --follow-up")
        return _simulate_follow_up(out_dir, seed, bad_lines, progress)
    for label, value in (
        ("students", students),
        ("courses", courses),
        ("assignments per course", assignments_per_course),
    ):
        if value < 1:
            raise SimulateError(f"the number of {label} must be at least 1 (got {value})")
    if submissions is not None and submissions < 0:
        raise SimulateError(f"the number of submissions cannot be negative (got {submissions})")
    if (out_dir / _batch_name(1)).exists():
        raise SimulateError(
            f"{out_dir / _batch_name(1)} already exists: use --follow-up to add the next "
            "batch, or choose an empty directory"
        )
    return _simulate_base(
        out_dir, seed, students, courses, assignments_per_course, submissions, progress
    )


# ---------------------------------------------------------------- batch 1


@dataclass
class _BaseWorld:
    users: list[dict]
    courses: list[dict]
    enrollments: list[dict]
    assignments: list[dict]
    faults: dict


def _base_users(
    rng: random.Random, ids: _Ids, n_students: int, n_teachers: int, now_t: int
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
    users = []
    for uid in teacher_ids + student_ids:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        login_id = f"{_email_local(first, last, used_logins)}@{EMAIL_DOMAIN}"
        users.append(
            _make_user(
                rng, uid, first, last, login_id,
                sis_user_id=sis.get(uid), has_email=uid not in no_email, now_t=now_t,
            )
        )
    faults = {
        "students_without_email": no_email,
        "sis_conflict": {sis[conflict[0]]: conflict} if conflict else {},
    }
    return users, teacher_ids, faults


def _base_enrollments(
    rng: random.Random,
    ids: _Ids,
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
            _make_enrollment(
                rng, ids.take("enrollments"), user, course, etype, state=state,
                created_t=created_t, updated_t=_between(rng, created_t, now_t), now_t=now_t,
            )
        )

    for index, course in enumerate(courses):
        add(by_id[teacher_ids[index % len(teacher_ids)]], course, "TeacherEnrollment", "active")
    for user in users[len(teacher_ids):]:
        k = min(len(courses), rng.choice((1, 2, 2, 3, 3, 4)))
        for course in sorted(rng.sample(courses, k), key=lambda c: c["id"]):
            add(user, course, "StudentEnrollment", _enrollment_state(rng))
    return enrollments


def _build_base_world(
    rng: random.Random, ids: _Ids, n_students: int, n_courses: int, per_course: int, now_t: int
) -> _BaseWorld:
    n_teachers = max(1, (n_courses + 2) // 3)
    users, teacher_ids, faults = _base_users(rng, ids, n_students, n_teachers, now_t)
    courses = []
    for index in range(n_courses):
        zone = _ZONES[rng.choice(_ZONE_CHOICES)]
        created_t = BASE_T - int(rng.uniform(20, 90) * DAY)
        courses.append(_make_course(rng, ids.take("courses"), index, zone, created_t))
    enrollments = _base_enrollments(rng, ids, users, teacher_ids, courses, now_t)
    assignments = [
        _make_assignment(
            rng, ids.take("assignments"), course, position, per_course + 1,
            created_t=_parse_ts(course["created_at"]) + int(rng.uniform(1, 15) * DAY),
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


def _contexts_by_course(
    assignments: Iterable[dict], enrollments: Iterable[dict], users: dict[int, dict]
) -> dict[int, list[_AssignmentCtx]]:
    """Assignment contexts per course; each course's first teacher is its grader."""
    graders: dict[int, dict] = {}
    for enrollment in sorted(enrollments, key=lambda e: e["id"]):
        if enrollment.get("type") == "TeacherEnrollment":
            graders.setdefault(enrollment["course_id"], users.get(enrollment["user_id"]))
    by_course: dict[int, list[_AssignmentCtx]] = {}
    for assignment in sorted(assignments, key=lambda a: a["id"]):
        ctx = _assignment_ctx(assignment, graders.get(assignment["course_id"]))
        by_course.setdefault(assignment["course_id"], []).append(ctx)
    return by_course


def _pick_submission_faults(
    rng: random.Random, slots: list[tuple[int, _AssignmentCtx]], total: int
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


def _seed_fault(record: dict, ctx: _AssignmentCtx, fault: str) -> None:
    if fault == "score_out_of_range":  # only picked for graded ones with points_possible
        score = ctx.points + max(1.0, round(ctx.points * 0.2))
        grade = _grade_text(ctx.grading_type, score, ctx.points)
        record.update(grade=grade, score=score, entered_score=score, entered_grade=grade)
    else:
        record["workflow_state"] = "needs_review_legacy"


def _stream_submissions(
    path: Path,
    rng: random.Random,
    slots: list[tuple[int, _AssignmentCtx]],
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
    with _JsonlWriter(path, progress) as out:
        write = out.record
        for index in range(total):
            uid, ctx = slots[index % n_slots]
            sid = first_id + index
            fault = faults.get(index)
            record = _make_submission(
                rng, ctx, sid, uid, now_t, force_graded=fault == "score_out_of_range"
            )
            if fault:
                _seed_fault(record, ctx, fault)
                seeded[fault].append(sid)
            write(record)
    return seeded


def _simulate_base(
    out_dir: Path,
    seed: int,
    n_students: int,
    n_courses: int,
    per_course: int,
    submissions: int | None,
    progress: ProgressCallback | None,
) -> dict:
    rng = random.Random(seed)
    now_t = _extract_time(1)
    ids = _Ids(FIRST_IDS)
    world = _build_base_world(rng, ids, n_students, n_courses, per_course, now_t)
    users = {user["id"]: user for user in world.users}
    by_course = _contexts_by_course(world.assignments, world.enrollments, users)
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
            line_counts[_file_name(entity)] = _write_records(
                tmp / _file_name(entity), getattr(world, entity), progress
            )
        seeded = _stream_submissions(
            tmp / _file_name("submissions"), rng, slots, total,
            first_submission_id, faults, now_t, progress,
        )
        line_counts[_file_name("submissions")] = total
        return {
            "batch": _batch_name(1),
            "seed": seed,
            "extracted_at": _z(now_t),
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
    return _write_batch(out_dir, _batch_name(1), write)


# ---------------------------------------------------------------- follow-ups


def _existing_batches(out_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for path in out_dir.glob("batch-*") if out_dir.is_dir() else ():
        suffix = path.name.removeprefix("batch-")
        if path.is_dir() and len(suffix) == 4 and suffix.isdigit():
            found.append((int(suffix), path))
    return sorted(found)


def _read_manifest(batch_dir: Path) -> dict:
    path = batch_dir / MANIFEST_NAME
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SimulateError(
            f"{path} is missing or unreadable ({exc}); was {batch_dir.name} written by "
            "`loader simulate`?"
        ) from exc


def _loads_object(line: bytes) -> dict | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class _Source:
    """The latest line per id of one source over the earlier batches."""

    lines: dict[int, bytes]
    max_updated_at: str | None  # the raw string, as the watermark boundary is reused verbatim


def _read_source(batch_dirs: list[Path], entity: str, max_lines: int | None = None) -> _Source:
    """Replay the earlier batches in order, keeping what a loader would have kept.

    Lines a loader rejects (not an object, no integer id, unparsable ``updated_at``)
    are skipped. ``max_lines`` caps the lines read per file (a sample for huge sets).
    """
    has_updated_at = entity in UPDATED_AT_ENTITIES
    lines: dict[int, bytes] = {}
    max_t, max_raw = None, None
    for batch_dir in batch_dirs:
        path = batch_dir / _file_name(entity)
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for number, line in enumerate(handle):
                if max_lines is not None and number >= max_lines:
                    break
                record = _loads_object(line)
                if record is None or type(record.get("id")) is not int:
                    continue
                if has_updated_at:
                    t = _parse_ts(record.get("updated_at"))
                    if t is None:
                        continue
                    if max_t is None or t > max_t:
                        max_t, max_raw = t, record["updated_at"]
                lines[record["id"]] = line.rstrip(b"\r\n")
    return _Source(lines, max_raw)


class _FileOut:
    """One follow-up file: lines by category, written sorted by id with bad lines spread in."""

    def __init__(self, entity: str, boundary_at: str | None):
        self.entity = entity
        self.lines: list[tuple[int, bytes]] = []
        self.bad: list[tuple[str, bytes]] = []
        self.categories: dict = {"new": [], "changed": [], "unchanged": []}
        if entity in UPDATED_AT_ENTITIES:
            self.categories["boundary"] = {"updated_at": boundary_at, "ids": []}

    def add(self, category: str, record: dict) -> None:
        ids = self.categories[category]
        (ids["ids"] if category == "boundary" else ids).append(record["id"])
        self.lines.append((record["id"], orjson.dumps(record) + b"\n"))

    def resend(self, rid: int, line: bytes) -> None:
        self.categories["unchanged"].append(rid)
        self.lines.append((rid, line + b"\n"))

    def write(self, batch_dir: Path, progress: ProgressCallback | None) -> tuple[int, list]:
        """Write the file; return its line count and its bad lines' manifest entries."""
        lines = [(line, None) for _, line in sorted(self.lines, key=lambda item: item[0])]
        step = len(lines) // (len(self.bad) + 1)
        for k, (reason_kind, line) in enumerate(self.bad):
            lines.insert((k + 1) * step + k, (line + b"\n", reason_kind))
        file_name = _file_name(self.entity)
        bad_lines = []
        with _JsonlWriter(batch_dir / file_name, progress) as out:
            for number, (line, reason_kind) in enumerate(lines, start=1):
                out.line(line)
                if reason_kind is not None:
                    bad_lines.append(
                        {"file": file_name, "line_number": number, "reason_kind": reason_kind}
                    )
        return len(lines), bad_lines

    def sorted_categories(self) -> dict:
        return {
            name: {**ids, "ids": sorted(ids["ids"])} if isinstance(ids, dict) else sorted(ids)
            for name, ids in self.categories.items()
        }


def _next_view(current: object) -> str:
    views = DEFAULT_VIEWS[1:]
    return views[(views.index(current) + 1) % len(views)] if current in views else views[0]


def _share(n: int, fraction: float, low: int, high: int) -> int:
    return max(low, min(high, round(n * fraction)))


class _FollowUp:
    """Builds follow-up batch ``number`` from the earlier batches' latest records."""

    def __init__(self, out_dir: Path, seed: int, bad_lines: bool):
        batches = _existing_batches(out_dir)
        if not batches or batches[0][0] != 1:
            raise SimulateError(
                f"{out_dir} has no {_batch_name(1)}: run `loader simulate {out_dir}` "
                "without --follow-up first"
            )
        manifests = [_read_manifest(path) for _, path in batches]
        batch_dirs = [path for _, path in batches]
        self.number = batches[-1][0] + 1
        self.seed = seed
        self.bad_lines = bad_lines
        self.rng = random.Random(f"{seed}:{_batch_name(self.number)}")
        self.t0, self.t1 = _extract_time(batches[-1][0]), _extract_time(self.number)
        self.ids = _Ids(manifests[-1]["next_ids"])
        self.delivered_users: list[dict] = manifests[-1].get("pending_users", [])
        faults = manifests[0].get("seeded_faults", {})
        # Seeded bad submissions are never "changed", so the DQ findings persist.
        self.faulty_submissions = {
            sid for kind in ("score_out_of_range", "unknown_workflow_state")
            for sid in faults.get(kind, ())
        }
        self.sources = {
            entity: _read_source(
                batch_dirs, entity, SUBMISSION_SCAN_LIMIT if entity == "submissions" else None
            )
            for entity in ENTITIES
        }
        self.data = {
            entity: {rid: orjson.loads(line) for rid, line in self.sources[entity].lines.items()}
            for entity in ENTITIES[:-1]
        }
        self.out = {
            entity: _FileOut(entity, self.sources[entity].max_updated_at) for entity in ENTITIES
        }
        self.late = {"user_ids": [], "enrollment_ids": [], "submission_ids": []}
        self.new_students: list[dict] = []
        self.pending_users: list[dict] = []
        self.new_course: dict | None = None
        self.new_assignments: list[dict] = []
        self.new_enrollments: list[dict] = []

    # -- helpers

    def _moment(self, after: int | None = None) -> int:
        """A time in this batch's window ``(previous export, this export]``."""
        return _between(self.rng, max(self.t0, after or self.t0), self.t1)

    def _pick(self, ids: Iterable[int], *sizes: int) -> list[list[int]]:
        """Disjoint random groups of the given sizes (smaller when ids run out)."""
        pool = sorted(ids)
        chosen = self.rng.sample(pool, min(len(pool), sum(sizes)))
        groups, start = [], 0
        for size in sizes:
            groups.append(sorted(chosen[start : start + size]))
            start += size
        return groups

    def _boundary(self, entity: str) -> tuple[str, int] | None:
        raw = self.sources[entity].max_updated_at
        return None if raw is None else (raw, _parse_ts(raw))

    def _random_course(self) -> dict:
        courses = self.data["courses"]
        return courses[self.rng.choice(sorted(courses))]

    def _users_of(self, etype: str) -> list[int]:
        return sorted(
            {e["user_id"] for e in self.data["enrollments"].values() if e.get("type") == etype}
        )

    # -- entities, in dependency order

    def users(self) -> None:
        out, users = self.out["users"], self.data["users"]
        for record in self.delivered_users:
            out.add("new", record)
        used_logins = {
            str(user.get("login_id", "")).split("@")[0]
            for user in [*users.values(), *self.delivered_users]
        }

        def new_user() -> dict:
            uid = self.ids.take("users")
            return _new_user(self.rng, uid, used_logins, self.t1, f"SIS{uid:06d}")

        n_students = len(self._users_of("StudentEnrollment"))
        self.new_students = [new_user() for _ in range(_share(n_students, 0.02, 2, 50))]
        for record in self.new_students:
            out.add("new", record)
        self.pending_users = [new_user()]
        self.late["user_ids"] = [user["id"] for user in self.pending_users]
        changed, unchanged = self._pick(
            users, _share(len(users), 0.03, 3, 100), _share(len(users), 0.02, 2, 50)
        )
        for uid in changed:
            out.add("changed", users[uid] | {"last_login": _z(self._moment())})
        for uid in unchanged:
            out.resend(uid, self.sources["users"].lines[uid])

    def courses(self) -> None:
        out, courses = self.out["courses"], self.data["courses"]
        zone = _ZONES[self.rng.choice(_ZONE_CHOICES)]
        self.new_course = _make_course(
            self.rng, self.ids.take("courses"), len(courses), zone, self._moment()
        )
        out.add("new", self.new_course)
        changed, unchanged = self._pick(courses, 1, 1)
        for cid in changed:
            record = dict(courses[cid])
            if record.get("workflow_state") == "unpublished":
                record["workflow_state"] = "available"
            else:
                record["default_view"] = _next_view(record.get("default_view"))
            out.add("changed", record)
        for cid in unchanged:
            out.resend(cid, self.sources["courses"].lines[cid])

    def assignments(self) -> None:
        out, assignments, courses = (
            self.out["assignments"], self.data["assignments"], self.data["courses"],
        )
        per_course = max(1, round(len(assignments) / max(1, len(courses))))
        course_created_t = _parse_ts(self.new_course["created_at"])
        for position in range(1, per_course + 1):
            record = _make_assignment(
                self.rng, self.ids.take("assignments"), self.new_course, position,
                per_course + 1, created_t=self._moment(course_created_t), now_t=self.t1,
            )
            self.new_assignments.append(record)
            out.add("new", record)
        n = len(assignments)
        changed, at_boundary, unchanged = self._pick(
            assignments, _share(n, 0.1, 1, 20), 1, _share(n, 0.05, 1, 10)
        )
        for aid in changed:
            t = self._moment()
            out.add("changed", _edit_assignment(assignments[aid], t, _z(t)))
        for aid in unchanged:
            out.resend(aid, self.sources["assignments"].lines[aid])
        boundary = self._boundary("assignments")
        if boundary is None:
            return
        raw, boundary_t = boundary
        for aid in at_boundary:
            out.add("boundary", _edit_assignment(assignments[aid], boundary_t, raw))
        course = self._random_course()
        position = 1 + sum(1 for a in assignments.values() if a["course_id"] == course["id"])
        late_added = _make_assignment(
            self.rng, self.ids.take("assignments"), course, position, position + 1,
            created_t=boundary_t, now_t=self.t1,
        )
        late_added.update(created_at=raw, updated_at=raw)
        self.new_assignments.append(late_added)
        out.add("boundary", late_added)

    def _enroll(self, user: dict, course: dict, etype: str) -> dict:
        created_t = self._moment(_parse_ts(course.get("created_at")))
        record = _make_enrollment(
            self.rng, self.ids.take("enrollments"), user, course, etype, state="active",
            created_t=created_t, updated_t=_between(self.rng, created_t, self.t1), now_t=self.t1,
        )
        self.out["enrollments"].add("new", record)
        self.new_enrollments.append(record)
        return record

    def enrollments(self) -> None:
        out, enrollments = self.out["enrollments"], self.data["enrollments"]
        users = self.data["users"]
        teacher = users[self.rng.choice(self._users_of("TeacherEnrollment"))]
        self._enroll(teacher, self.new_course, "TeacherEnrollment")
        for student in self.new_students:
            self._enroll(student, self.new_course, "StudentEnrollment")
            self._enroll(student, self._random_course(), "StudentEnrollment")
        for user in self.pending_users:
            enrollment = self._enroll(user, self._random_course(), "StudentEnrollment")
            self.late["enrollment_ids"].append(enrollment["id"])
        n = len(enrollments)
        changed, at_boundary, unchanged = self._pick(
            enrollments, _share(n, 0.03, 3, 100), 1, _share(n, 0.02, 2, 50)
        )
        for eid in changed:
            t = self._moment()
            out.add("changed", _touch_enrollment(self.rng, enrollments[eid], t, _z(t)))
        for eid in unchanged:
            out.resend(eid, self.sources["enrollments"].lines[eid])
        boundary = self._boundary("enrollments")
        if boundary is not None:
            raw, boundary_t = boundary
            for eid in at_boundary:
                out.add("boundary", _touch_enrollment(self.rng, enrollments[eid], boundary_t, raw))
            out.add("boundary", self._boundary_ta_enrollment(raw, boundary_t))
        if self.bad_lines:
            user = users[self.rng.choice(sorted(users))]
            record = _make_enrollment(
                self.rng, self.ids.take("enrollments"), user, self._random_course(),
                "StudentEnrollment",
                state="active", created_t=self.t1, updated_t=self.t1, now_t=self.t1,
            )
            record["updated_at"] = "not-a-date"
            out.bad.append(("unparsable_timestamp", orjson.dumps(record)))

    def _boundary_ta_enrollment(self, raw: str, boundary_t: int) -> dict:
        """A TA added exactly at the previous watermark: new id, boundary ``updated_at``.

        Prefers a teacher in an existing course they are not in; falls back to
        students and to the new course, which nobody existing is enrolled in yet.
        """
        users, courses = self.data["users"], self.data["courses"]
        enrolled = {(e["user_id"], e["course_id"]) for e in self.data["enrollments"].values()}
        teachers = [uid for uid in self._users_of("TeacherEnrollment") if uid in users]

        def free_pairs(people: list[int]) -> list[tuple[int, int]]:
            return [(u, c) for u in people for c in sorted(courses) if (u, c) not in enrolled]

        candidates = free_pairs(teachers) or free_pairs(sorted(users))
        if candidates:
            uid, cid = self.rng.choice(candidates)
            course = courses[cid]
        else:
            uid, course = self.rng.choice(sorted(users)), self.new_course
        record = _make_enrollment(
            self.rng, self.ids.take("enrollments"), users[uid], course, "TaEnrollment",
            state="active", created_t=boundary_t, updated_t=boundary_t, now_t=boundary_t,
        )
        record.update(created_at=raw, updated_at=raw)
        return record

    def submissions(self) -> None:
        users = self.data["users"] | {u["id"]: u for u in self.new_students}
        by_course = _contexts_by_course(
            [*self.data["assignments"].values(), *self.new_assignments],
            [*self.data["enrollments"].values(), *self.new_enrollments],
            users,
        )
        contexts = {ctx.id: ctx for ctxs in by_course.values() for ctx in ctxs}
        self._new_submissions(by_course, contexts)
        self._resent_submissions(contexts)
        if self.bad_lines and contexts:
            self._bad_submissions(contexts)

    def _new_submissions(
        self, by_course: dict[int, list[_AssignmentCtx]], contexts: dict[int, _AssignmentCtx]
    ) -> None:
        """Submissions of the new student enrolments, and of the assignment added to an
        existing course (for that course's existing students)."""
        out, pending_ids = self.out["submissions"], set(self.late["user_ids"])

        def add(uid: int, ctx: _AssignmentCtx) -> int:
            sid = self.ids.take("submissions")
            out.add("new", _make_submission(self.rng, ctx, sid, uid, self.t1))
            return sid

        for enrollment in self.new_enrollments:
            if enrollment["type"] != "StudentEnrollment":
                continue
            for ctx in by_course.get(enrollment["course_id"], ()):
                sid = add(enrollment["user_id"], ctx)
                if enrollment["user_id"] in pending_ids:
                    self.late["submission_ids"].append(sid)
        existing = sorted(self.data["enrollments"].values(), key=lambda e: e["id"])
        for assignment in self.new_assignments:
            if assignment["course_id"] == self.new_course["id"]:
                continue  # its students are all new enrolments, handled above
            for enrollment in existing:
                if (
                    enrollment["type"] == "StudentEnrollment"
                    and enrollment["course_id"] == assignment["course_id"]
                ):
                    add(enrollment["user_id"], contexts[assignment["id"]])

    def _resent_submissions(self, contexts: dict[int, _AssignmentCtx]) -> None:
        """Changed submissions (mostly ungraded ones moving on) and unchanged re-sends.

        Only a small (id, state) summary is kept per earlier submission; the chosen
        ones are parsed again.
        """
        out, lines = self.out["submissions"], self.sources["submissions"].lines
        open_ids, graded_ids = [], []
        for sid, line in lines.items():
            record = orjson.loads(line)
            if sid not in self.faulty_submissions and record.get("assignment_id") in contexts:
                is_open = record.get("workflow_state") != "graded"
                (open_ids if is_open else graded_ids).append(sid)
        n = len(open_ids) + len(graded_ids)
        k_changed = _share(n, 0.05, 5, 500)
        (changed,) = self._pick(open_ids, k_changed)
        taken = set(changed)
        more_changed, unchanged = self._pick(
            [sid for sid in open_ids if sid not in taken] + graded_ids,
            k_changed - len(changed),
            _share(n, 0.02, 3, 100),
        )
        for sid in sorted(changed + more_changed):
            record = orjson.loads(lines[sid])
            ctx = contexts[record["assignment_id"]]
            out.add("changed", _advance_submission(self.rng, record, ctx, self._moment()))
        for sid in unchanged:
            out.resend(sid, lines[sid])

    def _bad_submissions(self, contexts: dict[int, _AssignmentCtx]) -> None:
        ctx = contexts[self.rng.choice(sorted(contexts))]
        uid = self.rng.choice(sorted(self.data["users"]))
        truncated = orjson.dumps(
            _make_submission(self.rng, ctx, self.ids.take("submissions"), uid, self.t1)
        )
        no_id = _make_submission(self.rng, ctx, self.ids.take("submissions"), uid, self.t1)
        del no_id["id"]
        self.out["submissions"].bad.extend(
            [
                ("malformed_json", truncated[: len(truncated) // 2]),
                ("not_an_object", b"[1,2]"),
                ("missing_id", orjson.dumps(no_id)),
            ]
        )

    # -- output

    def write(self, batch_dir: Path, progress: ProgressCallback | None) -> dict:
        line_counts, bad_lines = {}, []
        for entity in ENTITIES:
            count, bad = self.out[entity].write(batch_dir, progress)
            line_counts[_file_name(entity)] = count
            bad_lines.extend(bad)
        return {
            "batch": _batch_name(self.number),
            "seed": self.seed,
            "extracted_at": _z(self.t1),
            "previous_extracted_at": _z(self.t0),
            "line_counts": line_counts,
            "next_ids": self.ids.next,
            "categories": {entity: self.out[entity].sorted_categories() for entity in ENTITIES},
            "late_arriving": self.late
            | {"delivered_user_ids": sorted(u["id"] for u in self.delivered_users)},
            "bad_lines": bad_lines,
            "pending_users": self.pending_users,
        }


def _simulate_follow_up(
    out_dir: Path, seed: int, bad_lines: bool, progress: ProgressCallback | None
) -> dict:
    follow_up = _FollowUp(out_dir, seed, bad_lines)
    follow_up.users()
    follow_up.courses()
    follow_up.assignments()
    follow_up.enrollments()
    follow_up.submissions()
    return _write_batch(
        out_dir,
        _batch_name(follow_up.number),
        lambda tmp: follow_up.write(tmp, progress),
    )
