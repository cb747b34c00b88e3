"""A follow-up's submissions: new, changed (moving on), unchanged re-sends and bad lines."""

from __future__ import annotations

import orjson

from ..submissions import AssignmentCtx, advance_submission, contexts_by_course, make_submission
from .state import FollowUpBatch, share


def add_submissions(batch: FollowUpBatch) -> None:
    users = batch.data["users"] | {u["id"]: u for u in batch.new_students}
    by_course = contexts_by_course(
        [*batch.data["assignments"].values(), *batch.new_assignments],
        [*batch.data["enrollments"].values(), *batch.new_enrollments],
        users,
    )
    contexts = {ctx.id: ctx for ctxs in by_course.values() for ctx in ctxs}
    _add_new_submissions(batch, by_course, contexts)
    _add_resent_submissions(batch, contexts)
    if batch.bad_lines and contexts:
        _add_bad_submissions(batch, contexts)


def _add_new_submissions(
    batch: FollowUpBatch,
    by_course: dict[int, list[AssignmentCtx]],
    contexts: dict[int, AssignmentCtx],
) -> None:
    """Submissions of the new student enrolments, and of the assignment added to an
    existing course (for that course's existing students)."""
    out, pending_ids = batch.out["submissions"], set(batch.late["user_ids"])

    def add(uid: int, ctx: AssignmentCtx) -> int:
        sid = batch.ids.take("submissions")
        out.add("new", make_submission(batch.rng, ctx, sid, uid, batch.t1))
        return sid

    for enrollment in batch.new_enrollments:
        if enrollment["type"] != "StudentEnrollment":
            continue
        for ctx in by_course.get(enrollment["course_id"], ()):
            sid = add(enrollment["user_id"], ctx)
            if enrollment["user_id"] in pending_ids:
                batch.late["submission_ids"].append(sid)
    existing = sorted(batch.data["enrollments"].values(), key=lambda e: e["id"])
    for assignment in batch.new_assignments:
        if assignment["course_id"] == batch.new_course["id"]:
            continue  # its students are all new enrolments, handled above
        for enrollment in existing:
            if (
                enrollment["type"] == "StudentEnrollment"
                and enrollment["course_id"] == assignment["course_id"]
            ):
                add(enrollment["user_id"], contexts[assignment["id"]])


def _add_resent_submissions(
    batch: FollowUpBatch, contexts: dict[int, AssignmentCtx]
) -> None:
    """Changed submissions (mostly ungraded ones moving on) and unchanged re-sends.

    Only a small (id, state) summary is kept per earlier submission; the chosen
    ones are parsed again.
    """
    out, lines = batch.out["submissions"], batch.sources["submissions"].lines
    open_ids, graded_ids = [], []
    for sid, line in lines.items():
        record = orjson.loads(line)
        if sid not in batch.faulty_submissions and record.get("assignment_id") in contexts:
            is_open = record.get("workflow_state") != "graded"
            (open_ids if is_open else graded_ids).append(sid)
    n = len(open_ids) + len(graded_ids)
    k_changed = share(n, 0.05, 5, 500)
    (changed,) = batch.pick(open_ids, k_changed)
    taken = set(changed)
    more_changed, unchanged = batch.pick(
        [sid for sid in open_ids if sid not in taken] + graded_ids,
        k_changed - len(changed),
        share(n, 0.02, 3, 100),
    )
    for sid in sorted(changed + more_changed):
        record = orjson.loads(lines[sid])
        ctx = contexts[record["assignment_id"]]
        out.add("changed", advance_submission(batch.rng, record, ctx, batch.moment()))
    batch.resend("submissions", unchanged)


def _add_bad_submissions(batch: FollowUpBatch, contexts: dict[int, AssignmentCtx]) -> None:
    """A truncated line, a JSON array and a submission without its id."""
    ctx = contexts[batch.rng.choice(sorted(contexts))]
    uid = batch.rng.choice(sorted(batch.data["users"]))
    truncated = orjson.dumps(
        make_submission(batch.rng, ctx, batch.ids.take("submissions"), uid, batch.t1)
    )
    no_id = make_submission(batch.rng, ctx, batch.ids.take("submissions"), uid, batch.t1)
    del no_id["id"]
    batch.out["submissions"].bad.extend(
        [
            ("malformed_json", truncated[: len(truncated) // 2]),
            ("not_an_object", b"[1,2]"),
            ("missing_id", orjson.dumps(no_id)),
        ]
    )
