"""What every backend does, in portable SQL; engines override the few differences.

A backend owns one connection: transactions, names, the raw and meta tables
(from loader/contract.py, as the dbt hooks create them), the database clock,
the source's lock, and a bulk insert for audit rows. How a file is staged is
a stager's job (staging.py and each engine's own), how staged records reach
raw is apply.py's, and what the meta tables record is loader/audit.py's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

import pyarrow as pa

from .. import contract
from ..errors import TableShapeError
from ..profiles import Target
from ..read.stream import CHUNK_ROWS
from . import apply as apply_steps
from .staging import TableStager


class Backend(ABC):
    """Portable parts. Subclasses name their engine and override dialect bits."""

    engine = ""  # the contract's name for the engine: duckdb, postgres, sqlserver
    param = "?"
    chunk_rows = CHUNK_ROWS  # records per chunk the reader hands to staging

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

    def begin(self) -> None:
        self.execute("begin transaction")

    def commit(self) -> None:
        self.execute("commit")

    def rollback(self) -> None:
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
        """The meta tables of the contract that are missing, and the columns added to
        the contract since a table was made (one catalog query when all is there)."""
        self.create_schema(contract.META_SCHEMA)
        cur = self.execute(
            "select table_name, column_name from information_schema.columns "
            f"where table_schema = {self.param}",
            (contract.META_SCHEMA,),
        )
        existing: dict[str, set[str]] = {}
        for table, column in cur.fetchall():
            existing.setdefault(table.lower(), set()).add(column.lower())
        for name, cols in contract.meta_tables(self.engine).items():
            have = existing.get(name)
            if not have:
                self.create_table(contract.META_SCHEMA, name, cols)
                continue
            for column, type_ in cols:
                if column not in have:
                    self.execute(self.add_column_sql(contract.META_SCHEMA, name, column, type_))

    def add_column_sql(self, schema: str, name: str, column: str, type_: str) -> str:
        return f"alter table {self.table(schema, name)} add column {self.quote(column)} {type_}"

    def ensure_raw(self, schema: str, name: str) -> None:
        """Create the raw table, or check that an existing one has the raw contract's
        columns with compatible types (text where text is stored, timestamps as such)."""
        self.create_schema(schema)
        existing = {c.lower(): t.lower() for c, t in self.table_column_types(schema, name)}
        if not existing:
            self.create_table(schema, name, contract.raw_table_columns(self.engine))
            return
        later = [(c, t) for c, t in contract.raw_table_columns(self.engine)
                 if c in contract.SET_LATER and c not in existing]
        if later and self._is_base_table(schema, name):
            for column, type_ in later:
                # A column the contract gained since the table was made (deleted_at).
                self.execute(self.add_column_sql(schema, name, column, type_))
                existing[column] = type_.lower()
        missing = [c for c in contract.RAW_COLUMNS
                   if c not in existing and c not in contract.SET_LATER]
        if missing:
            raise TableShapeError(
                f"table {schema}.{name} exists but lacks the raw columns {', '.join(missing)}",
                "Load into a new table, or rename the existing one out of the way",
            )
        families = contract.raw_type_families()
        wrong = [f"{c} is {existing[c]}" for c in contract.RAW_COLUMNS
                 if c in existing and not any(k in existing[c] for k in families[c])]
        if wrong:
            raise TableShapeError(
                f"table {schema}.{name} has raw columns of the wrong type ({'; '.join(wrong)})",
                "Load into a new table, or rename the existing one out of the way",
            )

    def ensure_history(self, schema: str, name: str) -> None:
        """raw.<name>__history (backends/history.py), when missing."""
        self.create_table(schema, contract.history_name(name),
                          contract.history_table_columns(self.engine))

    def _is_base_table(self, schema: str, name: str) -> bool:
        """Not a view (a view's missing columns are the database's to refuse, on write)."""
        kind = self.scalar(
            "select table_type from information_schema.tables "
            f"where table_schema = {self.param} and table_name = {self.param}", (schema, name))
        return kind is not None and "view" not in str(kind).lower()

    def table_column_types(self, schema: str, name: str) -> list[tuple[str, str]]:
        cur = self.execute(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = {self.param} and table_name = {self.param} "
            "order by ordinal_position",
            (schema, name),
        )
        return [(r[0], r[1]) for r in cur.fetchall()]

    def existing_tables(self, schema: str) -> set[str]:
        """The (lowercased) tables and views of a schema."""
        cur = self.execute("select table_name from information_schema.tables "
                           f"where table_schema = {self.param}", (schema,))
        return {r[0].lower() for r in cur.fetchall()}

    # -- clock, locks, bulk rows ---------------------------------------------------
    @abstractmethod
    def now_sql(self) -> str:
        """SQL for the database's current UTC time as a naive timestamp."""

    @abstractmethod
    def plus_one_microsecond(self, expr: str) -> str:
        """SQL adding the smallest step of the timestamp type to expr."""

    def ingest_clock(self, raw: str) -> datetime:
        """The database clock, but never at or before what the table already holds,
        so `ingested_at > processed` stays a correct incremental filter."""
        return self.scalar(
            f"select case when max(ingested_at) is null or max(ingested_at) < {self.now_sql()} "
            f"then {self.now_sql()} else {self.plus_one_microsecond('max(ingested_at)')} end "
            f"from {raw}"
        )

    def lock_source(self, source_name: str) -> None:
        """Serialize loads of one source inside the transaction, waiting at most
        self.lock_timeout (no-op where the connection itself is exclusive)."""

    def insert_rows(self, table: str, columns: list[str], rows: list[tuple],
                    now_column: str | None = None) -> None:
        """Insert rows (tuples in columns' order) through the engine's bulk path;
        now_column, if given, gets the database clock, one value for all rows."""
        if not rows:
            return
        names = [*columns, now_column] if now_column else list(columns)
        values = [self.param] * len(columns) + ([self.now_sql()] if now_column else [])
        cur = self.conn.cursor()
        cur.executemany(f"insert into {table} ({', '.join(names)}) "
                        f"values ({', '.join(values)})", rows)

    # -- the load: staging and apply ------------------------------------------
    def stager(self, spec):
        """The way this backend stages a file into spec.raw; the portable one by default."""
        return TableStager(self)

    @abstractmethod
    def stage_create(self) -> None:
        """Create the empty temporary table _stage (staging.STAGE_SCHEMA's columns)."""

    @abstractmethod
    def stage_append(self, batch: pa.Table) -> list | None:
        """Append an Arrow batch to _stage through the database's bulk path. Records
        the database cannot store are left out and returned as rejects
        (line_number, reason, excerpt); None when there are none."""

    def temp_table_as(self, name: str, select_sql: str, params: tuple = ()) -> None:
        self.execute(f"drop table if exists {name}")
        self.execute(f"create temp table {name} as {select_sql}", params)

    # The columns _stage carries beside line_number, id, payload_hash and
    # record_updated_at through de-duplication and comparison (DuckDB: where in
    # the file the line is, instead of the payload).
    carried_columns: tuple[str, ...] = ("payload",)

    def apply(self, staged, spec) -> apply_steps.ApplyResult:
        """The staged records into raw, inside the caller's transaction (apply.py)."""
        return apply_steps.apply(self, staged, spec)

    def upsert(self, staged, spec) -> apply_steps.ApplyCounts:
        """New and changed records into raw: the portable steps (apply.py)."""
        return apply_steps.upsert(self, staged, spec)

    def stage_deletes(self, deletes: dict) -> None:
        """The file's deletes into the temporary table _deletes (apply.py)."""
        apply_steps.stage_deletes(self, deletes)

    def mark_deleted(self, spec, ingested_at) -> tuple[int, int]:
        """Mark the rows _deletes applies to deleted (apply.py)."""
        return apply_steps.mark_deleted(self, spec, ingested_at)

    def snapshot_counts(self, spec) -> tuple[int, int]:
        """snapshot: (live rows in raw, distinct ids staged) for its size check (apply.py)."""
        return apply_steps.snapshot_counts(self, spec)

    def stage_absent(self, spec, apply: bool) -> tuple[int, int]:
        """snapshot: raw's live ids absent from the file into _deletes (apply.py)."""
        return apply_steps.stage_absent(self, spec, apply)

    def write_rows(self, raw: str, rows: str, ingested_at, spec, staged) -> None:
        """Insert the rows of the temp table rows (as _changes) into raw."""
        p = self.param
        self.execute(
            f"insert into {raw} ({', '.join(contract.WRITTEN_COLUMNS)}) "
            f"select id, {self.payload_from_text('payload')}, payload_hash, record_updated_at, "
            f"{p}, {p}, {p} from {rows}",
            (ingested_at, spec.source_file, spec.load_id),
        )

    def move_watermark(self, spec, counts) -> datetime | None:
        """Move the source's watermark to counts.new_max if that is later; return it."""
        watermark, new_max = counts.watermark_before, counts.new_max
        if new_max is None or (watermark is not None and new_max <= watermark):
            return watermark
        p = self.param
        self.execute(f"delete from meta.watermark where source_name = {p}", (spec.source_name,))
        self.execute(
            "insert into meta.watermark (source_name, last_updated_at, load_id, updated_at) "
            f"values ({p}, {p}, {p}, {self.now_sql()})",
            (spec.source_name, new_max, spec.load_id),
        )
        return new_max

    def watermark(self, source_name: str) -> datetime | None:
        return self.scalar(
            f"select last_updated_at from meta.watermark where source_name = {self.param}",
            (source_name,),
        )

    def payload_from_text(self, column: str) -> str:
        """How the staged payload text becomes the raw payload column."""
        return column
