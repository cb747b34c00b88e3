"""What `loader report` shows, read from the meta tables in portable SQL (every
engine): job runs, loads, check results, drift events, rejects, watermarks.

The tables are small next to the data (a row per load, per check per run), so
each is read whole; only the rejected lines are summed per load in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import contract

META = contract.META_SCHEMA

QUERIES = {
    "job_runs": "select run_id, job_name, status, started_at, ended_at, duration_ms, "
                "error_message from {meta}.job_run order by started_at, run_id",
    "loads": "select load_id, source_name, target_table, source_file, status, rows_read, "
             "rows_written, rows_skipped, rows_rejected, started_at, ended_at "
             "from {meta}.load_file order by started_at, load_id",
    "checks": "select run_id, check_name, model_name, severity, status, failing_rows, "
              "sample_keys, checked_at from {meta}.dq_check_result "
              "order by checked_at, check_name",
    "drift": "select detected_at, table_schema, table_name, change_type, column_name, "
             "old_definition, new_definition from {meta}.schema_change_log "
             "order by detected_at desc, table_schema, table_name, column_name",
    "rejects": "select load_id, source_file, count(*) as lines, min(line_number) as first_line "
               "from {meta}.load_reject group by load_id, source_file "
               "order by load_id, source_file",
    "freshness": "select table_name, status, max_loaded_at, snapshotted_at, age_seconds, "
                 "warn_after_seconds, error_after_seconds from {meta}.source_freshness "
                 "order by snapshotted_at, table_name",
    "watermarks": "select source_name, last_updated_at, load_id, updated_at "
                  "from {meta}.watermark order by source_name",
}
TABLE_OF = {"job_runs": "job_run", "loads": "load_file", "checks": "dq_check_result",
            "drift": "schema_change_log", "rejects": "load_reject", "watermarks": "watermark",
            "freshness": "source_freshness"}


@dataclass
class History:
    """Each key of QUERIES as a list of dicts (column name -> value); a table that
    does not exist yet reads as empty and is named in missing."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    now: object = None  # the database clock, naive UTC

    def __getitem__(self, key: str) -> list[dict]:
        return self.rows.get(key, [])


def read_history(backend) -> History:
    existing = backend.existing_tables(META)
    history = History(now=backend.scalar(f"select {backend.now_sql()}"))
    for key, sql in QUERIES.items():
        if TABLE_OF[key] not in existing:
            history.rows[key] = []
            history.missing.append(f"{META}.{TABLE_OF[key]}")
            continue
        cur = backend.execute(sql.format(meta=META))
        names = [d[0].lower() for d in cur.description]
        history.rows[key] = [dict(zip(names, row)) for row in cur.fetchall()]
    return history
