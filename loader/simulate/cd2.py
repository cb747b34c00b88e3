"""Canvas Data 2 batches: the simulated REST records as CD2 envelopes, with deletes.

``--shape cd2`` writes the same records as the REST batch of the same seed, each as
``{"key": {"id": N}, "value": {...}, "meta": {"action": "U", "ts": ...}}`` (the id in
``key`` only, as Instructure's DAP client writes it), with the CD2 column names that
staging maps (the ``CD2:`` lines in ``models/staging/stg_canvas__*.sql``), and a
follow-up batch appends key-only deletes (``"action": "D"``) of records the earlier
batches delivered. Nulls are written as null (the DAP client leaves them out;
staging reads both). ``meta.ts`` is the record's ``updated_at``, else the batch's
export time.

Lines that are bad in the REST batch stay bad: a line that is no JSON object stays
as it is, an object without its id gets an empty ``key`` (a reject either way).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import orjson

from .writer import JsonlWriter, ProgressCallback, batch_name

# REST name -> CD2 name, per entity: only the names staging reads that CD2 spells
# differently (tests/test_simulate_cd2.py checks each against the staging model).
RENAMES: dict[str, dict[str, str]] = {
    "assignments": {"name": "title", "course_id": "context_id"},
    "enrollments": {"enrollment_state": "workflow_state"},
    "courses": {"sis_course_id": "sis_source_id", "end_at": "conclude_at"},
}
# REST fields CD2 does not have: an assignment's `published` is its workflow_state.
DROPPED: dict[str, tuple[str, ...]] = {"assignments": ("published",)}
# What a CD2 follow-up deletes: a share of the earlier records (low, high bounds).
DELETE_SHARE = {"submissions": (0.01, 2, 100), "enrollments": (0.005, 1, 20)}


def envelope(entity: str, record: dict, ts: str) -> dict:
    """A REST record as a CD2 upsert (its id in ``key``, CD2 names in ``value``)."""
    renames, dropped = RENAMES.get(entity, {}), DROPPED.get(entity, ())
    rid = record.get("id")
    value = {
        renames.get(name, name): item
        for name, item in record.items()
        if name != "id" and name not in dropped
    }
    key = {"id": rid} if type(rid) is int else {}
    meta = {"action": "U", "ts": record.get("updated_at") or ts}
    return {"key": key, "value": value, "meta": meta}


def delete_envelope(rid: int, ts: str) -> dict:
    return {"key": {"id": rid}, "meta": {"action": "D", "ts": ts}}


def rest_record(entity: str, obj: dict) -> dict | None:
    """A CD2 line back as the REST record it was made from; None for a delete."""
    if obj["meta"].get("action") == "D":
        return None
    back = {cd2: rest for rest, cd2 in RENAMES.get(entity, {}).items()}
    record = {"id": obj["key"].get("id")}
    record.update((back.get(name, name), item) for name, item in obj["value"].items())
    if entity == "assignments":
        record["published"] = record.get("workflow_state") == "published"
    return record


def is_cd2(obj: object) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("key"), dict) \
        and isinstance(obj.get("meta"), dict)


def pick_deletes(seed: int, number: int, candidates: dict[str, set[int]]) -> dict[str, list]:
    """The ids a CD2 follow-up deletes, from its own random stream (so the rest of the
    batch is the REST batch of the same seed)."""
    rng = random.Random(f"{seed}:{batch_name(number)}:cd2-deletes")
    deletes = {}
    for entity, (fraction, low, high) in DELETE_SHARE.items():
        pool = sorted(candidates.get(entity, ()))
        size = max(low, min(high, round(len(pool) * fraction)))
        deletes[entity] = sorted(rng.sample(pool, min(size, len(pool))))
    return deletes


def convert_batch(batch_dir: Path, manifest: dict, deletes: dict[str, list[int]],
                  progress: ProgressCallback | None) -> dict:
    """Rewrite a REST batch directory's files as CD2 in place; return the manifest."""
    ts = manifest["extracted_at"]
    for name in list(manifest["line_counts"]):
        entity = name.removeprefix("canvas_").removesuffix(".jsonl")
        ids = deletes.get(entity, [])
        manifest["line_counts"][name] = _convert_file(batch_dir / name, entity, ts, ids,
                                                      progress)
        if "categories" in manifest:
            manifest["categories"][entity]["deleted"] = ids
    manifest["shape"] = "cd2"
    return manifest


def _convert_file(path: Path, entity: str, ts: str, deletes: list[int],
                  progress: ProgressCallback | None) -> int:
    tmp = path.with_name(path.name + ".cd2")
    with path.open("rb") as lines, JsonlWriter(tmp, progress) as out:
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                out.record(envelope(entity, record, ts))
            else:
                out.line(line if line.endswith(b"\n") else line + b"\n")
        for rid in deletes:
            out.record(delete_envelope(rid, ts))
    os.replace(tmp, path)
    return out.lines
