"""`loader history --table raw.X ID`: a record's versions, oldest first, and what
changed in its payload from one version to the next (keys added, removed and
changed; for an envelope, the record inside it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .. import contract
from ..errors import ConfigError
from ..identifiers import parse_table_name


@dataclass
class Version:
    load_id: str | None
    source_file: str | None
    ingested_at: object
    ended_at: object  # superseded_at; None for the current version
    why: str  # updated | deleted | rolled_back (what ended it), or current
    deleted_at: object
    payload: dict
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def record_versions(backend, table: str, record_id: str) -> list[Version]:
    """Every kept version of record_id in table (history, then raw), oldest first."""
    schema, name = parse_table_name(table)
    raw, history = backend.table(schema, name), backend.table(schema, contract.history_name(name))
    if contract.history_name(name) not in backend.existing_tables(schema):
        raise ConfigError(f"no history table for {schema}.{name}",
                          "Load into it first: the load creates raw.<table>__history")
    p = backend.param
    rows = backend.execute(
        "select load_id, source_file, ingested_at, superseded_at, change_kind, deleted_at, "
        f"payload from {history} where id = {p}", (record_id,)).fetchall()
    rows += [(load_id, source_file, ingested_at, None, "current", deleted_at, payload)
             for load_id, source_file, ingested_at, deleted_at, payload in backend.execute(
                 "select load_id, source_file, ingested_at, deleted_at, payload "
                 f"from {raw} where id = {p}", (record_id,)).fetchall()]
    versions = [Version(*row[:6], payload=_record(row[6])) for row in rows]
    versions.sort(key=lambda v: (v.ingested_at, v.ended_at is None, str(v.ended_at)))
    for before, after in zip(versions, versions[1:]):
        _diff(before, after)
    return versions


def _record(payload) -> dict:
    body = payload if isinstance(payload, dict) else json.loads(payload or "null")
    if isinstance(body, dict) and isinstance(body.get("value"), dict) and "key" in body:
        return body["value"]  # Canvas Data 2
    if isinstance(body, dict) and "after" in body and "op" in body:
        return body.get("after") or body.get("before") or {}  # Debezium
    return body if isinstance(body, dict) else {}


def _diff(before: Version, after: Version) -> None:
    old, new = before.payload, after.payload
    after.added = sorted(k for k in new if k not in old)
    after.removed = sorted(k for k in old if k not in new)
    after.changed = sorted(k for k in new if k in old and new[k] != old[k])


def format_versions(table: str, record_id: str, versions: list[Version]) -> str:
    if not versions:
        return f"{table} has no version of id {record_id}"
    out = [f"{table} id {record_id}: {len(versions)} version"
           + ("" if len(versions) == 1 else "s")]
    for number, v in enumerate(versions, start=1):
        until = "current" if v.why == "current" else f"until {v.ended_at} ({v.why})"
        deleted = f", deleted at {v.deleted_at}" if v.deleted_at is not None else ""
        out.append(f"{number:>3}  load {v.load_id}  {v.source_file}  "
                   f"ingested {v.ingested_at}, {until}{deleted}")
        if number == 1:
            out.append("       first kept version")
            continue
        parts = [f"{kind}: {', '.join(keys)}" for kind, keys in
                 (("added", v.added), ("removed", v.removed), ("changed", v.changed)) if keys]
        out.append("       " + ("; ".join(parts) if parts else "payload unchanged"))
    return "\n".join(out)
