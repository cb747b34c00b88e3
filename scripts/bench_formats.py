"""scripts/bench.py's `formats` group: the loader on CSV and .xlsx files.

    loader_csv_first        a CSV of N attendance rows into a fresh DuckDB (read by
                            DuckDB's read_csv: backends/duckdb/csv_in_sql.py)
    loader_csv_first_python the same with CANVAS_DUCKDB_FASTPATH=0: the Python reader
    duckdb_read_csv_ctas    DuckDB's own read_csv CREATE TABLE AS of the same file
    loader_xlsx_first       an .xlsx of min(N, 100,000) rows (one sheet) into a fresh DuckDB

The files are generated once under --work (the .xlsx with openpyxl's write-only
mode) and reused. Rows: id, student_id, date, status, minutes, note.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

XLSX_ROWS = 100_000
HEADER = ["id", "student_id", "date", "status", "minutes", "note"]


def _row(i: int) -> list:
    day = date(2026, 1, 1) + timedelta(days=i % 300)
    return [i, f"S{i % 50_000:05d}", day, "absent" if i % 7 == 0 else "present", i % 60,
            "late bus, \"excused\"" if i % 11 == 0 else "on time"]


def write_csv(path: Path, n: int) -> Path:
    if not path.exists():
        tmp = path.with_suffix(".part")
        with open(tmp, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            for i in range(n):
                row = _row(i)
                row[2] = row[2].isoformat()
                writer.writerow(row)
        tmp.rename(path)
    return path


def write_xlsx(path: Path, n: int) -> Path:
    if not path.exists():
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("attendance")
        sheet.append(HEADER)
        for i in range(n):
            sheet.append(_row(i))
        tmp = path.with_name(path.name + ".part")
        book.save(tmp)
        tmp.rename(path)
    return path


def child_read_csv_ctas(spec: dict) -> dict:
    """In the measured subprocess: DuckDB's read_csv CTAS, under the loader's memory limit."""
    import time

    import duckdb

    from loader.backends.duckdb import DEFAULT_MEMORY_LIMIT

    con = duckdb.connect(spec["db"])
    con.execute(f"set memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
    con.execute("set preserve_insertion_order = false")
    start = time.perf_counter()
    con.execute("create table attendance as select * from read_csv(?, header = true)",
                [spec["file"]])
    con.close()
    return {"seconds": time.perf_counter() - start}


def run_formats(bench, n: int, remove_db) -> None:
    """The group's rows for N (see the module docstring)."""
    work = bench.work / "formats"
    work.mkdir(parents=True, exist_ok=True)
    xlsx_n = min(n, XLSX_ROWS)
    csv_path = write_csv(work / f"attendance-{n}.csv", n)
    xlsx_path = write_xlsx(work / f"attendance-{xlsx_n}.xlsx", xlsx_n)
    contenders = (
        ("loader_csv_first", n, csv_path, "load",
         "fresh database, CSV read by DuckDB's read_csv (payload and hash in SQL)"),
        ("loader_csv_first_python", n, csv_path, "load",
         "fresh database, CSV read by the Python reader (CANVAS_DUCKDB_FASTPATH=0)"),
        ("duckdb_read_csv_ctas", n, csv_path, "read_csv_ctas",
         "DuckDB's own read_csv CREATE TABLE AS (typed columns, no hash, no payload)"),
        ("loader_xlsx_first", xlsx_n, xlsx_path, "load",
         f"fresh database, .xlsx of {xlsx_n:,} rows (python-calamine)"),
    )
    for name, rows, path, kind, note in contenders:
        db = bench.work / f"{name}-{n}.duckdb"
        runs = []
        try:
            for _ in range(bench.args.runs):
                remove_db(db)
                spec = {"kind": kind, "file": str(path), "db": str(db)}
                if kind == "load":
                    spec = {"kind": "load", "target": "duckdb", "config": {"path": str(db)},
                            "file": str(path), "table": "raw.attendance"}
                env = {**bench.env, "CANVAS_DUCKDB_FASTPATH": "0"} \
                    if name.endswith("_python") else None
                runs.append(bench.child(spec, env))
        except Exception as exc:  # noqa: BLE001 - reported, the bench goes on
            bench.failed(n, name, "formats", exc)
            continue
        finally:
            remove_db(db)
        bench.record(n, name, "formats", runs, rows=rows, nbytes=path.stat().st_size,
                     reason=note, rows_written=runs[-1].get("rows_written"))
