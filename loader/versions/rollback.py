"""`loader rollback LOAD_ID`: undo one committed load, in one transaction under
the source's lock.

For the load (and, with cascade, every later load of the same table first,
newest first): the rows it wrote (raw rows whose load_id is the load's: its
inserts, updates and delete marks) move to history as 'rolled_back'; the
versions it replaced or deleted (history rows superseded_by the load) move
back into raw with a new ingested_at (so incremental models take them again);
the watermark row goes back to what it was before the load (meta.load_file's
prior_state); the load's meta.load_file row becomes 'rolled_back' (so the
file can be loaded again). Curated models drop the rows built from a
rolled-back load (macros/cross_db/rollback.sql). --dry-run counts and changes
nothing. The rollback is a meta.job_run row of its own.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from .. import audit, contract
from ..backends import backend_for
from ..errors import RollbackRefused
from ..faults import crash_point
from ..profiles import Target

SAMPLE_IDS = 5


@dataclass
class LoadRecord:
    """A meta.load_file row as the rollback needs it."""

    load_id: str
    source_name: str
    target_table: str
    status: str
    source_file: str
    prior: dict | None  # prior_state, parsed (None: loaded before history existed)
    order: str  # when it applied: its ingested_at (or ended_at), for "later"


@dataclass
class Undo:
    """What rolling back one load does (or would do)."""

    load_id: str
    target_table: str
    source_file: str
    removed: int = 0  # records it inserted: gone from raw
    restored: int = 0  # records it updated or deleted: the version before is back
    removed_ids: list = field(default_factory=list)
    restored_ids: list = field(default_factory=list)
    watermark: str | None = None  # the watermark after the rollback


@dataclass
class RollbackResult:
    rollback_id: str
    dry_run: bool
    undone: list[Undo]


def rollback(target: Target, load_id: str, cascade: bool = False, dry_run: bool = False,
             lock_timeout: float = 60.0, on_wait=None) -> RollbackResult:
    """Roll back load_id (and with cascade the later loads of its table, newest
    first). Raises RollbackRefused when it cannot."""
    started = time.monotonic()
    rollback_id = uuid.uuid4().hex
    backend = backend_for(target)
    backend.connect(lock_timeout, on_wait)
    try:
        if not dry_run:
            backend.begin()
            backend.ensure_meta()
            backend.commit()
            audit.job_start(backend, rollback_id, f"rollback {load_id}", "{}")
            crash_point("rollback_after_job_start")
        backend.begin()
        try:
            result = _rollback(backend, rollback_id, load_id, cascade, dry_run)
        except BaseException as exc:  # noqa: BLE001 - record, then re-raise
            backend.rollback()
            if not dry_run:
                _record_failure(backend, rollback_id, exc, started)
            raise
        if dry_run:
            backend.rollback()
            return result
        audit.job_finish(backend, rollback_id, "success", _metrics(result), None,
                         round((time.monotonic() - started) * 1000))
        crash_point("rollback_before_commit")
        backend.commit()
        crash_point("rollback_after_commit")
        return result
    finally:
        backend.close()


def _rollback(backend, rollback_id: str, load_id: str, cascade: bool,
              dry_run: bool) -> RollbackResult:
    load = _find_load(backend, load_id)
    backend.lock_source(load.source_name)
    load = _find_load(backend, load_id)  # again, under the lock
    later = _later_loads(backend, load)
    if later and not cascade:
        names = ", ".join(f"{x.load_id} ({x.source_file})" for x in later)
        raise RollbackRefused(
            f"load {load_id} has {len(later)} later load(s) of {load.target_table} built "
            f"on it: {names}", "Roll them back too with --cascade (newest first)")
    undone = []
    for each in [*later, load]:
        if each.source_name != load.source_name:
            backend.lock_source(each.source_name)
        _check_undoable(each)
        undone.append(undo_load(backend, each, rollback_id, dry_run))
        crash_point("rollback_after_load")
    return RollbackResult(rollback_id, dry_run, undone)


def _find_load(backend, load_id: str) -> LoadRecord:
    rows = backend.execute(
        "select load_id, source_name, target_table, status, source_file, prior_state, "
        f"ended_at from meta.load_file where load_id = {backend.param}", (load_id,)).fetchall()
    if not rows:
        raise RollbackRefused(f"no load {load_id} in meta.load_file",
                              "See the loads with `loader status` or in meta.load_file")
    load = _record(rows[0])
    if load.status != "success":
        what = "rolled back already" if load.status == "rolled_back" else \
            f"{load.status}: it wrote nothing"
        raise RollbackRefused(f"load {load_id} is {what}", "Nothing to roll back")
    return load


def _record(row) -> LoadRecord:
    load_id, source, table, status, source_file, prior_text, ended_at = row
    prior = orjson.loads(prior_text) if prior_text else None
    order = (prior or {}).get("ingested_at") or _iso(ended_at)
    return LoadRecord(load_id, source, table, status, source_file, prior, order or "")


def _later_loads(backend, load: LoadRecord) -> list[LoadRecord]:
    """The committed loads of the same table that applied after load, newest first."""
    rows = backend.execute(
        "select load_id, source_name, target_table, status, source_file, prior_state, "
        f"ended_at from meta.load_file where target_table = {backend.param} "
        f"and status = 'success' and load_id <> {backend.param}",
        (load.target_table, load.load_id)).fetchall()
    later = [r for r in map(_record, rows) if r.order > load.order]
    return sorted(later, key=lambda r: r.order, reverse=True)


def _check_undoable(load: LoadRecord) -> None:
    if load.prior is None or not load.prior.get("history"):
        raise RollbackRefused(
            f"load {load.load_id} kept no history (loaded with history off, or before "
            "history existed): the versions it replaced are gone",
            "Reload the data instead")


def undo_load(backend, load: LoadRecord, rollback_id: str, dry_run: bool) -> Undo:
    """One load's rows out of raw, the versions before back in, its watermark and
    load_file row as they were before it (inside the caller's transaction)."""
    schema, name = load.target_table.split(".")
    raw = backend.table(schema, name)
    history = backend.table(schema, contract.history_name(name))
    p = backend.param
    undo = Undo(load.load_id, load.target_table, load.source_file)
    restore = f"from {history} where superseded_by = {p} and change_kind <> 'rolled_back'"
    undo.restored_ids = _ids(backend, f"select id {restore}", load.load_id)
    written = _ids(backend, f"select id from {raw} where load_id = {p}", load.load_id)
    undo.removed_ids = sorted(set(written) - set(undo.restored_ids))
    undo.removed, undo.restored = len(undo.removed_ids), len(undo.restored_ids)
    undo.watermark = (load.prior["watermark"] or {}).get("last_updated_at")
    if dry_run:
        return undo
    now = backend.ingest_clock(raw)
    columns = ", ".join(contract.RAW_COLUMNS)
    backend.execute(
        f"insert into {history} ({columns}, superseded_at, superseded_by, change_kind) "
        f"select {columns}, {p}, {p}, 'rolled_back' from {raw} where load_id = {p}",
        (now, rollback_id, load.load_id))
    backend.execute(f"delete from {raw} where load_id = {p}", (load.load_id,))
    crash_point("rollback_after_remove")
    kept = [c if c != "ingested_at" else p for c in contract.RAW_COLUMNS]
    backend.execute(f"insert into {raw} ({columns}) select {', '.join(kept)} {restore}",
                    (now, load.load_id))
    backend.execute(f"delete {restore}", (load.load_id,))
    crash_point("rollback_after_restore")
    _restore_watermark(backend, load)
    backend.execute(f"update meta.load_file set status = 'rolled_back' where load_id = {p}",
                    (load.load_id,))
    return undo


def _ids(backend, sql: str, load_id: str) -> list[str]:
    return sorted(r[0] for r in backend.execute(sql, (load_id,)).fetchall())


def _restore_watermark(backend, load: LoadRecord) -> None:
    """The source's watermark row exactly as before the load (or none)."""
    p = backend.param
    backend.execute(f"delete from meta.watermark where source_name = {p}", (load.source_name,))
    mark = load.prior["watermark"]
    if mark is not None:
        backend.execute(
            "insert into meta.watermark (source_name, last_updated_at, load_id, updated_at) "
            f"values ({p}, {p}, {p}, {p})",
            (load.source_name, _ts(mark["last_updated_at"]), mark["load_id"],
             _ts(mark["updated_at"])))


def _ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _metrics(result: RollbackResult) -> str:
    return orjson.dumps({"rollback_id": result.rollback_id, "loads": [
        {"load_id": u.load_id, "table": u.target_table, "removed": u.removed,
         "restored": u.restored, "watermark": u.watermark} for u in result.undone]}).decode()


def _record_failure(backend, rollback_id: str, exc: BaseException, started: float) -> None:
    try:
        backend.begin()
        audit.job_finish(backend, rollback_id, "failed", "{}", (str(exc) or
                         type(exc).__name__)[:4000], round((time.monotonic() - started) * 1000))
        backend.commit()
    except Exception:  # noqa: BLE001 - the original error is what the user needs
        backend.rollback()
