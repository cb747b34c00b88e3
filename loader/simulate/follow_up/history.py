"""What a follow-up knows of the earlier batches: their manifests and latest lines per id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from ..calendar import parse_ts
from ..cd2 import is_cd2, rest_record
from ..entities import UPDATED_AT_ENTITIES
from ..errors import SimulateError
from ..writer import MANIFEST_NAME, batch_number, file_name

# A follow-up keeps at most this many submission lines per earlier file in memory
# (the first ones); the much smaller follow-up files are always read whole.
SUBMISSION_SCAN_LIMIT = 50_000


def existing_batches(out_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for path in out_dir.glob("batch-*") if out_dir.is_dir() else ():
        number = batch_number(path.name)
        if path.is_dir() and number is not None:
            found.append((number, path))
    return sorted(found)


def read_manifest(batch_dir: Path) -> dict:
    path = batch_dir / MANIFEST_NAME
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SimulateError(
            f"{path} is missing or unreadable ({exc})",
            f"Check that {batch_dir.name} was written by `loader simulate`, "
            "or start again in an empty directory",
        ) from exc


def _loads_object(line: bytes) -> dict | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class Source:
    """The latest line per id of one source over the earlier batches."""

    lines: dict[int, bytes]
    max_updated_at: str | None  # the raw string, as the watermark boundary is reused verbatim


def read_source(batch_dirs: list[Path], entity: str, max_lines: int | None = None) -> Source:
    """Replay the earlier batches in order, keeping what a loader would have kept.

    Lines a loader rejects (not an object, no integer id, unparsable ``updated_at``)
    are skipped. CD2 lines are read back as the REST records they were made from (a
    delete removes its id). ``max_lines`` caps the lines read per file (a sample for huge sets).
    """
    has_updated_at = entity in UPDATED_AT_ENTITIES
    lines: dict[int, bytes] = {}
    max_t, max_raw = None, None
    for batch_dir in batch_dirs:
        path = batch_dir / file_name(entity)
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for number, line in enumerate(handle):
                if max_lines is not None and number >= max_lines:
                    break
                record = _loads_object(line)
                if is_cd2(record):
                    rid = record["key"].get("id")
                    record = rest_record(entity, record) if type(rid) is int else None
                    if record is None:  # a delete (the record is gone) or no id
                        lines.pop(rid, None)
                        continue
                    line = orjson.dumps(record)
                if record is None or type(record.get("id")) is not int:
                    continue
                if has_updated_at:
                    t = parse_ts(record.get("updated_at"))
                    if t is None:
                        continue
                    if max_t is None or t > max_t:
                        max_t, max_raw = t, record["updated_at"]
                lines[record["id"]] = line.rstrip(b"\r\n")
    return Source(lines, max_raw)
