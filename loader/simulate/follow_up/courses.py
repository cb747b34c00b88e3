"""A follow-up's courses: one new course, one changed and one re-sent unchanged."""

from __future__ import annotations

from ..calendar import ZONE_CHOICES, ZONES
from ..records import make_course
from ..vocabulary import DEFAULT_VIEWS
from .state import FollowUpBatch


def _next_view(current: object) -> str:
    views = DEFAULT_VIEWS[1:]
    return views[(views.index(current) + 1) % len(views)] if current in views else views[0]


def add_courses(batch: FollowUpBatch) -> None:
    out, courses = batch.out["courses"], batch.data["courses"]
    zone = ZONES[batch.rng.choice(ZONE_CHOICES)]
    batch.new_course = make_course(
        batch.rng, batch.ids.take("courses"), len(courses), zone, batch.moment()
    )
    out.add("new", batch.new_course)
    changed, unchanged = batch.pick(courses, 1, 1)
    for cid in changed:
        record = dict(courses[cid])
        if record.get("workflow_state") == "unpublished":
            record["workflow_state"] = "available"
        else:
            record["default_view"] = _next_view(record.get("default_view"))
        out.add("changed", record)
    batch.resend("courses", unchanged)
