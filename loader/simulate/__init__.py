"""Simulate Canvas LMS REST API exports as JSONL batches (the public API).

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
- CD2 batches (``shape="cd2"``): ``shape: "cd2"`` and, in follow-ups,
  ``categories.<entity>.deleted`` (the ids of the key-only delete lines at the end of
  the file);
- follow-ups: ``previous_extracted_at``; ``categories.<entity>`` with the ids that are
  ``new``, ``changed`` and ``unchanged`` and, for enrollments and assignments,
  ``boundary: {updated_at, ids}`` (one changed and one new record stamped with the
  earlier batches' max ``updated_at``); together they cover every valid line of the
  file exactly once. ``late_arriving``: ``user_ids`` (withheld now), their
  ``enrollment_ids`` and ``submission_ids`` (all in ``new``), and
  ``delivered_user_ids`` (the previous batch's withheld users, in ``users.new``).
"""

from __future__ import annotations

from pathlib import Path

from ..options import SIMULATE_SHAPES as SHAPES
from .base import simulate_base
from .entities import ENTITIES
from .errors import SimulateError
from .follow_up import simulate_follow_up
from .writer import ProgressCallback, batch_name

__all__ = ["ENTITIES", "SHAPES", "ProgressCallback", "SimulateError", "simulate"]


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
    shape: str | None = None,
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

    ``shape``: ``rest`` (Canvas REST records) or ``cd2`` (Canvas Data 2 envelopes, with
    deletes in follow-ups; see ``cd2.py``); a follow-up without it keeps the shape of
    the batch before it.
    """
    if shape not in (None, *SHAPES):
        raise SimulateError(f"unknown shape {shape!r}", f"Pass one of {', '.join(SHAPES)}")
    out_dir = Path(out_dir)
    if follow_up:
        if submissions is not None:
            raise SimulateError(
                "--submissions only applies to the first batch, not --follow-up",
                "Leave --submissions out: a follow-up is sized from the data already there",
            )
        return simulate_follow_up(out_dir, seed, bad_lines, progress, shape)
    _check_first_batch(out_dir, students, courses, assignments_per_course, submissions)
    return simulate_base(
        out_dir, seed, students, courses, assignments_per_course, submissions, progress,
        shape or "rest",
    )


def _check_first_batch(
    out_dir: Path, students: int, courses: int, per_course: int, submissions: int | None
) -> None:
    for label, value in (
        ("students", students),
        ("courses", courses),
        ("assignments per course", per_course),
    ):
        if value < 1:
            raise SimulateError(
                f"the number of {label} must be at least 1 (got {value})",
                f"Pass --{label.replace(' ', '-')} 1 or more",
            )
    if submissions is not None and submissions < 0:
        raise SimulateError(
            f"the number of submissions cannot be negative (got {submissions})",
            "Pass --submissions 0 or more, or leave it out for one per enrolment and assignment",
        )
    first = out_dir / batch_name(1)
    if first.exists():
        raise SimulateError(
            f"{first} already exists",
            "Use --follow-up to add the next batch, or choose an empty directory",
        )
