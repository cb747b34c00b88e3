"""What `loader report` shows, read from the meta tables in portable SQL (every
engine): job runs, loads, check results, drift events, rejects, watermarks.

The meta tables grow by a few rows per load and about 60 per dbt run, so after
a year of daily runs they hold tens of thousands of rows. The page does not
need them all: totals are counted in SQL, charts get the latest runs of each
job and loads of each source (row_number, which every engine has), the check
heat map the latest CHECK_RUNS runs, tables their newest MAX_ROWS rows
(cut in Python: no LIMIT/TOP, so the same text runs on SQL Server). The page's size
and its drawing time stay flat however long the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import contract

META = contract.META_SCHEMA
MAX_ROWS = 200  # per chart series and per table
CHECK_RUNS = 30  # runs in the check heat map

QUERIES = {
    "job_runs": "select run_id, job_name, status, started_at, ended_at, duration_ms, "
                "error_message from (select job_run.*, row_number() over (partition by "
                "job_name order by started_at desc, run_id desc) as nth "
                "from {meta}.job_run) as latest where nth <= {rows} "
                "order by started_at, run_id",
    "loads": "select load_id, source_name, status, rows_written, started_at from (select "
             "load_file.*, row_number() over (partition by source_name order by started_at "
             "desc, load_id desc) as nth from {meta}.load_file) as latest where nth <= {rows} "
             "order by started_at, load_id",
    "last_loads": "select source_name, max(ended_at) as ended_at from {meta}.load_file "
                  "where status = 'success' and ended_at is not null group by source_name "
                  "order by source_name",
    "checks": "select result.run_id, result.check_name, result.model_name, result.severity, "
              "result.status, result.failing_rows, result.sample_keys, result.checked_at "
              "from {meta}.dq_check_result as result inner join (select run_id, row_number() "
              "over (order by max(checked_at) desc, run_id desc) as nth "
              "from {meta}.dq_check_result group by run_id) as runs "
              "on result.run_id = runs.run_id where runs.nth <= {check_runs} "
              "order by result.checked_at, result.check_name",
    "drift": "select detected_at, table_schema, table_name, change_type, column_name, "
             "old_definition, new_definition from {meta}.schema_change_log "
             "order by detected_at desc, table_schema, table_name, column_name",
    "drift_kinds": "select change_type, count(*) as events from {meta}.schema_change_log "
                   "group by change_type order by change_type",
    "rejects": "select load_id, source_file, count(*) as lines, min(line_number) as first_line, "
               "max(rejected_at) as rejected_at from {meta}.load_reject "
               "group by load_id, source_file order by max(rejected_at) desc, load_id",
    "freshness": "select table_name, status, max_loaded_at, snapshotted_at, age_seconds, "
                 "warn_after_seconds, error_after_seconds from (select source_freshness.*, "
                 "row_number() over (partition by table_name order by snapshotted_at desc) "
                 "as nth from {meta}.source_freshness) as latest where nth = 1 "
                 "order by table_name",
    "watermarks": "select source_name, last_updated_at, load_id, updated_at "
                  "from {meta}.watermark order by source_name",
    "totals": "select (select count(*) from {meta}.job_run) as job_runs, "
              "(select count(*) from {meta}.job_run where status not in "
              "('success', 'running')) as failed_runs, "
              "(select count(*) from {meta}.load_file) as loads",
    "reject_totals": "select count(*) as lines, count(distinct load_id) as loads "
                     "from {meta}.load_reject",
}
TABLE_OF = {"job_runs": "job_run", "loads": "load_file", "last_loads": "load_file",
            "checks": "dq_check_result", "drift": "schema_change_log",
            "drift_kinds": "schema_change_log", "rejects": "load_reject",
            "watermarks": "watermark", "freshness": "source_freshness", "totals": "job_run",
            "reject_totals": "load_reject"}
NEEDS = {"totals": ("job_run", "load_file")}
CAPPED = ("drift", "rejects")  # read MAX_ROWS rows of these (the newest first)


@dataclass
class History:
    """Each key of QUERIES as a list of dicts (column name -> value), at most
    MAX_ROWS rows where a table could be longer; a table that does not exist yet
    reads as empty and is named in missing."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    now: object = None  # the database clock, naive UTC

    def __getitem__(self, key: str) -> list[dict]:
        return self.rows.get(key, [])

    def total(self, key: str, column: str) -> int:
        """One number of a totals query (0 when its table does not exist)."""
        rows = self[key]
        return int(rows[0][column] or 0) if rows else 0


def read_history(backend) -> History:
    existing = backend.existing_tables(META)
    history = History(now=backend.scalar(f"select {backend.now_sql()}"))
    history.missing = [f"{META}.{t}" for t in dict.fromkeys(TABLE_OF.values())
                       if t not in existing]
    for key, sql in QUERIES.items():
        if not all(t in existing for t in NEEDS.get(key, (TABLE_OF[key],))):
            history.rows[key] = []
            continue
        cur = backend.execute(sql.format(meta=META, rows=MAX_ROWS, check_runs=CHECK_RUNS))
        names = [d[0].lower() for d in cur.description]
        rows = cur.fetchall()  # all: SQL Server (no MARS) takes no statement while rows wait
        history.rows[key] = [dict(zip(names, row))
                             for row in (rows[:MAX_ROWS] if key in CAPPED else rows)]
    return history
