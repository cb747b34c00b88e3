"""History of raw: the versions a load replaces or deletes, kept in raw.<table>__history.

Two apply steps call in here, just before they change raw, so every way a
record stops being current is caught in one place: upsert (a changed or
re-inserted record: change_kind 'updated') and mark_deleted (every delete
source: envelope deletes, soft deletes, snapshot absences: 'deleted'). A
history row is the raw row as it was, plus superseded_at (the ingested_at of
the load that replaced it), superseded_by (that load's id) and change_kind.
A version written by the same load is not kept (it never was current between
loads), so a first load writes nothing here. `loader rollback` adds
'rolled_back' rows (loader/versions/). SQL Server runs the same steps inside
its T-SQL batches (backends/sqlserver/tsql.py: history_*_sql).
"""

from __future__ import annotations

from .. import contract

EXTRA_COLUMNS = ("superseded_at", "superseded_by", "change_kind")
KINDS = ("updated", "deleted", "rolled_back")


def history_column_list() -> str:
    """The history table's columns, in order, for an insert."""
    return ", ".join((*contract.RAW_COLUMNS, *EXTRA_COLUMNS))


def keep_replaced(backend, spec, ingested_at) -> None:
    """Before upsert deletes the rows it rewrites (_changes.existed = 1): their
    current versions into history as 'updated' ('deleted' when the new version
    is a delete: a soft delete carries a payload of its own)."""
    raw = spec.raw
    _keep(backend, spec, ingested_at,
          f"case when exists (select 1 from _deletes as d where d.id = {raw}.id) "
          "then 'deleted' else 'updated' end",
          "id in (select id from _changes where existed = 1)")


def keep_deleted(backend, spec, ingested_at, match: str) -> None:
    """Before mark_deleted changes the rows _deletes applies to (match): their
    current versions into history as 'deleted', unless this load wrote them."""
    raw, p = spec.raw, backend.param
    _keep(backend, spec, ingested_at, "'deleted'",
          f"exists (select 1 from _deletes as d where d.id = {raw}.id and {match}) "
          f"and ({raw}.load_id is null or {raw}.load_id <> {p})", (spec.load_id,))


def _keep(backend, spec, ingested_at, kind: str, where: str, params: tuple = ()) -> None:
    """raw's rows matching where into history, superseded now by this load."""
    if not spec.history:
        return
    p = backend.param
    backend.execute(
        f"insert into {spec.history} ({history_column_list()}) "
        f"select {', '.join(contract.RAW_COLUMNS)}, {p}, {p}, {kind} from {spec.raw} "
        f"where {where}", (ingested_at, spec.load_id, *params))


def watermark_row(backend, source_name: str) -> tuple | None:
    """The source's meta.watermark row (last_updated_at, load_id, updated_at), or
    None: what a rollback of the load about to apply puts back."""
    rows = backend.execute(
        "select last_updated_at, load_id, updated_at from meta.watermark "
        f"where source_name = {backend.param}", (source_name,)).fetchall()
    return tuple(rows[0]) if rows else None
