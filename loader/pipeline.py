"""The pipeline config: which files land in which raw table, keyed how.

pipeline.yml (project root) maps each source to a glob of files (relative to
the data directory), a raw table, an id field and an optional updated field.
Sources load in the order listed, each source's files in name order, so a
batch directory layout (batch-0001/, batch-0002/, ...) replays in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError
from .identifiers import check_field_name, check_source_name, parse_table_name


@dataclass
class SourceConfig:
    name: str
    table: str
    files: str
    id_field: str = "id"
    updated_field: str | None = None
    incremental: bool = False

    def matching_files(self, data_dir: Path) -> list[Path]:
        return sorted(p for p in data_dir.glob(self.files) if p.is_file())


def read_pipeline(path: Path) -> list[SourceConfig]:
    if not path.is_file():
        raise ConfigError(f"pipeline config {path} not found", "Pass --config or create it")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    sources = []
    for i, entry in enumerate(doc.get("sources") or [], start=1):
        if not isinstance(entry, dict) or not {"name", "table", "files"} <= entry.keys():
            raise ConfigError(f"{path}: source #{i} needs name, table and files")
        src = SourceConfig(
            name=check_source_name(str(entry["name"])),
            table=".".join(parse_table_name(str(entry["table"]))),
            files=str(entry["files"]),
            id_field=check_field_name(str(entry.get("id_field", "id")), "id_field"),
            updated_field=entry.get("updated_field"),
            incremental=bool(entry.get("incremental", False)),
        )
        if src.updated_field:
            check_field_name(str(src.updated_field), "updated_field")
        sources.append(src)
    if not sources:
        raise ConfigError(f"{path} lists no sources")
    return sources
