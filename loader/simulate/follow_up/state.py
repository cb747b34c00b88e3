"""The state of one follow-up batch in the making, shared by the per-entity steps."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import orjson

from ..calendar import between, extract_time, iso_z, parse_ts
from ..entities import ENTITIES, Ids
from ..errors import SimulateError
from ..writer import ProgressCallback, batch_name, file_name
from .history import SUBMISSION_SCAN_LIMIT, existing_batches, read_manifest, read_source
from .output import FileOut


def share(n: int, fraction: float, low: int, high: int) -> int:
    return max(low, min(high, round(n * fraction)))


class FollowUpBatch:
    """Follow-up batch ``number`` built from the earlier batches' latest records.

    The steps (users, courses, assignments, enrollments, submissions, in that order)
    fill ``out``, and leave what later steps need in ``new_*``, ``pending_users`` and
    ``late``.
    """

    def __init__(self, out_dir: Path, seed: int, bad_lines: bool):
        batches = existing_batches(out_dir)
        if not batches or batches[0][0] != 1:
            raise SimulateError(
                f"{out_dir} has no {batch_name(1)}",
                f"Run `loader simulate {out_dir}` without --follow-up first",
            )
        manifests = [read_manifest(path) for _, path in batches]
        batch_dirs = [path for _, path in batches]
        self.number = batches[-1][0] + 1
        self.seed = seed
        self.bad_lines = bad_lines
        self.rng = random.Random(f"{seed}:{batch_name(self.number)}")
        self.t0, self.t1 = extract_time(batches[-1][0]), extract_time(self.number)
        self.ids = Ids(manifests[-1]["next_ids"])
        self.shape = manifests[-1].get("shape", "rest")
        self.delivered_users: list[dict] = manifests[-1].get("pending_users", [])
        faults = manifests[0].get("seeded_faults", {})
        # Seeded bad submissions are never "changed", so the DQ findings persist.
        self.faulty_submissions = {
            sid for kind in ("score_out_of_range", "unknown_workflow_state")
            for sid in faults.get(kind, ())
        }
        self._read_earlier(batch_dirs)
        self.late = {"user_ids": [], "enrollment_ids": [], "submission_ids": []}
        self.new_students: list[dict] = []
        self.pending_users: list[dict] = []
        self.new_course: dict | None = None
        self.new_assignments: list[dict] = []
        self.new_enrollments: list[dict] = []

    def _read_earlier(self, batch_dirs: list[Path]) -> None:
        self.sources = {
            entity: read_source(
                batch_dirs, entity, SUBMISSION_SCAN_LIMIT if entity == "submissions" else None
            )
            for entity in ENTITIES
        }
        self.data = {
            entity: {rid: orjson.loads(line) for rid, line in self.sources[entity].lines.items()}
            for entity in ENTITIES[:-1]
        }
        self.out = {
            entity: FileOut(entity, self.sources[entity].max_updated_at) for entity in ENTITIES
        }

    # -- helpers for the steps

    def moment(self, after: int | None = None) -> int:
        """A time in this batch's window ``(previous export, this export]``."""
        return between(self.rng, max(self.t0, after or self.t0), self.t1)

    def pick(self, ids: Iterable[int], *sizes: int) -> list[list[int]]:
        """Disjoint random groups of the given sizes (smaller when ids run out)."""
        pool = sorted(ids)
        chosen = self.rng.sample(pool, min(len(pool), sum(sizes)))
        groups, start = [], 0
        for size in sizes:
            groups.append(sorted(chosen[start : start + size]))
            start += size
        return groups

    def boundary(self, entity: str) -> tuple[str, int] | None:
        raw = self.sources[entity].max_updated_at
        return None if raw is None else (raw, parse_ts(raw))

    def random_course(self) -> dict:
        courses = self.data["courses"]
        return courses[self.rng.choice(sorted(courses))]

    def resend(self, entity: str, ids: list[int]) -> None:
        """Re-send the earlier batches' latest lines of ``ids`` byte-identical."""
        for rid in ids:
            self.out[entity].resend(rid, self.sources[entity].lines[rid])

    def users_of(self, etype: str) -> list[int]:
        return sorted(
            {e["user_id"] for e in self.data["enrollments"].values() if e.get("type") == etype}
        )

    def delete_candidates(self) -> dict[str, set[int]]:
        """Earlier records this batch does not send (a CD2 follow-up deletes some);
        the seeded faulty submissions stay, so their DQ findings persist."""
        def sent(entity: str) -> set[int]:
            return {rid for rid, _ in self.out[entity].lines}

        return {
            "submissions": set(self.sources["submissions"].lines)
            - sent("submissions") - self.faulty_submissions,
            "enrollments": set(self.data["enrollments"]) - sent("enrollments"),
        }

    # -- output

    def write(self, batch_dir: Path, progress: ProgressCallback | None) -> dict:
        line_counts, bad_lines = {}, []
        for entity in ENTITIES:
            count, bad = self.out[entity].write(batch_dir, progress)
            line_counts[file_name(entity)] = count
            bad_lines.extend(bad)
        return {
            "batch": batch_name(self.number),
            "seed": self.seed,
            "extracted_at": iso_z(self.t1),
            "previous_extracted_at": iso_z(self.t0),
            "line_counts": line_counts,
            "next_ids": self.ids.next,
            "categories": {entity: self.out[entity].sorted_categories() for entity in ENTITIES},
            "late_arriving": self.late
            | {"delivered_user_ids": sorted(u["id"] for u in self.delivered_users)},
            "bad_lines": bad_lines,
            "pending_users": self.pending_users,
        }
