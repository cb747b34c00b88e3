"""A DB-API connection that records SQL instead of sending it: T-SQL without a server.

A tool for scripts/check_tsql.py and the offline SQL Server tests, kept out of
the loader package: nothing in loader/ imports it.

No SQL Server runs where this project is developed and tested, so the
loader's T-SQL is checked as text: the real SqlServerBackend runs a real load
against a RecordingConnection, which keeps every statement and its
parameters and answers queries with canned rows (enough for the backend to
go on, not a database). scripts/check_tsql.py parses what it recorded with
sqlfluff's tsql dialect and the forbidden-construct check; behaviour is
tested against a real server in CI (.github/workflows/ci.yml).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable
from unittest import mock

# (sql, params) -> (column names, rows), or None for "no result set".
Responder = Callable[[str, tuple], "tuple[list[str], list[tuple]] | None"]


@dataclass
class Statement:
    sql: str
    params: tuple = ()
    many: int = 0  # rows of an executemany
    fast_executemany: bool = False
    input_sizes: tuple | None = None  # cursor.setinputsizes before it, if any

    def inlined(self) -> str:
        """The statement with its `?` parameters as literals (what the server runs)."""
        return inline_params(self.sql, self.params)


@dataclass
class RecordingConnection:
    responder: Responder | None = None
    statements: list[Statement] = field(default_factory=list)
    autocommit: bool = True
    timeout: int = 0
    closed: bool = False

    def cursor(self) -> "RecordingCursor":
        return RecordingCursor(self)

    def commit(self) -> None:
        """Driver-level commit: nothing to record (the backends send SQL for it)."""

    def rollback(self) -> None:
        """Driver-level rollback: nothing to record."""

    def close(self) -> None:
        self.closed = True

    def add_output_converter(self, *args) -> None:
        """pyodbc API used by dbt-sqlserver; nothing to convert here."""

    def answer(self, sql: str, params: tuple):
        return self.responder(sql, params) if self.responder else None


class RecordingCursor:
    """Enough of a pyodbc cursor for the loader and dbt-sqlserver."""

    arraysize = 1

    def __init__(self, conn: RecordingConnection):
        self.conn = conn
        self.fast_executemany = False
        self.input_sizes = None
        self.description = None
        self.rowcount = -1
        self._rows: list[tuple] = []

    def execute(self, sql: str, *params):
        if len(params) == 1 and isinstance(params[0], (list, tuple)):
            params = tuple(params[0])
        self.conn.statements.append(Statement(sql, tuple(params),
                                              input_sizes=self._take_sizes(params)))
        self._set_result(self.conn.answer(sql, tuple(params)))
        return self

    def executemany(self, sql: str, seq_of_params) -> None:
        rows = list(seq_of_params)
        self.conn.statements.append(Statement(sql, tuple(rows[0]) if rows else (), len(rows),
                                              self.fast_executemany, self.input_sizes))
        self._set_result(None)
        self.rowcount = len(rows)

    def _set_result(self, answer) -> None:
        if answer is None:
            self.description, self._rows, self.rowcount = None, [], 0
            return
        columns, rows = answer
        self.description = [(c, str, None, None, None, None, True) for c in columns]
        self._rows = list(rows)
        self.rowcount = -1

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def nextset(self) -> bool:
        return False

    def setinputsizes(self, sizes) -> None:
        """Kept: the declared types go with the statements that follow (executemany)
        or the next one (execute), as pyodbc applies them."""
        self.input_sizes = tuple(sizes)

    def _take_sizes(self, params) -> tuple | None:
        """The sizes declared for this execute (pyodbc uses them for one execute)."""
        sizes, self.input_sizes = self.input_sizes, None
        return sizes if params else None

    def cancel(self) -> None:
        """Nothing runs, nothing to cancel."""

    def close(self) -> None:
        self._rows = []


# -- parameters as literals ----------------------------------------------------

_SKIP = re.compile(r"'(?:[^']|'')*'|\[[^\]]*\]|--[^\n]*|/\*.*?\*/", re.S)


def sql_literal(value) -> str:
    """A T-SQL literal for a parameter value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"cast('{value.isoformat(sep=' ')}' as datetime2(6))"
    if isinstance(value, date):
        return f"cast('{value.isoformat()}' as date)"
    return "N'" + str(value).replace("'", "''") + "'"


def inline_params(sql: str, params: tuple) -> str:
    """Replace each `?` outside strings, brackets and comments with the next literal."""
    if not params:
        return sql
    values = iter(params)
    out, pos = [], 0
    for match in re.finditer(r"\?|" + _SKIP.pattern, sql, re.S):
        out.append(sql[pos:match.start()])
        token = match.group(0)
        out.append(sql_literal(next(values, None)) if token == "?" else token)
        pos = match.end()
    out.append(sql[pos:])
    return "".join(out)


# -- a full load, recorded ----------------------------------------------------

_NOW = datetime(2026, 1, 12, 6, 0, 0, 123456)

# Canned answers for the loader's queries, by a fragment of their text.
_LOADER_ANSWERS: list[tuple[str, list[str], list[tuple]]] = [
    ("lock_result", ["lock_result"], [(0,)]),
    ("serverproperty('EngineEdition')", ["engine_edition", "major_version", "product_version"],
     [(3, 16, "16.0.4135.4")]),
    ("information_schema.columns", ["column_name"], []),
    ("information_schema.tables", ["table_name"],
     [("v_job_run_latest",), ("v_dq_latest_summary",), ("v_schema_changes_latest",),
      ("watermark",), ("load_reject",)]),
    ("select started_at from meta.job_run", ["started_at"], [(_NOW,)]),
    ("and file_stat =", ["load_id", "file_sha256"], []),
    # loader rollback: the load to undo, then no later loads of its table.
    ("prior_state, ended_at from meta.load_file where load_id",
     ["load_id", "source_name", "target_table", "status", "source_file", "prior_state",
      "ended_at"],
     [("load-1", "canvas_users", "raw.canvas_users", "success", "canvas_users.jsonl",
       '{"history":true,"ingested_at":"2026-01-12T06:00:00",'
       '"watermark":{"last_updated_at":"2026-01-11T08:00:00","load_id":"load-0",'
       '"updated_at":"2026-01-11T09:00:00.5"}}', _NOW)]),
    ("prior_state, ended_at from meta.load_file where target_table",
     ["load_id", "source_name", "target_table", "status", "source_file", "prior_state",
      "ended_at"], []),
    ("load_id, rows_read from meta.load_file", ["load_id", "rows_read"],
     [("earlier-1", 100), ("earlier-2", 100)]),
    ("key_path, json_type from meta.payload_key", ["key_path", "json_type"],
     [("login_id", "gone")]),  # a staged key stopped arriving: staged_keys.py's warn path
    ("from meta.load_file", ["load_id"], [(None,)]),
    ("as watermark_before", ["ingested_at", "staged", "latest", "below_watermark", "inserted",
                             "updated", "watermark_before", "skipped_existing"],
     [(_NOW, 4, 3, 0, 2, 1, None, 0)]),
    ("as watermark_after", ["watermark_after"], [(_NOW,)]),
    ("as live_rows", ["live_rows", "file_ids"], [(4, 3)]),
    ("as absent", ["absent"], [(1,)]),
    ("as by_envelope", ["marked", "by_envelope"], [(1, 0)]),
]


def loader_responder(sql: str, params: tuple):
    for fragment, columns, rows in _LOADER_ANSWERS:
        if fragment in sql:
            return columns, rows
    if sql.lstrip().lower().startswith("select"):
        return ["value"], []
    return None


_SAMPLE_LINES = [
    '{"id": 1, "name": "Ann O\'Neil", "updated_at": "2026-01-10T08:00:00Z"}',
    '{"id": 2, "name": "Bo", "updated_at": "2026-01-11T08:00:00-06:00"}',
    '{"id": 1, "name": "Ann", "updated_at": "2026-01-11T09:00:00Z"}',
    "not json",
    '{"id": 3, "name": "Cy"}',
]


_OFFLINE_CONFIG = {
    "type": "sqlserver", "driver": "ODBC Driver 18 for SQL Server", "server": "127.0.0.1",
    "port": 1433, "database": "canvas", "user": "sa", "password": "offline-Secret1",
    "encrypt": True, "trust_cert": True,
}


def record_loader_statements(config: dict | None = None) -> list[Statement]:
    """Every statement `loader load` (incremental, with a bad line), `loader status`,
    `loader run`'s freshness and volume checks and audit read, and `loader report`'s
    reads and `loader rollback` would send to SQL Server, in order."""
    from loader.backends.sqlserver import backend as sqlserver
    from loader.dbt_build import DbtOutcome
    from loader.load import load_file
    from loader.options import LoadOptions
    from loader.profiles import Target
    from loader.checks import VolumeSettings
    from loader.report_data import read_history
    from loader.run import RunReport, record_checks
    from loader.staged_keys import read_staged_keys
    from loader.status import collect, reading
    from loader.versions.rollback import rollback

    target = Target(name="sqlserver", type="sqlserver", config=config or dict(_OFFLINE_CONFIG))
    conn = RecordingConnection(loader_responder)
    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(sqlserver, "_connect", lambda *a, **k: conn):
        path = Path(tmp) / "canvas_users.jsonl"
        path.write_text("\n".join(_SAMPLE_LINES) + "\n")
        options = LoadOptions(table="raw.canvas_users", updated_field="updated_at",
                              incremental=True, max_rejects=10, lock_timeout=5)
        result = load_file(path, options, target)
        collect(target, 20, 1)
        freshness = DbtOutcome(success=True, invocation_id="offline", nodes=[{
            "name": "canvas_users", "source_name": "canvas", "status": "warn",
            "max_loaded_at": None, "snapshotted_at": None, "age": 90000.0,
            "warn_after": 86400, "error_after": 259200}])
        report = RunReport(loads=[result], dbt=DbtOutcome(success=True, invocation_id="offline"))
        staged = (read_staged_keys(Path(__file__).resolve().parent.parent), 10)
        record_checks(report, target, "offline", freshness, VolumeSettings(min_history=0), 1,
                      staged)
        with reading(target, 1) as backend:
            read_history(backend)
        rollback(target, "load-1", lock_timeout=1)
    return conn.statements


def record_strategy_statements(strategy: str) -> list[Statement]:
    """Every statement a `loader load --strategy STRATEGY` (append or snapshot) of the
    sample lines sends to SQL Server, in order (the canned answers: raw holds 4 live
    rows, the file 3 ids, 1 of them absent)."""
    from loader.backends.sqlserver import backend as sqlserver
    from loader.load import load_file
    from loader.options import LoadOptions
    from loader.profiles import Target

    target = Target(name="sqlserver", type="sqlserver", config=dict(_OFFLINE_CONFIG))
    conn = RecordingConnection(loader_responder)
    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(sqlserver, "_connect", lambda *a, **k: conn):
        path = Path(tmp) / "canvas_users.jsonl"
        path.write_text("\n".join(line for line in _SAMPLE_LINES if line != "not json") + "\n")
        load_file(path, LoadOptions(table="raw.canvas_users", strategy=strategy,
                                    lock_timeout=5), target)
    return conn.statements
