"""The audit trail in meta: what the loader writes there, and what `loader status`
and `loader run` read back.

Writes: a job_run row per load (committed 'running' at once, so a killed load
stays visible), its meta.load_file row, its rejects. Reads: the monitoring
views dbt builds (meta.v_job_run_latest, v_dq_latest_summary,
v_schema_changes_latest), so the terminal shows what a dashboard shows, and
the watermark and reject tables. Every function takes an open backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from . import contract

META = contract.META_SCHEMA


# -- writes --------------------------------------------------------------------

def job_start(backend, run_id: str, job_name: str, metrics_json: str) -> datetime:
    """Committed at once, so a killed load stays visible as 'running'."""
    p = backend.param
    backend.begin()
    backend.execute(
        f"insert into {META}.job_run (run_id, job_name, status, started_at, metrics_json) "
        f"values ({p}, {p}, 'running', {backend.now_sql()}, {p})",
        (run_id, job_name, metrics_json),
    )
    started = backend.scalar(f"select started_at from {META}.job_run where run_id = {p}",
                             (run_id,))
    backend.commit()
    return started


def job_finish(backend, run_id: str, status: str, metrics_json: str, error: str | None,
               duration_ms: int) -> None:
    """Part of the caller's transaction. The duration is measured by the caller:
    inside a transaction the database clock may stand still (now() is its start)."""
    p = backend.param
    backend.execute(
        f"update {META}.job_run set status = {p}, ended_at = {backend.now_sql()}, "
        f"duration_ms = {p}, metrics_json = {p}, error_message = {p} where run_id = {p}",
        (status, duration_ms, metrics_json, error, run_id),
    )


def record_warning(backend, run_id: str, job_name: str, message: str) -> None:
    """A job_run row with status 'warn' (e.g. a configured source that matched no
    file), committed on its own."""
    p = backend.param
    backend.begin()
    backend.execute(
        f"insert into {META}.job_run (run_id, job_name, status, started_at, ended_at, "
        f"duration_ms, metrics_json, error_message) values ({p}, {p}, 'warn', "
        f"{backend.now_sql()}, {backend.now_sql()}, 0, '{{}}', {p})",
        (run_id, job_name, message[:4000]),
    )
    backend.commit()


def rows_usually_written(backend, source_name: str) -> int:
    """The average rows written by the source's successful loads that wrote any
    (0 when it never delivered)."""
    p = backend.param
    return int(backend.scalar(
        f"select coalesce(avg(rows_written), 0) from {META}.load_file "
        f"where source_name = {p} and status = 'success' and rows_written > 0",
        (source_name,),
    ) or 0)


def find_loaded_file(backend, target_table: str, sha256: str,
                     latest_only: bool = False) -> str | None:
    """The load that successfully loaded this content into the table, if any; with
    latest_only, only if that is the table's latest successful load (a snapshot
    sent again after another one is the current set again, not old news)."""
    p = backend.param
    latest = (f" and ended_at = (select max(ended_at) from {META}.load_file "
              f"where target_table = {p} and status = 'success')") if latest_only else ""
    return backend.scalar(
        f"select max(load_id) from {META}.load_file "
        f"where target_table = {p} and file_sha256 = {p} and status = 'success'{latest}",
        (target_table, sha256, target_table) if latest_only else (target_table, sha256),
    )


def find_file_by_fingerprint(backend, target_table: str,
                             fingerprint: str) -> tuple[str, str] | None:
    """(load_id, file_sha256) of a successful load of this very file, untouched since."""
    p = backend.param
    cur = backend.execute(
        f"select load_id, file_sha256 from {META}.load_file "
        f"where target_table = {p} and file_stat = {p} and status = 'success' order by load_id",
        (target_table, fingerprint),
    )
    row = cur.fetchone()
    return (row[0], row[1]) if row else None


def insert_load_file(backend, row: dict) -> None:
    """meta.load_file's row for a load; ended_at is the database clock."""
    columns = [c for c in contract.meta_columns("load_file") if c != "ended_at"]
    backend.insert_rows(f"{META}.load_file", columns, [tuple(row[c] for c in columns)],
                        now_column="ended_at")


def insert_rejects(backend, load_id: str, rejects: list, locate) -> None:
    """One meta.load_reject row per (line_number, reason, excerpt); one rejected_at.
    ``locate(line)`` gives the (file, line) a reject is at (a DAP job directory's
    part and its line)."""
    backend.insert_rows(
        f"{META}.load_reject", ["load_id", "source_file", "line_number", "reason", "line_excerpt"],
        [(load_id, *locate(n), reason, excerpt) for n, reason, excerpt in rejects],
        now_column="rejected_at",
    )


# -- reads ---------------------------------------------------------------------

@dataclass
class Section:
    """One part of `loader status`: a table, or a note why there is none."""

    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    more: int = 0  # rows left out past the limit
    note: str | None = None


# (title, relation it reads, columns, order by). Portable SQL: no limit/top,
# the caller fetches only the rows it shows.
STATUS_QUERIES = (
    ("Latest job runs", "v_job_run_latest",
     "job_name, status, started_at, duration_ms, error_message", "started_at desc, job_name"),
    ("Data quality (latest result per check)", "v_dq_latest_summary",
     "check_name, severity, status, failing_rows, sample_keys",
     "case status when 'pass' then 1 else 0 end, severity, check_name"),
    ("Recent schema changes", "v_schema_changes_latest",
     "detected_at, table_schema, table_name, change_type, column_name",
     "table_schema, table_name, column_name"),
    ("Watermarks", "watermark", "source_name, last_updated_at, load_id, updated_at",
     "source_name"),
    ("Recent rejects", "load_reject", "rejected_at, source_file, line_number, reason",
     "rejected_at desc, line_number"),
)


def status(backend, max_rows: int = 20) -> list[Section]:
    """The sections of `loader status`, at most max_rows rows each. A view dbt has
    not built yet is a note saying so, not an error."""
    existing = backend.existing_tables(META)
    sections = []
    for title, relation, columns, order in STATUS_QUERIES:
        if relation not in existing:
            builder = "`dbt build` (or `loader run`)" if relation.startswith("v_") \
                else "the first load"
            sections.append(Section(title, note=f"{META}.{relation} does not exist yet: "
                                                f"{builder} creates it"))
            continue
        cur = backend.execute(f"select {columns} from {META}.{relation} order by {order}")
        rows = cur.fetchall()
        sections.append(Section(title, [d[0] for d in cur.description], rows[:max_rows],
                                more=max(len(rows) - max_rows, 0)))
    return sections


def run_findings(backend, run_id: str) -> tuple[list[tuple], list[tuple]]:
    """A dbt invocation's DQ results (check_name, severity, status, failing_rows,
    sample_keys) and schema changes (table_schema, table_name, change_type,
    column_name), as its on-run-end and on-run-start hooks wrote them."""
    p = backend.param
    dq = backend.execute(
        "select check_name, severity, status, failing_rows, sample_keys "
        f"from {META}.dq_check_result where run_id = {p} order by check_name", (run_id,),
    ).fetchall()
    changes = backend.execute(
        "select table_schema, table_name, change_type, column_name "
        f"from {META}.schema_change_log where run_id = {p} "
        "order by table_schema, table_name, column_name", (run_id,),
    ).fetchall()
    return dq, changes


def load_rejects(backend, load_id: str) -> list[tuple] | None:
    """A load's rejected lines (source_file, line_number, reason, line_excerpt) in line
    order; None when no such load is recorded."""
    existing = backend.existing_tables(META)
    p = backend.param
    if "load_file" not in existing or not backend.scalar(
            f"select count(*) from {META}.load_file where load_id = {p}", (load_id,)):
        return None
    if "load_reject" not in existing:
        return []
    return backend.execute(
        "select source_file, line_number, reason, line_excerpt "
        f"from {META}.load_reject where load_id = {p} order by source_file, line_number",
        (load_id,),
    ).fetchall()
