"""DuckDB: the embedded default. The database file's own lock serializes writers,
so a second load waits for the first to close the file (up to --lock-timeout)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa

from ..errors import ConnectionFailed, LockTimeout
from .base import Backend

_LOCK_MESSAGES = ("could not set lock", "conflicting lock")
DEFAULT_MEMORY_LIMIT = "300MB"


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
                    f"cannot open DuckDB database {path}: directory {parent} does not exist"
                )
        settings = {k: str(v) for k, v in (self.target.config.get("settings") or {}).items()}
        deadline = time.monotonic() + lock_timeout
        waited = False
        while True:
            try:
                self.conn = duckdb.connect(path, config=settings)
                break
            except duckdb.IOException as exc:
                if not any(m in str(exc).lower() for m in _LOCK_MESSAGES):
                    raise ConnectionFailed(f"cannot open DuckDB database {path}: {exc}") from None
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

    def stage_create(self) -> None:
        self.execute("drop table if exists _stage")
        self.execute(
            "create temp table _stage (line_number bigint, id varchar, payload varchar, "
            "payload_hash varchar, record_updated_at timestamp)"
        )

    def stage_append(self, batch: pa.Table) -> None:
        self.conn.register("_stage_batch", batch)
        try:
            self.execute("insert into _stage select * from _stage_batch")
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
