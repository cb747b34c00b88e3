"""PostgreSQL: a real server, where loads of one source can run at the same time.

Staging is stager.py's (binary COPY of Arrow batches encoded column-wise by
copy.py, no Python loop per row): into an empty raw table straight into raw,
otherwise into a temporary table. The apply is the shared one (apply.py)
inside one transaction. Loads of one source are serialized by a
transaction-scoped advisory lock, pg_advisory_xact_lock(hashtext(source_name)),
so it is released by commit, rollback or a dropped connection alike. The
connection runs in autocommit; begin()/commit() issue the transaction
statements themselves.
"""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa
from psycopg import errors as pg_errors

from ... import contract
from ...errors import ConnectionFailed, LockTimeout
from .. import apply as apply_steps
from ..base import Backend
from . import copy as pg_copy
from . import stager
from .text import split_unstorable, storable

# Serializes the loader's CREATE ... IF NOT EXISTS: run concurrently they can
# fail on the catalog's unique index. Two-key form: never equals a source's key.
_DDL_LOCK = "hashtext('canvas_pipeline'), hashtext('ddl')"


class PostgresBackend(Backend):
    engine = "postgres"
    param = "%s"

    # -- connection -------------------------------------------------------
    def connect(self, lock_timeout: float = 60.0, on_wait=None) -> None:
        """Open the connection; the lock timeout and on_wait are kept for lock_source()."""
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        c = self.target.config
        params = {
            "host": c.get("host"),
            "port": c.get("port"),
            "user": c.get("user"),
            "password": c.get("password") or c.get("pass") or None,
            "dbname": c.get("dbname") or c.get("database"),
            "connect_timeout": c.get("connect_timeout") or 10,
            "sslmode": c.get("sslmode"),
            "application_name": "canvas-loader",
            "options": "-c timezone=UTC",
        }
        try:
            self.conn = psycopg.connect(
                autocommit=True, **{k: v for k, v in params.items() if v not in (None, "")}
            )
        except psycopg.Error as exc:
            reason = _one_line(str(exc), self.target.secrets)
            raise ConnectionFailed(
                f"cannot connect to {self.target.describe()} "
                f"(database {params['dbname']}, user {params['user']}): {reason}",
                _connect_hint(reason),
            ) from None

    def execute(self, sql: str, params: tuple | list = ()):
        """Without params the SQL is sent as is (a literal % needs no escaping)."""
        cur = self.conn.cursor()
        cur.execute(sql, params or None)
        return cur

    # -- dialect ------------------------------------------------------------
    def now_sql(self) -> str:
        """The statement's start, not now() (the transaction's start, which can be
        before a lock the transaction waited for), and one value per statement,
        unlike clock_timestamp()."""
        return "(statement_timestamp() at time zone 'UTC')"

    def plus_one_microsecond(self, expr: str) -> str:
        return f"({expr} + interval '1 microsecond')"

    def payload_from_text(self, column: str) -> str:
        return f"cast({column} as jsonb)"

    # -- DDL ----------------------------------------------------------------
    def ensure_meta(self) -> None:
        """Takes the DDL lock first; it is held until the caller commits the DDL."""
        self._advisory_lock(_DDL_LOCK, "the loader's table setup")
        super().ensure_meta()

    def ensure_raw(self, schema: str, name: str) -> None:
        """The raw contract plus the indexes the apply and ingest_clock() rely on."""
        super().ensure_raw(schema, name)
        for column, unique in (("id", True), ("ingested_at", False)):
            self._ensure_index(schema, name, column, unique)

    def ensure_history(self, schema: str, name: str) -> None:
        """The history table plus indexes for `loader history` (id) and
        `loader rollback` (superseded_by)."""
        super().ensure_history(schema, name)
        for column in ("id", "superseded_by"):
            self._ensure_index(schema, contract.history_name(name), column, False)

    def _ensure_index(self, schema: str, name: str, column: str, unique: bool) -> None:
        """Checked first, because CREATE INDEX IF NOT EXISTS locks the table (and
        would wait for a running load) even when the index is already there."""
        exists = self.scalar(
            "select count(*) from pg_index as i join pg_attribute as a "
            "on a.attrelid = i.indrelid and a.attnum = i.indkey[0] "
            "where i.indrelid = to_regclass(%s) and a.attname = %s",
            (self.table(schema, name), column),
        )
        if not exists:
            kind = "unique index" if unique else "index"
            self.execute(f"create {kind} on {self.table(schema, name)} ({self.quote(column)})")

    def insert_rows(self, table: str, columns: list[str], rows: list[tuple],
                    now_column: str | None = None) -> None:
        """One statement over arrays (one clock value for all rows); text cannot
        hold U+0000, which becomes U+FFFD."""
        if not rows:
            return
        meta = contract.meta_tables(self.engine)
        name = table.split(".")[-1]
        types = dict(meta[name]) if name in meta else apply_steps.DELETES_TYPES
        arrays = ", ".join(f"%s::{types[c]}[]" for c in columns)
        values = [*columns, self.now_sql()] if now_column else list(columns)
        names = [*columns, now_column] if now_column else list(columns)
        self.execute(
            f"insert into {table} ({', '.join(names)}) select {', '.join(values)} "
            f"from unnest({arrays}) as r ({', '.join(columns)})",
            [list(col) for col in zip(*(storable(row) for row in rows))],
        )

    # -- staging ------------------------------------------------------------
    def stager(self, spec):
        """The COPY stager (stager.py) unless CANVAS_PG_FASTPATH=0."""
        if stager.enabled():
            return stager.PgStager(self, spec)
        return super().stager(spec)

    def stage_create(self) -> None:
        self.execute("drop table if exists _stage")
        self.execute(
            "create temp table _stage (line_number bigint, id text, payload text, "
            "payload_hash text, record_updated_at timestamp)"
        )

    def stage_append(self, batch: pa.Table) -> list | None:
        """One binary COPY per batch (measured: about 3x the rows/s of CSV COPY)."""
        batch, unstorable = split_unstorable(batch)
        pg_copy.copy_batches(self.conn.cursor(), "copy _stage from stdin (format binary)",
                             [batch])
        return unstorable

    def temp_table_as(self, name: str, select_sql: str, params: tuple = ()) -> None:
        """Temp tables are never auto-analyzed; without statistics the planner
        misjudges them by orders of magnitude (seen: a nested loop of 200k index
        lookups for the delete of changed rows)."""
        super().temp_table_as(name, select_sql, params)
        self.execute(f"analyze {name}")

    # -- locking --------------------------------------------------------------
    def try_lock_source(self, source_name: str) -> bool:
        """The source's lock if it is free now (no waiting)."""
        return self._try_advisory_lock("hashtext(%s)", (source_name,))

    def _try_advisory_lock(self, key_sql: str, params: tuple = ()) -> bool:
        return bool(self.scalar(f"select pg_try_advisory_xact_lock({key_sql})", params))

    def lock_source(self, source_name: str) -> None:
        self._advisory_lock("hashtext(%s)", f"source {source_name}", (source_name,))

    def _advisory_lock(self, key_sql: str, what: str, params: tuple = (),
                       timeout: float | None = None) -> None:
        """Transaction-scoped lock: try at once; else say so and wait up to the timeout."""
        timeout = self.lock_timeout if timeout is None else timeout
        if self._try_advisory_lock(key_sql, params):
            return
        if self.on_wait is not None:
            self.on_wait(f"waiting for the lock on {what} (another load holds it)")
        if timeout > 0:
            # lock_timeout 0 would mean "wait forever"; a timeout <= 0 fails at once.
            self.execute(f"set local lock_timeout = {max(1, int(timeout * 1000))}")
            try:
                self.execute(f"select pg_advisory_xact_lock({key_sql})", params)
                self.execute("set local lock_timeout = default")
                return
            except pg_errors.LockNotAvailable:
                pass
        raise LockTimeout(
            f"the lock on {what} is held by another load (waited {timeout:g}s)",
            "Wait for the other load to finish, or raise --lock-timeout",
        )


_LIBPQ_PREFIX = re.compile(
    r"^(connection failed:\s*)?"
    r'(connection to server at "[^"]*"( \([^)]*\))?, port \d+ failed:\s*)?'
    r"(FATAL:\s*)?"
)


def _one_line(message: str, secrets: list[str]) -> str:
    """libpq reports one line per address tried, each repeating host and port
    (already in our message); keep the distinct reasons, never a secret."""
    for secret in secrets:
        message = message.replace(secret, "***")
    reasons = [_LIBPQ_PREFIX.sub("", ln.strip()) for ln in message.splitlines()]
    reasons = [r for r in reasons if not r.startswith("Is the server running")]
    return "; ".join(dict.fromkeys(r.rstrip(".") for r in reasons if r))[:500]


def _connect_hint(reason: str) -> str:
    if "password" in reason or "role" in reason or "authentication" in reason:
        return "Check PGUSER and PGPASSWORD (the profile reads them from the environment)"
    if "database" in reason and "does not exist" in reason:
        return "Create the database (createdb) or set PGDATABASE"
    return "Check that the server is running and PGHOST and PGPORT point to it"
