"""A staged column whose source key has stopped arriving: a DQ finding (warn).

The staging models are the one place that says which payload keys each column
reads (`json_value('record', 'login_id') ... as login_id`, several keys where
CD2 names a column differently); read_staged_keys() reads them from the model
files. Payload drift (drift.py) marks a key that stopped arriving as 'gone' in
meta.payload_key. After every `loader run`, check_staged_keys() writes one
meta.dq_check_result row per staging model, `<model>_source_keys_arriving`:
`pass`, or `warn` when a column's keys are all gone or absent and at least one
is gone (a renamed key: `login_id` -> `unique_login`), with the column(s) in
column_name, the rows of the source's latest load in failing_rows and up to 10
of their ids in sample_keys.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .checks import insert_dq
from .contract import META_SCHEMA as META

_COMMENT = re.compile(r"--[^\n]*")
# `source('canvas', 'canvas_users')`, or the project's `canvas_source('canvas_users')`
# (macros/cross_db/as_of.sql: the source, or its state as of var('as_of')).
_SOURCE = re.compile(r"source\(\s*(?:'\w+'\s*,\s*)?'(\w+)'\s*\)")
_KEY = re.compile(r"json_\w+\(\s*'record'\s*,\s*'([^']+)'")
_ALIAS = re.compile(r"\bas\s+(\w+)")
SAMPLE_KEYS = 10


def read_staged_keys(project_dir: Path) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """raw table name -> (staging model, {column: [payload keys it reads]})."""
    out = {}
    for path in sorted((project_dir / "models" / "staging").glob("stg_*.sql")):
        sql = _COMMENT.sub("", path.read_text())
        source = _SOURCE.search(sql)
        if source is None:
            continue
        columns: dict[str, list[str]] = {}
        for match in _KEY.finditer(sql):
            alias = _ALIAS.search(sql, match.end())
            if alias is not None:
                columns.setdefault(alias.group(1), []).append(match.group(1))
        out[source.group(1)] = (path.stem, columns)
    return out


def sample_limit(project_dir: Path, dbt_args: tuple[str, ...] = ()) -> int:
    """The dbt var dq_sample_keys: from the build's --vars, else dbt_project.yml, else 10."""
    found = None
    if "--vars" in dbt_args:
        given = yaml.safe_load(dbt_args[dbt_args.index("--vars") + 1])
        found = given.get("dq_sample_keys") if isinstance(given, dict) else None
    if found is None:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
        found = (project.get("vars") or {}).get("dq_sample_keys")
    return SAMPLE_KEYS if not isinstance(found, int) else max(found, 0)


def check_staged_keys(backend, run_id: str, staged: dict, samples: int = SAMPLE_KEYS,
                      raw_schema: str = "raw") -> list:
    """One dq row per staging model whose source has a key profile; returns the rows."""
    rows = []
    for table, (model, columns) in sorted(staged.items()):
        for source in _sources_of(backend, f"{raw_schema}.{table}"):
            keys = _key_states(backend, source)
            stopped = sorted(
                column for column, reads in columns.items()
                if any(keys.get(k) == "gone" for k in reads)
                and not any(keys.get(k) not in (None, "gone") for k in reads))
            rows.append(_row(backend, run_id, model, source, f"{raw_schema}.{table}",
                             stopped, samples))
    insert_dq(backend, rows)
    return rows


def _sources_of(backend, table: str) -> list[str]:
    p = backend.param
    return sorted(r[0] for r in backend.execute(
        f"select distinct source_name from {META}.payload_key where source_name in "
        f"(select source_name from {META}.load_file where target_table = {p})",
        (table,)).fetchall())


def _key_states(backend, source: str) -> dict[str, str]:
    p = backend.param
    return dict(backend.execute(
        f"select key_path, json_type from {META}.payload_key where source_name = {p}",
        (source,)).fetchall())


def _row(backend, run_id: str, model: str, source: str, table: str, stopped: list,
         samples: int) -> tuple:
    check = f"{model}_source_keys_arriving"
    if not stopped:
        return (run_id, check, model, None, "warn", "pass", 0, "[]", 0)
    p = backend.param
    latest = backend.execute(
        f"select load_id from {META}.load_file where source_name = {p} and "
        "status = 'success' and rows_written > 0 order by started_at desc",
        (source,)).fetchone()
    ids, failing = [], 0
    if latest is not None:
        failing = backend.scalar(f"select count(*) from {table} where load_id = {p}",
                                 (latest[0],))
        ids = [str(r[0]) for r in backend.execute(
            f"select id from {table} where load_id = {p} order by id",
            (latest[0],)).fetchmany(samples)] if samples else []
    return (run_id, check, model, ", ".join(stopped), "warn", "warn", failing,
            json.dumps(ids), 0)
