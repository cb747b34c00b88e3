"""What every backend does, in portable SQL; dialects override the few differences.

A backend owns one connection. The load is: create the raw and meta tables if
missing, stage the file's valid records in a temporary table (each database's
bulk path), then one transaction that takes the source's lock and the database
clock, de-duplicates, filters by watermark and hash, upserts into raw, moves
the watermark and writes the load log. Everything before that transaction is
invisible to readers; a failure or a kill rolls all of it back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from ..errors import TableShapeError
from ..faults import crash_point
from ..profiles import Target

RAW_COLUMNS = (
    "id",
    "payload",
    "payload_hash",
    "record_updated_at",
    "ingested_at",
    "source_file",
    "load_id",
)

# What an existing raw table's column types must contain (information_schema's
# data_type, any engine): text-like where text is stored, timestamps as such.
_TEXT = ("char", "text", "json", "string")
_TYPE_FAMILY = {
    "id": _TEXT,
    "payload": _TEXT,
    "payload_hash": _TEXT,
    "record_updated_at": ("timestamp", "datetime"),
    "ingested_at": ("timestamp", "datetime"),
    "source_file": _TEXT,
    "load_id": _TEXT,
}

# Logical types of the meta tables (contract with macros/audit/create_meta_tables).
META_TABLES: dict[str, list[tuple[str, str]]] = {
    "watermark": [
        ("source_name", "key"),
        ("last_updated_at", "ts"),
        ("load_id", "id"),
        ("updated_at", "ts"),
    ],
    "load_file": [
        ("load_id", "id"),
        ("source_name", "key"),
        ("target_table", "key"),
        ("source_file", "text"),
        ("file_sha256", "id"),
        ("status", "id"),
        ("rows_read", "int"),
        ("rows_written", "int"),
        ("rows_skipped", "int"),
        ("rows_rejected", "int"),
        ("started_at", "ts"),
        ("ended_at", "ts"),
        ("file_stat", "text"),
    ],
    "load_reject": [
        ("load_id", "id"),
        ("source_file", "text"),
        ("line_number", "int"),
        ("reason", "text"),
        ("line_excerpt", "text"),
        ("rejected_at", "ts"),
    ],
    "job_run": [
        ("run_id", "id"),
        ("job_name", "key"),
        ("status", "id"),
        ("started_at", "ts"),
        ("ended_at", "ts"),
        ("duration_ms", "int"),
        ("metrics_json", "text"),
        ("error_message", "text"),
    ],
}

STAGE_SCHEMA = pa.schema(
    [
        ("line_number", pa.int64()),
        ("id", pa.string()),
        ("payload", pa.string()),
        ("payload_hash", pa.string()),
        ("record_updated_at", pa.timestamp("us")),
    ]
)


@dataclass
class ApplyResult:
    ingested_at: datetime
    staged: int
    duplicates_in_file: int
    below_watermark: int
    unchanged: int
    inserted: int
    updated: int
    watermark_before: datetime | None
    watermark_after: datetime | None

    @property
    def written(self) -> int:
        return self.inserted + self.updated


class Backend(ABC):
    """Portable parts. Subclasses set `param` and the type names, and override dialect bits."""

    param = "?"
    types: dict[str, str] = {}
    raw_types: dict[str, str] = {}

    def __init__(self, target: Target):
        self.target = target
        self.conn = None
        # Where a lock is waited for inside a transaction (lock_source): connect()
        # keeps --lock-timeout and the "waiting for ..." callback here.
        self.lock_timeout = 60.0
        self.on_wait = None

    # -- connection -------------------------------------------------------
    @abstractmethod
    def connect(self, lock_timeout: float, on_wait=None) -> None:
        """Open self.conn; wait at most lock_timeout seconds for a lock, calling on_wait once."""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def execute(self, sql: str, params: tuple | list = ()):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def scalar(self, sql: str, params: tuple | list = ()):
        rows = self.execute(sql, params).fetchall()
        return rows[0][0] if rows else None

    # A fast path's first load opens the load's transaction while staging; the
    # begin() before apply then joins it. commit() and rollback() end it.
    keep_transaction = False

    def begin(self) -> None:
        if not self.keep_transaction:
            self.execute("begin transaction")

    def commit(self) -> None:
        self.keep_transaction = False
        self.execute("commit")

    def rollback(self) -> None:
        self.keep_transaction = False
        try:
            self.execute("rollback")
        except Exception:  # noqa: BLE001 - nothing to roll back is fine
            pass

    # -- names --------------------------------------------------------------
    @staticmethod
    def quote(name: str) -> str:
        return '"' + name + '"'

    def table(self, schema: str, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}"

    # -- DDL ----------------------------------------------------------------
    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {self.quote(schema)}")

    def create_table(self, schema: str, name: str, columns: list[tuple[str, str]]) -> None:
        cols = ", ".join(f"{self.quote(c)} {t}" for c, t in columns)
        self.execute(f"create table if not exists {self.table(schema, name)} ({cols})")

    def ensure_meta(self) -> None:
        self.create_schema("meta")
        for name, cols in META_TABLES.items():
            self.create_table("meta", name, [(c, self.types[t]) for c, t in cols])
        self._add_missing_meta_columns()

    def _add_missing_meta_columns(self) -> None:
        """Tables made by an earlier version get the columns added since (nullable)."""
        cur = self.execute(
            "select table_name, column_name from information_schema.columns "
            f"where table_schema = {self.param}",
            ("meta",),
        )
        existing: dict[str, set[str]] = {}
        for table, column in cur.fetchall():
            existing.setdefault(table.lower(), set()).add(column.lower())
        for name, cols in META_TABLES.items():
            have = existing.get(name)
            for column, logical in cols:
                if have and column not in have:
                    self.execute(self.add_column_sql("meta", name, column, self.types[logical]))

    def add_column_sql(self, schema: str, name: str, column: str, type_: str) -> str:
        return f"alter table {self.table(schema, name)} add column {self.quote(column)} {type_}"

    def ensure_raw(self, schema: str, name: str) -> None:
        """Create the raw table, or check that an existing one has the raw contract's
        columns with compatible types (text where text is stored, timestamps as such)."""
        self.create_schema(schema)
        existing = {c.lower(): t.lower() for c, t in self.table_column_types(schema, name)}
        if not existing:
            self.create_table(schema, name, [(c, self.raw_types[c]) for c in RAW_COLUMNS])
            return
        missing = [c for c in RAW_COLUMNS if c not in existing]
        if missing:
            raise TableShapeError(
                f"table {schema}.{name} exists but lacks the raw columns {', '.join(missing)}",
                "Load into a new table, or rename the existing one out of the way",
            )
        wrong = [
            f"{c} is {existing[c]}"
            for c in RAW_COLUMNS
            if not any(k in existing[c] for k in _TYPE_FAMILY[c])
        ]
        if wrong:
            raise TableShapeError(
                f"table {schema}.{name} has raw columns of the wrong type ({'; '.join(wrong)})",
                "Load into a new table, or rename the existing one out of the way",
            )

    def table_column_types(self, schema: str, name: str) -> list[tuple[str, str]]:
        cur = self.execute(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = {self.param} and table_name = {self.param} "
            "order by ordinal_position",
            (schema, name),
        )
        return [(r[0], r[1]) for r in cur.fetchall()]

    # -- audit --------------------------------------------------------------
    @abstractmethod
    def now_sql(self) -> str:
        """SQL for the database's current UTC time as a naive timestamp."""

    def job_start(self, run_id: str, job_name: str, metrics_json: str) -> datetime:
        """Committed at once, so a killed load stays visible as 'running'."""
        self.begin()
        self.execute(
            "insert into meta.job_run (run_id, job_name, status, started_at, metrics_json) "
            f"values ({self.param}, {self.param}, 'running', {self.now_sql()}, {self.param})",
            (run_id, job_name, metrics_json),
        )
        started = self.scalar(
            f"select started_at from meta.job_run where run_id = {self.param}", (run_id,)
        )
        self.commit()
        return started

    def job_finish(self, run_id: str, status: str, metrics_json: str, error: str | None,
                   duration_ms: int) -> None:
        """Part of the caller's transaction. The duration is measured by the caller:
        inside a transaction the database clock may stand still (now() is its start)."""
        self.execute(
            f"update meta.job_run set status = {self.param}, ended_at = {self.now_sql()}, "
            f"duration_ms = {self.param}, metrics_json = {self.param}, "
            f"error_message = {self.param} where run_id = {self.param}",
            (status, duration_ms, metrics_json, error, run_id),
        )

    def find_loaded_file(self, target_table: str, sha256: str) -> str | None:
        return self.scalar(
            "select max(load_id) from meta.load_file "
            f"where target_table = {self.param} and file_sha256 = {self.param} "
            "and status = 'success'",
            (target_table, sha256),
        )

    def find_file_by_fingerprint(self, target_table: str,
                                 fingerprint: str) -> tuple[str, str] | None:
        """(load_id, file_sha256) of a successful load of this very file, untouched since."""
        cur = self.execute(
            "select load_id, file_sha256 from meta.load_file "
            f"where target_table = {self.param} and file_stat = {self.param} "
            "and status = 'success' order by load_id",
            (target_table, fingerprint),
        )
        row = cur.fetchone()
        return (row[0], row[1]) if row else None

    def insert_load_file(self, row: dict) -> None:
        cols = [c for c, _ in META_TABLES["load_file"] if c != "ended_at"]
        values = ", ".join([self.param] * len(cols))
        self.execute(
            f"insert into meta.load_file ({', '.join(cols)}, ended_at) "
            f"values ({values}, {self.now_sql()})",
            tuple(row[c] for c in cols),
        )

    def insert_rejects(self, load_id: str, source_file: str, rejects: list) -> None:
        if not rejects:
            return
        cur = self.conn.cursor()
        cur.executemany(
            "insert into meta.load_reject "
            "(load_id, source_file, line_number, reason, line_excerpt, rejected_at) "
            f"values ({self.param}, {self.param}, {self.param}, {self.param}, {self.param}, "
            f"{self.now_sql()})",
            [(load_id, source_file, n, reason, excerpt) for n, reason, excerpt in rejects],
        )

    # -- the load -------------------------------------------------------------
    def stage_file(self, path, opts, result, progress) -> list | None:
        """A backend's own way to stage a whole file: fill _stage, add to result's
        rows_read / blank_lines / bytes_read, call progress per batch, and return
        the rejects, exactly as load.py's portable loop over jsonl.read_batches
        would. None (the default): use that loop."""
        return None

    @abstractmethod
    def stage_create(self) -> None:
        """Create the empty temporary table _stage (STAGE_SCHEMA's columns)."""

    @abstractmethod
    def stage_append(self, batch: pa.Table) -> list | None:
        """Append an Arrow batch to _stage through the database's bulk path. Records
        the database cannot store are left out and returned as rejects
        (line_number, reason, excerpt); None when there are none."""

    def lock_source(self, source_name: str, lock_timeout: float) -> None:
        """Serialize loads of one source inside the transaction (no-op where the
        connection itself is exclusive)."""

    def temp_table_as(self, name: str, select_sql: str) -> None:
        self.execute(f"drop table if exists {name}")
        self.execute(f"create temp table {name} as {select_sql}")

    def ingest_clock(self, raw: str) -> datetime:
        """The database clock, but never at or before what the table already holds,
        so `ingested_at > processed` stays a correct incremental filter."""
        return self.scalar(
            f"select case when max(ingested_at) is null or max(ingested_at) < {self.now_sql()} "
            f"then {self.now_sql()} else {self.plus_one_microsecond('max(ingested_at)')} end "
            f"from {raw}"
        )

    @abstractmethod
    def plus_one_microsecond(self, expr: str) -> str:
        """SQL adding the smallest step of the timestamp type to expr."""

    # The columns _stage carries beside line_number, id, payload_hash and
    # record_updated_at through de-duplication and comparison (DuckDB: where in
    # the file the line is, instead of the payload).
    carried_columns: tuple[str, ...] = ("payload",)

    def latest_sql(self) -> str:
        """The last line of each id in _stage, with the carried columns."""
        carried = "".join(f"{c}, " for c in self.carried_columns)
        return (
            f"select line_number, id, {carried}payload_hash, record_updated_at from ("
            "select s.*, row_number() over (partition by s.id order by s.line_number desc) as rn "
            "from _stage as s) as ranked where rn = 1"
        )

    def apply(self, *, schema: str, name: str, source_name: str, load_id: str,
              source_file: str, incremental: bool, lock_timeout: float) -> ApplyResult:
        """The set-based part of a load; runs inside the caller's transaction."""
        p = self.param
        raw = self.table(schema, name)
        self.lock_source(source_name, lock_timeout)
        ingested_at = self.ingest_clock(raw)
        watermark = self.scalar(
            f"select last_updated_at from meta.watermark where source_name = {p}", (source_name,)
        )
        staged = self.scalar("select count(*) from _stage")
        self.temp_table_as("_latest", self.latest_sql())
        latest = self.scalar("select count(*) from _latest")
        below = 0
        if incremental and watermark is not None:
            below = self.scalar(
                f"select count(*) from _latest where record_updated_at < {p}", (watermark,)
            )
            if below:
                self.execute(f"delete from _latest where record_updated_at < {p}", (watermark,))
        carried = "".join(f"l.{c}, " for c in self.carried_columns)
        self.temp_table_as(
            "_changes",
            f"select l.line_number, l.id, {carried}l.payload_hash, l.record_updated_at, "
            "case when r.id is null then 0 else 1 end as existed "
            f"from _latest as l left join {raw} as r on r.id = l.id "
            "where r.id is null or r.payload_hash <> l.payload_hash",
        )
        inserted, updated, new_max = self.execute(
            "select coalesce(sum(1 - existed), 0), coalesce(sum(existed), 0), "
            "max(record_updated_at) from _changes"
        ).fetchall()[0]
        if updated:
            self.execute(
                f"delete from {raw} where id in (select id from _changes where existed = 1)"
            )
        if inserted or updated:
            self.write_rows(raw, "_changes", ingested_at, source_file, load_id)
        return self.finish_apply(source_name, load_id, watermark, new_max, ingested_at=ingested_at,
                                 staged=staged, latest=latest, below=below, inserted=inserted,
                                 updated=updated)

    def write_rows(self, raw: str, rows: str, ingested_at, source_file: str,
                   load_id: str) -> None:
        """Insert the rows of the temp table rows (as _changes) into raw."""
        p = self.param
        self.execute(
            f"insert into {raw} ({', '.join(RAW_COLUMNS)}) "
            f"select id, {self.payload_from_text('payload')}, payload_hash, record_updated_at, "
            f"{p}, {p}, {p} from {rows}",
            (ingested_at, source_file, load_id),
        )

    def first_load_result(self, fast, source_name: str, load_id: str, watermark, new_max,
                          latest: int, below: int) -> ApplyResult:
        """The end of a fast path's first load (raw was empty; now it holds the
        latest - below records written): move the watermark, and the counts."""
        return self.finish_apply(source_name, load_id, watermark, new_max,
                                 ingested_at=fast.ingested_at, staged=fast.staged, latest=latest,
                                 below=below, inserted=latest - below, updated=0)

    def finish_apply(self, source_name: str, load_id: str, watermark, new_max, *,
                     ingested_at: datetime, staged: int, latest: int, below: int,
                     inserted: int, updated: int) -> ApplyResult:
        """After the upsert: move the watermark (between the crash points), and count.
        latest = records left after de-duplication, below = of them under the watermark."""
        crash_point("after_upsert")
        watermark_after = self.move_watermark(source_name, load_id, watermark, new_max)
        crash_point("after_watermark")
        return ApplyResult(
            ingested_at=ingested_at,
            staged=staged,
            duplicates_in_file=staged - latest,
            below_watermark=below,
            unchanged=latest - below - inserted - updated,
            inserted=int(inserted),
            updated=int(updated),
            watermark_before=watermark,
            watermark_after=watermark_after,
        )

    def move_watermark(self, source_name: str, load_id: str, watermark, new_max):
        """Move the source's watermark to new_max if that is later; return the watermark."""
        if new_max is None or (watermark is not None and new_max <= watermark):
            return watermark
        p = self.param
        self.execute(f"delete from meta.watermark where source_name = {p}", (source_name,))
        self.execute(
            "insert into meta.watermark (source_name, last_updated_at, load_id, updated_at) "
            f"values ({p}, {p}, {p}, {self.now_sql()})",
            (source_name, new_max, load_id),
        )
        return new_max

    def payload_from_text(self, column: str) -> str:
        """How the staged payload text becomes the raw payload column."""
        return column
