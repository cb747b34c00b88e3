"""Payload drift: a load's key profile (read/profile.py) against what the source's
earlier loads carried (meta.payload_key), in the load's transaction.

    key_added         a path no earlier load of the source carried
    key_removed       a path every profiled record of the source's last load
                      that saw it carried, and no record of this load does
                      (a key left out now and then, as CD2 leaves out nulls,
                      is never "removed"; a renamed key is one removed, one added)
    key_type_changed  a path whose JSON type (nulls aside) differs

Each change is a meta.schema_change_log row (run_id = the load id, table_schema
`raw`, column_name = the JSON path; old/new_definition a JSON object with the
type, the first file and line, and up to three sample ids), so it shows where
schema changes show: `loader run`'s "Schema changes", `loader status`,
meta.v_schema_changes_latest. The first load of a source only records its keys.
"""

from __future__ import annotations

import orjson

from .contract import META_SCHEMA as META


def record_drift(backend, spec, profile, locate=None) -> list[tuple[str, str]]:
    """Compare, store the profile, log the changes; return [(change_type, path)].
    ``locate(line)``: the (file, line) of a line of the load's input (a DAP job
    directory's part); by default the load's file."""
    locate = locate or (lambda line: (spec.source_file, line))
    if not profile.records:
        return []
    p = backend.param
    known = {path: (json_type, bool(always)) for path, json_type, always in backend.execute(
        f"select key_path, json_type, always_present from {META}.payload_key "
        f"where source_name = {p}", (spec.source_name,)).fetchall()}
    changes = _changes(known, profile, spec, locate) if known else []
    _store(backend, spec, profile, known, locate)
    if changes:
        backend.insert_rows(
            f"{META}.schema_change_log",
            ["run_id", "table_schema", "table_name", "change_type", "column_name",
             "old_definition", "new_definition"],
            [(spec.load_id, spec.schema, spec.name, change, path, old, new)
             for change, path, old, new in changes],
            now_column="detected_at")
    return [(change, path) for change, path, _, _ in changes]


def _definition(json_type: str, spec=None, stats=None, locate=None) -> str:
    out = {"json_type": json_type}
    if stats is not None:
        first_file, first_line = locate(stats.first_line)
        out.update(first_file=first_file, first_line=first_line,
                   sample_ids=stats.sample_ids, load_id=spec.load_id)
    return orjson.dumps(out).decode()


def _changes(known: dict, profile, spec, locate) -> list[tuple]:
    changes = []
    for path, stats in sorted(profile.paths.items()):
        new_type = stats.json_type
        if path not in known or known[path][0] == "gone":
            changes.append(("key_added", path, None,
                            _definition(new_type, spec, stats, locate)))
        elif "null" not in (new_type, known[path][0]) and new_type != known[path][0]:
            changes.append(("key_type_changed", path, _definition(known[path][0]),
                            _definition(new_type, spec, stats, locate)))
    for path, (json_type, always) in sorted(known.items()):
        if always and path not in profile.paths and json_type != "gone":
            new = orjson.dumps({"json_type": None, "first_file": spec.source_file,
                                "records_profiled": profile.records,
                                "load_id": spec.load_id}).decode()
            changes.append(("key_removed", path, _definition(json_type), new))
    return changes


def _store(backend, spec, profile, known: dict, locate) -> None:
    """New paths inserted; known ones get their type, presence and last load; paths
    reported removed are kept with the type 'gone' (reported once)."""
    p = backend.param
    for path, stats in profile.paths.items():
        if path in known:
            json_type = stats.json_type if stats.json_type != "null" else known[path][0]
            backend.execute(
                f"update {META}.payload_key set json_type = {p}, always_present = {p}, "
                f"last_load_id = {p}, last_seen_at = {backend.now_sql()} "
                f"where source_name = {p} and key_path = {p}",
                (json_type, int(profile.always(path)), spec.load_id, spec.source_name, path))
    new_rows = [(spec.source_name, path, stats.json_type, int(profile.always(path)),
                 spec.load_id, *locate(stats.first_line),
                 orjson.dumps(stats.sample_ids).decode(), spec.load_id)
                for path, stats in profile.paths.items() if path not in known]
    backend.insert_rows(f"{META}.payload_key",
                        ["source_name", "key_path", "json_type", "always_present",
                         "first_load_id", "first_file", "first_line", "sample_ids",
                         "last_load_id"], new_rows, now_column="last_seen_at")
    gone = [path for path, (_, always) in known.items()
            if always and path not in profile.paths]
    for path in gone:
        backend.execute(
            f"update {META}.payload_key set json_type = 'gone', always_present = 0 "
            f"where source_name = {p} and key_path = {p}", (spec.source_name, path))
