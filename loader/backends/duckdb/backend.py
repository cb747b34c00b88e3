"""DuckDB: the embedded default. The database file's own lock serializes writers,
so a second load waits for the first to close the file (up to --lock-timeout)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa

from ... import contract
from ...errors import ConnectionFailed, LockTimeout
from ..base import Backend
from . import stager

_LOCK_MESSAGES = ("could not set lock", "conflicting lock")
# A file this small is one another process is creating right now (DuckDB writes
# the file before it locks it): wait for it as for a lock.
_BEING_CREATED_BYTES = 12 * 1024
_PATH_HINT = "Set CANVAS_DUCKDB_PATH (or the profile's path) to a DuckDB file in an existing folder"
# DuckDB's own share; the whole loader process peaks at about 460 MB with it
# (interpreter, Arrow batches in flight) on a 1M-line first load: 256MB put it
# at 510-530 MB and 300MB higher still, at no gain in speed (measured on the
# first load and on --force of 1M submissions).
DEFAULT_MEMORY_LIMIT = "192MB"


class DuckDBBackend(Backend):
    engine = "duckdb"
    param = "?"

    @property
    def path(self) -> str:
        return str(self.target.config.get("path") or "canvas.duckdb")

    def connect(self, lock_timeout: float = 60.0, on_wait=None) -> None:
        path = self.path
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConnectionFailed(
                    f"cannot open DuckDB database {path}: directory {parent} does not exist",
                    _PATH_HINT,
                )
        settings = {k: str(v) for k, v in (self.target.config.get("settings") or {}).items()}
        deadline = time.monotonic() + lock_timeout
        waited = False
        while True:
            try:
                self.conn = duckdb.connect(path, config=settings)
                break
            except duckdb.Error as exc:
                if not (_is_lock_error(exc) or _being_created(path, exc)):
                    raise ConnectionFailed(
                        f"cannot open DuckDB database {path}: {_first_line(exc)}", _PATH_HINT
                    ) from None
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"DuckDB database {path} is held by another process "
                        f"(waited {lock_timeout:g}s)",
                        "Wait for the other load or dbt run to finish, or raise --lock-timeout",
                    ) from None
                if not waited and on_wait is not None:
                    on_wait(f"waiting for the lock on {path} (another process has it open)")
                waited = True
                time.sleep(0.2)
        # TimeZone cannot be passed at connect time (ICU loads after it).
        self.execute("set TimeZone = 'UTC'")
        self.execute("set preserve_insertion_order = false")
        if "memory_limit" not in settings:
            # Bounded memory: staging spills to disk instead of growing with the file.
            self.execute(f"set memory_limit = '{DEFAULT_MEMORY_LIMIT}'")

    def execute(self, sql: str, params: tuple | list = ()):
        return self.conn.execute(sql, params) if params else self.conn.execute(sql)

    def now_sql(self) -> str:
        return "(now() at time zone 'UTC')"

    def plus_one_microsecond(self, expr: str) -> str:
        return f"({expr} + interval 1 microsecond)"

    def insert_rows(self, table: str, columns: list[str], rows: list[tuple],
                    now_column: str | None = None) -> None:
        """One INSERT from an Arrow table (one clock value for all rows)."""
        if not rows:
            return
        batch = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
        self.conn.register("_insert_batch", batch)
        try:
            names = [*columns, now_column] if now_column else list(columns)
            values = [*columns, self.now_sql()] if now_column else list(columns)
            self.execute(f"insert into {table} ({', '.join(names)}) "
                         f"select {', '.join(values)} from _insert_batch")
        finally:
            self.conn.unregister("_insert_batch")

    # -- staging ----------------------------------------------------------------
    def stager(self, spec):
        """The fast stager (stager.py) unless CANVAS_DUCKDB_FASTPATH=0."""
        if stager.enabled():
            return stager.FastStager(self, spec)
        return super().stager(spec)

    def stage_create(self) -> None:
        """payload is JSON, and NULL for a record the fast stager left in the file
        (line_offset and line_bytes say where); the portable path's text is
        validated by the cast on the way in instead of on the way into raw."""
        self.execute("drop table if exists _stage")
        self.execute(
            "create temp table _stage (line_number bigint, id varchar, payload json, "
            "payload_hash varchar, record_updated_at timestamp, line_bytes integer, "
            "line_offset bigint)"
        )

    def stage_append(self, batch: pa.Table) -> None:
        self.conn.register("_stage_batch", batch)
        try:
            self.execute(
                "insert into _stage (line_number, id, payload, payload_hash, record_updated_at) "
                "select line_number, id, payload, payload_hash, record_updated_at "
                "from _stage_batch"
            )
        finally:
            self.conn.unregister("_stage_batch")

    # De-duplication and comparison never carry a payload: a row to write takes
    # it from _stage, or from the file (the fast stager), in write_rows.
    carried_columns = ("line_bytes", "line_offset")

    def write_rows(self, raw: str, rows: str, ingested_at, spec, staged) -> None:
        """Insert the rows listed in the temp table rows (line_number, id,
        payload_hash, record_updated_at, line_bytes, line_offset) into raw."""
        self.execute(
            f"insert into {raw} ({', '.join(contract.WRITTEN_COLUMNS)}) "
            "select c.id, s.payload, c.payload_hash, c.record_updated_at, ?, ?, ? "
            f"from {rows} as c join _stage as s on s.line_number = c.line_number "
            "where c.line_bytes is null",
            (ingested_at, spec.source_file, spec.load_id),
        )
        if staged.payloads is not None:
            self.temp_table_as("_from_file", f"select * from {rows} where line_bytes is not null")
            staged.payloads.write_from_file("_from_file", ingested_at, spec)


def _is_lock_error(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and any(
        m in str(exc).lower() for m in _LOCK_MESSAGES
    )


def _being_created(path: str, exc: Exception) -> bool:
    """'not a valid DuckDB database file' on a file another process is still writing:
    smaller than a header and empty, all zeros, or already carrying DuckDB's magic."""
    if "not a valid duckdb database" not in str(exc).lower():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(_BEING_CREATED_BYTES)
    except OSError:
        return True  # gone again: the creator gave up; a retry creates it
    return len(head) < _BEING_CREATED_BYTES and (
        not head.strip(b"\0") or head[8:12] == b"DUCK"
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

