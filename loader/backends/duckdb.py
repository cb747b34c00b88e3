"""DuckDB: the embedded default. The database file's own lock serializes writers,
so a second load waits for the first to close the file (up to --lock-timeout)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa

from ..errors import ConnectionFailed, LockTimeout
from . import duckdb_fastpath
from .base import RAW_COLUMNS, ApplyResult, Backend

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
    param = "?"
    types = {"key": "varchar", "id": "varchar", "text": "varchar", "int": "bigint",
             "ts": "timestamp"}
    raw_types = {
        "id": "varchar not null",
        "payload": "json",
        "payload_hash": "varchar",
        "record_updated_at": "timestamp",
        "ingested_at": "timestamp not null",
        "source_file": "varchar",
        "load_id": "varchar",
    }

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

    def temp_table_as(self, name: str, select_sql: str, params: tuple = ()) -> None:
        self.execute(f"drop table if exists {name}")
        self.execute(f"create temp table {name} as {select_sql}", params)

    # -- staging ----------------------------------------------------------------
    _fast = None  # the fast path's stager of the current load, if any

    def stage_file(self, path, opts, result, progress) -> list | None:
        """The fast path (duckdb_fastpath); None when CANVAS_DUCKDB_FASTPATH=0."""
        self._fast = duckdb_fastpath.stage_file(self, path, opts, result, progress)
        return None if self._fast is None else self._fast.rejects

    def stage_create(self) -> None:
        """payload is JSON, and NULL for a record the fast path left in the file
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

    def insert_rejects(self, load_id: str, source_file: str, rejects: list) -> None:
        if not rejects:
            return
        batch = pa.table(
            {
                "load_id": [load_id] * len(rejects),
                "source_file": [source_file] * len(rejects),
                "line_number": [r[0] for r in rejects],
                "reason": [r[1] for r in rejects],
                "line_excerpt": [r[2] for r in rejects],
            }
        )
        self.conn.register("_reject_batch", batch)
        try:
            self.execute(
                "insert into meta.load_reject "
                "(load_id, source_file, line_number, reason, line_excerpt, rejected_at) "
                f"select load_id, source_file, line_number, reason, line_excerpt, {self.now_sql()} "
                "from _reject_batch"
            )
        finally:
            self.conn.unregister("_reject_batch")

    # De-duplication and comparison never carry a payload: a row to write takes
    # it from _stage, or from the file (the fast path), in write_rows.
    carried_columns = ("line_bytes", "line_offset")

    def apply(self, *, schema: str, name: str, source_name: str, load_id: str,
              source_file: str, incremental: bool, lock_timeout: float) -> ApplyResult:
        """Backend.apply on the small columns; after the fast path's first load
        the payloads are in raw already (_apply_first_load)."""
        if self._fast is not None and self._fast.direct:
            watermark = self.scalar(
                "select last_updated_at from meta.watermark where source_name = ?",
                (source_name,),
            )
            return self._apply_first_load(self.table(schema, name), source_name, load_id,
                                          source_file, watermark if incremental else None,
                                          watermark)
        return super().apply(schema=schema, name=name, source_name=source_name,
                             load_id=load_id, source_file=source_file,
                             incremental=incremental, lock_timeout=lock_timeout)

    def _apply_first_load(self, raw: str, source_name: str, load_id: str, source_file: str,
                          filter_below, watermark) -> ApplyResult:
        """raw held nothing and now holds every record of the file: rewrite the ids
        for which that is not the result (in the file more than once: the last
        line wins; the winner below the watermark: not written). Whatever else
        apply needs is then a count over raw."""
        fast = self._fast
        fast.stage_exceptions(filter_below)
        below = 0
        if self.scalar("select count(*) from _stage"):
            self.temp_table_as("_latest", self.latest_sql())
            if filter_below is not None:
                below = self.scalar(
                    "select count(*) from _latest where record_updated_at < ?", (filter_below,)
                )
                self.execute("delete from _latest where record_updated_at < ?",
                             (filter_below,))
            self.execute(f"delete from {raw} where id in (select id from _stage)")
            self.write_rows(raw, "_latest", fast.ingested_at, source_file, load_id)
        inserted, new_max = self.execute(
            f"select count(*), max(record_updated_at) from {raw}").fetchall()[0]
        return self.first_load_result(fast, source_name, load_id, watermark, new_max,
                                      inserted + below, below)

    def write_rows(self, raw: str, rows: str, ingested_at, source_file: str,
                   load_id: str) -> None:
        """Insert the rows listed in the temp table rows (line_number, id,
        payload_hash, record_updated_at, line_bytes, line_offset) into raw."""
        self.execute(
            f"insert into {raw} ({', '.join(RAW_COLUMNS)}) "
            "select c.id, s.payload, c.payload_hash, c.record_updated_at, ?, ?, ? "
            f"from {rows} as c join _stage as s on s.line_number = c.line_number "
            "where c.line_bytes is null",
            (ingested_at, source_file, load_id),
        )
        if self._fast is not None:
            self.temp_table_as("_from_file", f"select * from {rows} where line_bytes is not null")
            self._fast.write_from_file("_from_file", ingested_at, source_file, load_id)

    def close(self) -> None:
        if self._fast is not None:
            self._fast.cleanup()
            self._fast = None
        self.keep_transaction = False
        super().close()


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

