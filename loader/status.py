"""The operations view: what the meta schema says about recent work."""

from __future__ import annotations

from .backends.base import Backend

# Each query is portable (no limit/top): callers fetch only the rows they show.
QUERIES = {
    "Latest job runs": (
        "select job_name, status, started_at, duration_ms, error_message from ("
        "select job_name, status, started_at, duration_ms, error_message, "
        "row_number() over (partition by job_name order by started_at desc) as rn "
        "from meta.job_run) as ranked where rn = 1 order by started_at desc"
    ),
    "Data quality (latest result per check)": (
        "select check_name, severity, status, failing_rows, sample_keys from ("
        "select check_name, severity, status, failing_rows, sample_keys, "
        "row_number() over (partition by check_name order by checked_at desc) as rn "
        "from meta.dq_check_result) as ranked where rn = 1 "
        "order by case status when 'pass' then 1 else 0 end, severity, check_name"
    ),
    "Recent schema changes": (
        "select detected_at, table_schema, table_name, change_type, column_name "
        "from meta.schema_change_log order by detected_at desc"
    ),
    "Watermarks": (
        "select source_name, last_updated_at, load_id, updated_at "
        "from meta.watermark order by source_name"
    ),
    "Recent rejects": (
        "select rejected_at, source_file, line_number, reason "
        "from meta.load_reject order by rejected_at desc, line_number"
    ),
}


def collect(backend: Backend, max_rows: int = 20) -> dict[str, tuple[list[str], list[tuple]]]:
    """Section title -> (column names, rows). Missing tables give an empty section."""
    out = {}
    for title, sql in QUERIES.items():
        try:
            cur = backend.execute(sql)
            rows = cur.fetchall()[:max_rows]
            cols = [d[0] for d in cur.description]
        except Exception:  # noqa: BLE001 - a table not created yet is an empty section
            backend.rollback()
            cols, rows = [], []
        out[title] = (cols, rows)
    return out


def format_table(cols: list[str], rows: list[tuple], width: int = 60) -> str:
    if not rows:
        return "  (none)"
    cells = [[_cell(v, width) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  " + "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *map(line, cells)])


def _cell(value, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."
