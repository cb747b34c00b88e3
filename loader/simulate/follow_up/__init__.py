"""A follow-up batch: the earlier batches' latest records, changed, re-sent and added to."""

from __future__ import annotations

from pathlib import Path

from ..cd2 import convert_batch, pick_deletes
from ..writer import ProgressCallback, batch_name, write_batch
from .assignments import add_assignments
from .courses import add_courses
from .enrollments import add_enrollments
from .state import FollowUpBatch
from .submissions import add_submissions
from .users import add_users

# In dependency order: each step may use what the earlier ones added.
_STEPS = (add_users, add_courses, add_assignments, add_enrollments, add_submissions)


def simulate_follow_up(
    out_dir: Path, seed: int, bad_lines: bool, progress: ProgressCallback | None,
    shape: str | None = None,
) -> dict:
    """Write the next ``batch-NNNN`` under ``out_dir``; return its manifest.

    ``shape`` None: the shape of the batch before it.
    """
    batch = FollowUpBatch(out_dir, seed, bad_lines)
    for step in _STEPS:
        step(batch)
    finish = None
    if (shape or batch.shape) == "cd2":
        deletes = pick_deletes(seed, batch.number, batch.delete_candidates())

        def finish(tmp: Path, manifest: dict) -> dict:
            return convert_batch(tmp, manifest, deletes, progress)
    return write_batch(
        out_dir,
        batch_name(batch.number),
        lambda tmp: batch.write(tmp, progress),
        finish,
    )
