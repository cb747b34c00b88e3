"""The pipeline config: which files land in which raw table, keyed how.

pipeline.yml (project root) maps each source to a glob of files (relative to
the data directory), a raw table, an id field and an optional updated field.
Sources load in the order listed, each source's files in name order, so a
batch directory layout (batch-0001/, batch-0002/, ...) replays in time order.
A directory the glob matches is a DAP job directory (`job_<id>/` of gzip JSONL
parts), loaded whole as one load, after the files, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

from .checks import VolumeSettings
from .errors import ConfigError, LoaderError
from .options import LoadOptions


@dataclass
class SourceConfig:
    name: str
    files: str
    options: LoadOptions  # checked as `loader load` checks its options

    @property
    def table(self) -> str:
        return self.options.table

    def matching_files(self, data_dir: Path) -> list[Path]:
        """The files the pattern matches, in name order, then the directories it
        matches (DAP job directories, each loaded whole) oldest first: by
        modification time, ties by name (a DAP job id is no order)."""
        matches = list(data_dir.glob(self.files))
        files = sorted(p for p in matches if p.is_file())
        dirs = sorted((p for p in matches if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: (p.stat().st_mtime_ns, p.name))
        return files + dirs

    def load_options(self, **overrides) -> LoadOptions:
        """This source's options with run-wide settings (e.g. lock_timeout)."""
        return replace(self.options, **overrides)


_KEYS = ("name", "table", "files", "id_field", "updated_field", "incremental", "shape",
         "strategy", "snapshot_min_ratio", "contract", "payload_drift",
         "history")
# The file format and its reader's settings: passed to LoadOptions, which checks them.
_FORMAT_KEYS = ("format", "delimiter", "encoding", "sheet", "header_row", "json_path",
                "null_values", "types")


def read_pipeline(path: Path) -> list[SourceConfig]:
    """The sources of path, validated before anything runs: every value is checked
    (names are identifiers, files a relative pattern, incremental a boolean) and an
    error names the file, the source and the key."""
    if not path.is_file():
        raise ConfigError(f"pipeline config {path} not found", "Pass --config or create it")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        # The position only: PyYAML's own message quotes lines of the file.
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})",
                          "Fix the file at that line") from None
    entries = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path} lists no sources",
                          "Give it a 'sources:' list (see pipeline.yml in the project)")
    sources = []
    for i, entry in enumerate(entries, start=1):
        sources.append(_source(entry, f"{path}: source #{i}", path.parent))
    names = [s.name for s in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: source {twice[0]!r} is listed twice",
                          "Give every source its own name (it keys its watermark)")
    return sources


def _source(entry, where: str, config_dir: Path) -> SourceConfig:
    if not isinstance(entry, dict) or not {"name", "table", "files"} <= entry.keys():
        raise ConfigError(f"{where} needs name, table and files")
    unknown = sorted(str(k) for k in entry if k not in _KEYS + _FORMAT_KEYS)
    if unknown:
        raise ConfigError(f"{where} has an unknown key {unknown[0]!r}",
                          f"Known keys: {', '.join(_KEYS + _FORMAT_KEYS)}")
    for key in ("name", "table", "files", "id_field", "updated_field", "shape", "strategy"):
        value = entry.get(key)
        if key in entry and not (isinstance(value, str) and value.strip()):
            if key == "updated_field" and value is None:
                continue
            raise ConfigError(f"{where}: {key} must be a non-empty text, not {value!r}")
    for key, default in (("incremental", False), ("payload_drift", True), ("history", True)):
        if not isinstance(entry.get(key, default), bool):
            raise ConfigError(f"{where}: {key} must be true or false, not {entry[key]!r}")
    incremental, history = entry.get("incremental", False), entry.get("history", True)
    files = entry["files"]
    if Path(files).is_absolute() or ".." in Path(files).parts:
        raise ConfigError(f"{where}: files {files!r} must be a pattern inside --data-dir",
                          "Use a relative glob such as */canvas_users.jsonl*")
    try:
        options = LoadOptions(
            table=entry["table"], id_field=entry.get("id_field", "id"), source_name=entry["name"],
            updated_field=entry.get("updated_field"), incremental=incremental,
            shape=entry.get("shape", "auto"), strategy=entry.get("strategy", "upsert"),
            snapshot_min_ratio=entry.get("snapshot_min_ratio", 0.5),
            contract=_contract_path(entry.get("contract"), config_dir), spelling="pipeline",
            payload_drift=entry.get("payload_drift", True), history=history,
            **{key: entry[key] for key in _FORMAT_KEYS if key in entry},
        )
    except LoaderError as exc:
        raise ConfigError(f"{where}: {exc.message}", exc.hint) from None
    return SourceConfig(name=options.source_name, files=files, options=options)


def _contract_path(value, config_dir: Path):
    """A contract file named in pipeline.yml is relative to pipeline.yml's directory."""
    if isinstance(value, str) and value.strip() and not Path(value).is_absolute():
        return str(config_dir / value)
    return value


def read_volume_settings(path: Path) -> VolumeSettings:
    """pipeline.yml's `checks: volume:` block (history, min_history, min_ratio,
    max_shrink, severity), each key checked; the defaults for what it leaves out."""
    doc = yaml.safe_load(path.read_text()) or {}
    block = ((doc.get("checks") or {}) if isinstance(doc, dict) else {}).get("volume") or {}
    where = f"{path}: checks.volume"
    if not isinstance(block, dict):
        raise ConfigError(f"{where} must be a mapping")
    defaults = VolumeSettings()
    known = [f.name for f in fields(VolumeSettings)]
    for key, value in block.items():
        if key not in known:
            raise ConfigError(f"{where} has an unknown key {key!r}",
                              f"Known keys: {', '.join(known)}")
        if key == "severity" and value not in ("warn", "error"):
            raise ConfigError(f"{where}.severity must be warn or error, not {value!r}")
        if key in ("min_ratio", "max_shrink") and not (
                isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ConfigError(f"{where}.{key} must be a share between 0 and 1, not {value!r}")
        if key in ("history", "min_history") and not (isinstance(value, int) and value >= 1):
            raise ConfigError(f"{where}.{key} must be a whole number of loads, not {value!r}")
    return replace(defaults, **block)
