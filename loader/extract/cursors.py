"""The extract's cursors in meta.extract_cursor, and its meta.job_run row.

Cursors are read when an extract starts and written only after its batch
directory is complete, so a killed extract starts over from the last
complete one. Every function takes an open backend.
"""

from __future__ import annotations

from datetime import datetime

from .. import audit, contract
from .entities import format_time, parse_time

META = contract.META_SCHEMA


def read_cursors(backend, entity: str) -> dict[str, datetime]:
    """scope -> cursor of entity."""
    p = backend.param
    rows = backend.execute(f"select scope, cursor_value from {META}.extract_cursor "
                           f"where entity = {p}", (entity,)).fetchall()
    return {scope: t for scope, value in rows if (t := parse_time(value)) is not None}


def write_cursors(backend, entity: str, cursors: dict[str, datetime], extract_id: str) -> None:
    """Replace the given scopes' cursors, in one transaction."""
    p = backend.param
    backend.begin()
    try:
        for scope, value in sorted(cursors.items()):
            backend.execute(f"delete from {META}.extract_cursor where entity = {p} and scope = {p}",
                            (entity, scope))
        if cursors:
            backend.insert_rows(f"{META}.extract_cursor", ["entity", "scope", "cursor_value",
                                                           "extract_id"],
                                [(entity, scope, format_time(value), extract_id)
                                 for scope, value in sorted(cursors.items())],
                                now_column="updated_at")
        backend.commit()
    except BaseException:
        backend.rollback()
        raise


def job_start(backend, extract_id: str, metrics_json: str) -> None:
    audit.job_start(backend, extract_id, "loader_extract", metrics_json)


def job_finish(backend, extract_id: str, status: str, metrics_json: str, error: str | None,
               duration_ms: int) -> None:
    backend.begin()
    audit.job_finish(backend, extract_id, status, metrics_json, error, duration_ms)
    backend.commit()
