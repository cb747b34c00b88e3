"""A follow-up's assignments: the new course's, changed, unchanged and watermark-boundary ones."""

from __future__ import annotations

from ..calendar import iso_z, parse_ts
from ..records import edit_assignment, make_assignment
from .state import FollowUpBatch, share


def add_assignments(batch: FollowUpBatch) -> None:
    out, assignments, courses = (
        batch.out["assignments"], batch.data["assignments"], batch.data["courses"],
    )
    per_course = max(1, round(len(assignments) / max(1, len(courses))))
    course_created_t = parse_ts(batch.new_course["created_at"])
    for position in range(1, per_course + 1):
        record = make_assignment(
            batch.rng, batch.ids.take("assignments"), batch.new_course, position,
            per_course + 1, created_t=batch.moment(course_created_t), now_t=batch.t1,
        )
        batch.new_assignments.append(record)
        out.add("new", record)
    n = len(assignments)
    changed, at_boundary, unchanged = batch.pick(
        assignments, share(n, 0.1, 1, 20), 1, share(n, 0.05, 1, 10)
    )
    for aid in changed:
        t = batch.moment()
        out.add("changed", edit_assignment(assignments[aid], t, iso_z(t)))
    batch.resend("assignments", unchanged)
    _add_boundary_assignments(batch, at_boundary)


def _add_boundary_assignments(batch: FollowUpBatch, at_boundary: list[int]) -> None:
    """Edits of ``at_boundary`` and one assignment added to an existing course, all
    stamped with the earlier batches' max ``updated_at``."""
    boundary = batch.boundary("assignments")
    if boundary is None:
        return
    out, assignments = batch.out["assignments"], batch.data["assignments"]
    raw, boundary_t = boundary
    for aid in at_boundary:
        out.add("boundary", edit_assignment(assignments[aid], boundary_t, raw))
    course = batch.random_course()
    position = 1 + sum(1 for a in assignments.values() if a["course_id"] == course["id"])
    late_added = make_assignment(
        batch.rng, batch.ids.take("assignments"), course, position, position + 1,
        created_t=boundary_t, now_t=batch.t1,
    )
    late_added.update(created_at=raw, updated_at=raw)
    batch.new_assignments.append(late_added)
    out.add("boundary", late_added)
