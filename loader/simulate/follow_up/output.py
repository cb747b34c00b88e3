"""One follow-up file in the making: its lines by category, and its bad lines."""

from __future__ import annotations

from pathlib import Path

import orjson

from ..entities import UPDATED_AT_ENTITIES
from ..writer import JsonlWriter, ProgressCallback, file_name


class FileOut:
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
        name = file_name(self.entity)
        bad_lines = []
        with JsonlWriter(batch_dir / name, progress) as out:
            for number, (line, reason_kind) in enumerate(lines, start=1):
                out.line(line)
                if reason_kind is not None:
                    bad_lines.append(
                        {"file": name, "line_number": number, "reason_kind": reason_kind}
                    )
        return len(lines), bad_lines

    def sorted_categories(self) -> dict:
        return {
            name: {**ids, "ids": sorted(ids["ids"])} if isinstance(ids, dict) else sorted(ids)
            for name, ids in self.categories.items()
        }
