"""Canvas submissions: assignment contexts, grades, and the submission maker (the hot loop)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from .calendar import DAY, HOUR, MINUTE, TERM_END, epoch, iso_z, parse_ts
from .vocabulary import BODY_TEXTS, COMMENTS, HOST, ONLINE_TYPES, letter


@dataclass(frozen=True, slots=True)
class AssignmentCtx:
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


def _assignment_ctx(assignment: dict, grader: dict | None) -> AssignmentCtx:
    cid, aid = assignment["course_id"], assignment["id"]
    due_t = parse_ts(assignment.get("due_at"))
    types = [t for t in assignment.get("submission_types") or () if t in ONLINE_TYPES]
    return AssignmentCtx(
        id=aid,
        points=assignment.get("points_possible"),
        grading_type=assignment.get("grading_type") or "points",
        submission_type=types[0] if types else None,
        due_t=due_t if due_t is not None else epoch(TERM_END, 23, 59),
        due_z=iso_z(due_t) if due_t is not None else None,
        url_prefix=f"{HOST}/courses/{cid}/assignments/{aid}/submissions/",
        grader_id=grader["id"] if grader else None,
        grader_name=grader["name"] if grader else None,
    )


def contexts_by_course(
    assignments: Iterable[dict], enrollments: Iterable[dict], users: dict[int, dict]
) -> dict[int, list[AssignmentCtx]]:
    """Assignment contexts per course; each course's first teacher is its grader."""
    graders: dict[int, dict] = {}
    for enrollment in sorted(enrollments, key=lambda e: e["id"]):
        if enrollment.get("type") == "TeacherEnrollment":
            graders.setdefault(enrollment["course_id"], users.get(enrollment["user_id"]))
    by_course: dict[int, list[AssignmentCtx]] = {}
    for assignment in sorted(assignments, key=lambda a: a["id"]):
        ctx = _assignment_ctx(assignment, graders.get(assignment["course_id"]))
        by_course.setdefault(assignment["course_id"], []).append(ctx)
    return by_course


def grade_text(grading_type: str, score: float, points: float) -> str | None:
    percent = 100.0 * score / points
    if grading_type == "points":
        return f"{score:g}"
    if grading_type == "percent":
        return f"{round(percent, 2):g}%"
    if grading_type in ("letter_grade", "gpa_scale"):
        return letter(percent)
    if grading_type == "pass_fail":
        return "complete" if percent >= 60 else "incomplete"
    return None


def _grade(rng: random.Random, ctx: AssignmentCtx) -> tuple[float, str | None]:
    """A plausible (score, grade); an assignment without points is scored out of 100."""
    points = ctx.points or 100.0
    percent = 100.0 - 45.0 * rng.random() ** 1.5
    if ctx.grading_type == "pass_fail":
        score = points if percent >= 60 else 0.0
    else:
        score = round(points * percent / 50.0) / 2.0
    return score, grade_text(ctx.grading_type, score, points)


def _state(rng: random.Random, past_due: bool, force_graded: bool) -> str:
    r = rng.random()
    if force_graded:
        return "graded"
    if past_due:
        return (
            "graded" if r < 0.72
            else "submitted" if r < 0.84
            else "pending_review" if r < 0.87
            else "unsubmitted"
        )
    return "submitted" if r < 0.2 else "unsubmitted"


def _hand_in(
    rng: random.Random, ctx: AssignmentCtx, state: str, past_due: bool, now_t: int
) -> tuple[str, int | None]:
    """The state once handed in, and when it was (None: nothing submitted online)."""
    if state == "unsubmitted":
        return state, None
    if ctx.submission_type is None:
        return "graded", None  # on paper: nothing is submitted online, it is only graded
    due_t = ctx.due_t
    if past_due and rng.random() < 0.1:
        return state, min(due_t + MINUTE + int(rng.random() * 2 * DAY), now_t - MINUTE)
    return state, min(due_t, now_t) - MINUTE - int(rng.random() * 4 * DAY)


_UNGRADED = (None,) * 6


def _grading(
    rng: random.Random, ctx: AssignmentCtx, submitted_t: int | None, late: bool, now_t: int
) -> tuple:
    """``(score, grade, graded_at, grader_id, posted_at, points_deducted)`` of a graded one."""
    score, grade = _grade(rng, ctx)
    graded_t = min((submitted_t or ctx.due_t) + HOUR + int(rng.random() * 6 * DAY), now_t)
    graded_at = iso_z(graded_t)
    posted_at = graded_at if rng.random() < 0.9 else None
    deducted = round((ctx.points or 100.0) * 0.05, 2) if late else None
    return score, grade, graded_at, ctx.grader_id, posted_at, deducted


def _comments(ctx: AssignmentCtx, sid: int, graded_at: str) -> list[dict]:
    return [
        {
            "id": sid,  # at most one comment per submission: reuse its id
            "author_id": ctx.grader_id,
            "author_name": ctx.grader_name,
            "comment": COMMENTS[sid % len(COMMENTS)],
            "created_at": graded_at,
        }
    ]


def make_submission(
    rng: random.Random,
    ctx: AssignmentCtx,
    sid: int,
    uid: int,
    now_t: int,
    force_graded: bool = False,
) -> dict:
    """One submission as Canvas would show it at ``now_t``; the hot loop of big runs."""
    due_t = ctx.due_t
    past_due = due_t <= now_t
    state = _state(rng, past_due, force_graded)
    state, submitted_t = _hand_in(rng, ctx, state, past_due, now_t)
    submission_type = ctx.submission_type
    late = submitted_t is not None and submitted_t > due_t
    missing = past_due and state == "unsubmitted"
    score, grade, graded_at, grader_id, posted_at, deducted = (
        _grading(rng, ctx, submitted_t, late, now_t) if state == "graded" else _UNGRADED
    )
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
        "submitted_at": iso_z(submitted_t) if submitted_t is not None else None,
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
        record["submission_comments"] = _comments(ctx, sid, graded_at)
    return record


def advance_submission(
    rng: random.Random, record: dict, ctx: AssignmentCtx, t: int
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
            submitted_at=iso_z(t),
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
        graded_at=iso_z(t),
        grader_id=ctx.grader_id,
        posted_at=iso_z(t),
        workflow_state="graded",
        missing=False,
        entered_score=score,
        entered_grade=grade,
    )
    return record
