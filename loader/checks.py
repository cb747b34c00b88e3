"""The checks `loader run` adds to dbt's: source freshness and volume, each
written to meta.dq_check_result (with its severity) like a dbt test's result.

* Freshness: `dbt source freshness` per source table (warn/error thresholds
  from the sources YAML), kept whole in meta.source_freshness.
* Load volume: each source's load this run against the median rows read of its
  previous loads: a 0-row load of a source that usually delivers, or a drop
  below `min_ratio` of that median, once there are `min_history` loads to go by.
* Table volume: each curated table's row count against the previous run's
  (meta.table_volume): losing more than `max_shrink` of its rows is a finding.

For these checks sample_keys holds the numbers behind the verdict (a
one-element list of text), not record keys.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from . import contract

META = contract.META_SCHEMA
FRESHNESS_STATUS = {"pass": "pass", "warn": "warn", "error": "fail", "runtime error": "error"}


@dataclass
class VolumeSettings:
    """pipeline.yml `checks: volume:`; the defaults when it is absent."""

    history: int = 5
    min_history: int = 3
    min_ratio: float = 0.5
    max_shrink: float = 0.5
    severity: str = "warn"
    curated_schema: str = "cur"


def _dq(run_id: str, check: str, model: str, column: str | None, severity: str,
        status: str, failing: int, numbers: str | None) -> tuple:
    return (run_id, check, model, column, severity, status, failing,
            json.dumps([numbers] if numbers else []), 0)


def insert_dq(backend, rows: list[tuple]) -> None:
    """meta.dq_check_result rows: (run_id, check, model, column, severity, status,
    failing rows, sample_keys JSON, execution ms); checked_at from the database."""
    if rows:
        backend.insert_rows(
            f"{META}.dq_check_result",
            ["run_id", "check_name", "model_name", "column_name", "severity", "status",
             "failing_rows", "sample_keys", "execution_time_ms"],
            rows, now_column="checked_at")


def _hours(seconds) -> str:
    return "-" if seconds is None else f"{seconds / 3600:g} h"


def record_freshness(backend, run_id: str, nodes: list[dict]) -> None:
    """meta.source_freshness and a dq_check_result row per source table."""
    results = [n for n in nodes if "source_name" in n]
    backend.insert_rows(
        f"{META}.source_freshness",
        ["run_id", "source_name", "table_name", "status", "max_loaded_at", "snapshotted_at",
         "age_seconds", "warn_after_seconds", "error_after_seconds"],
        [(run_id, n["source_name"], n["name"], n["status"], _naive(n["max_loaded_at"]),
          _naive(n["snapshotted_at"]), None if n["age"] is None else int(n["age"]),
          n["warn_after"], n["error_after"]) for n in results])
    rows = []
    for n in results:
        status = FRESHNESS_STATUS.get(n["status"], "error")
        newest = n["max_loaded_at"]
        if newest is None or getattr(newest, "year", 2) <= 1:
            # An empty table (dbt reports 0001-01-01): nothing loaded yet is not stale.
            rows.append(_dq(run_id, f"source_freshness_{n['name']}", n["name"], "ingested_at",
                            "warn", "skipped", 0, "no rows loaded yet"))
            continue
        numbers = None if status == "pass" else (
            f"newest loaded_at {n['max_loaded_at']}, {_hours(n['age'])} old "
            f"(warn after {_hours(n['warn_after'])}, error after {_hours(n['error_after'])})")
        rows.append(_dq(run_id, f"source_freshness_{n['name']}", n["name"], "ingested_at",
                        "error" if status in ("fail", "error") else "warn", status,
                        0 if status == "pass" else 1, numbers))
    insert_dq(backend, rows)


def _naive(value):
    """A UTC datetime without its tzinfo (the meta ts columns are naive UTC)."""
    return value.replace(tzinfo=None) if getattr(value, "tzinfo", None) else value


def _verdict(settings: VolumeSettings) -> str:
    return "fail" if settings.severity == "error" else "warn"


def check_load_volume(backend, run_id: str, loads: list, settings: VolumeSettings) -> None:
    """A dq row per source loaded this run: its smallest load against the median of
    the source's previous successful loads."""
    p = backend.param
    this_run = {r.load_id for r in loads}
    rows = []
    for source in sorted({r.source_name for r in loads if r.status == "success"}):
        mine = [r for r in loads if r.source_name == source and r.status == "success"]
        before = [n for load_id, n in backend.execute(
            f"select load_id, rows_read from {META}.load_file where source_name = {p} "
            "and status = 'success' order by started_at desc", (source,)).fetchall()
            if load_id not in this_run][:settings.history]
        if len(before) < settings.min_history:
            continue
        median = statistics.median(before)
        low = min(r.rows_read for r in mine)
        bad = (median > 0 and low == 0) or low < settings.min_ratio * median
        numbers = (f"{low} rows read against a median of {median:g} over the last "
                   f"{len(before)} loads (minimum ratio {settings.min_ratio:g})")
        rows.append(_dq(run_id, f"volume_load_{source}", source, None, settings.severity,
                        _verdict(settings) if bad else "pass", 1 if bad else 0,
                        numbers if bad else None))
    insert_dq(backend, rows)


def check_table_volume(backend, run_id: str, settings: VolumeSettings) -> None:
    """Count each curated table, compare with its previous count, record both."""
    schema = settings.curated_schema
    p = backend.param
    rows, counts = [], []
    for table in sorted(backend.existing_tables(schema)):
        now = backend.scalar(f"select count(*) from {schema}.{table}")
        before = backend.scalar(
            f"select row_count from {META}.table_volume where table_schema = {p} and "
            f"table_name = {p} and measured_at = (select max(measured_at) from "
            f"{META}.table_volume where table_schema = {p} and table_name = {p})",
            (schema, table, schema, table))
        counts.append((run_id, schema, table, now))
        if not before:
            continue
        shrink = (before - now) / before
        bad = shrink > settings.max_shrink
        numbers = (f"{now} rows, {before} before: {shrink:.0%} fewer "
                   f"(at most {settings.max_shrink:.0%} allowed)")
        rows.append(_dq(run_id, f"volume_{table}", table, None, settings.severity,
                        _verdict(settings) if bad else "pass", 1 if bad else 0,
                        numbers if bad else None))
    backend.insert_rows(f"{META}.table_volume",
                        ["run_id", "table_schema", "table_name", "row_count"], counts,
                        now_column="measured_at")
    insert_dq(backend, rows)
