"""PostgreSQL: a real server, where loads of one source can run at the same time.

Staging is the fast path (pg_fastpath: the shared lean parser, binary COPY of
Arrow batches encoded column-wise by pg_copy, no Python loop per row): into an
empty raw table straight into raw, otherwise into a temporary table. The apply
is the base class's set-based SQL inside one transaction (after a first load,
_apply_first_load's fix-ups of the ids the file holds more than once). Loads of one source are serialized by a
transaction-scoped advisory lock, pg_advisory_xact_lock(hashtext(source_name)),
so it is released by commit, rollback or a dropped connection alike. The
connection runs in autocommit; base.begin()/commit() issue the transaction
statements themselves.
"""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import errors as pg_errors

from ..errors import ConnectionFailed, LockTimeout
from ..jsonl import EXCERPT_CHARS
from . import pg_copy, pg_fastpath
from .base import ApplyResult, Backend

# Serializes the loader's CREATE ... IF NOT EXISTS: run concurrently they can
# fail on the catalog's unique index. Two-key form: never equals a source's key.
_DDL_LOCK = "hashtext('canvas_pipeline'), hashtext('ddl')"
_NUL_ESCAPE = r"(^|[^\\])(\\\\)*\\u0000"
_UNSTORABLE = "contains U+0000 (\\u0000), which PostgreSQL cannot store in text or jsonb"


class PostgresBackend(Backend):
    param = "%s"
    types = {"key": "text", "id": "text", "text": "text", "int": "bigint", "ts": "timestamp"}
    raw_types = {
        "id": "text not null",
        "payload": "jsonb",
        "payload_hash": "text",
        "record_updated_at": "timestamp",
        "ingested_at": "timestamp not null",
        "source_file": "text",
        "load_id": "text",
    }

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

    def insert_rejects(self, load_id: str, source_file: str, rejects: list) -> None:
        """One statement, so all rejects of a load share one rejected_at (as on DuckDB)."""
        if not rejects:
            return
        self.execute(
            "insert into meta.load_reject "
            "(load_id, source_file, line_number, reason, line_excerpt, rejected_at) "
            f"select %s, %s, line_number, reason, line_excerpt, {self.now_sql()} "
            "from unnest(%s::bigint[], %s::text[], %s::text[]) "
            "as r (line_number, reason, line_excerpt)",
            (load_id, source_file, *(list(col) for col in zip(*_storable(rejects)))),
        )

    # -- staging ------------------------------------------------------------
    _fast = None  # the fast path's stager of the current load, if any

    def stage_file(self, path, opts, result, progress) -> list | None:
        """The fast path (pg_fastpath); None when CANVAS_PG_FASTPATH=0."""
        self._fast = pg_fastpath.stage_file(self, path, opts, result, progress)
        return None if self._fast is None else self._fast.rejects

    def stage_create(self) -> None:
        self.execute("drop table if exists _stage")
        self.execute(
            "create temp table _stage (line_number bigint, id text, payload text, "
            "payload_hash text, record_updated_at timestamp)"
        )

    def stage_append(self, batch: pa.Table) -> list | None:
        """One binary COPY per batch (measured: about 3x the rows/s of CSV COPY)."""
        batch, unstorable = self.split_unstorable(batch)
        pg_copy.copy_batches(self.conn.cursor(), "copy _stage from stdin (format binary)",
                             [batch])
        return unstorable

    @staticmethod
    def split_unstorable(batch):
        """(the records PostgreSQL can store, rejects for the others): _split_unstorable."""
        return _split_unstorable(batch)

    def temp_table_as(self, name: str, select_sql: str) -> None:
        """Temp tables are never auto-analyzed; without statistics the planner
        misjudges them by orders of magnitude (seen: a nested loop of 200k index
        lookups for the delete of changed rows)."""
        super().temp_table_as(name, select_sql)
        self.execute(f"analyze {name}")

    def apply(self, **kwargs) -> ApplyResult:
        if self._fast is not None and self._fast.direct:
            return self._apply_first_load(**kwargs)
        return super().apply(**kwargs)

    def _apply_first_load(self, *, schema: str, name: str, source_name: str, load_id: str,
                          source_file: str, incremental: bool,
                          lock_timeout: float) -> ApplyResult:
        """raw held nothing; now it holds the first line of every id of the file,
        and _stage every later line of an id (and a few first ones, the Bloom
        filter's false positives). The source's lock is held since staging.
        Rewrite the ids in _stage with their last line, and drop what the last
        line puts below the watermark; the counts follow without scanning raw."""
        fast = self._fast
        raw = self.table(schema, name)
        watermark = self.scalar(
            "select last_updated_at from meta.watermark where source_name = %s", (source_name,)
        )
        below_mark = watermark if incremental else None
        latest = fast.staged - fast.diverted  # ids in raw now
        new_max = fast.direct_max
        below = 0
        if fast.diverted:
            self.execute("analyze _stage")
            self.temp_table_as("_latest", self.latest_sql())
            latest += self.scalar(
                f"select count(*) from _latest as l where not exists "
                f"(select 1 from {raw} as r where r.id = l.id)"
            )
            if new_max is not None and self.scalar(
                f"select exists (select 1 from {raw} where id in (select id from _latest) "
                "and record_updated_at = %s)", (new_max,)
            ):
                new_max = None  # the latest timestamp in raw is rewritten: look again below
            if below_mark is not None:
                below += self.execute(
                    "delete from _latest where record_updated_at < %s", (below_mark,)
                ).rowcount
            self.execute(f"delete from {raw} where id in (select id from _stage)")
        if below_mark is not None and fast.direct_min is not None and \
                fast.direct_min < below_mark:
            below += self.execute(
                f"delete from {raw} where record_updated_at < %s", (below_mark,)
            ).rowcount
        if fast.diverted:
            self.write_rows(raw, "_latest", fast.ingested_at, source_file, load_id)
            if new_max is None and fast.direct_max is not None:
                new_max = self.scalar(f"select max(record_updated_at) from {raw}")
            else:
                new_max = _max(new_max, self.scalar("select max(record_updated_at) from _latest"))
        return self.first_load_result(fast, source_name, load_id, watermark, new_max,
                                      latest, below)

    def close(self) -> None:
        self._fast = None
        self.keep_transaction = False
        super().close()

    # -- locking --------------------------------------------------------------
    def try_lock_source(self, source_name: str) -> bool:
        """The source's lock if it is free now (no waiting)."""
        return self._try_advisory_lock("hashtext(%s)", (source_name,))

    def _try_advisory_lock(self, key_sql: str, params: tuple = ()) -> bool:
        return bool(self.scalar(f"select pg_try_advisory_xact_lock({key_sql})", params))

    def lock_source(self, source_name: str, lock_timeout: float) -> None:
        self._advisory_lock(
            "hashtext(%s)", f"source {source_name}", (source_name,), lock_timeout
        )

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


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


def _split_unstorable(batch: pa.Table) -> tuple[pa.Table, list]:
    """PostgreSQL text cannot hold U+0000, nor jsonb the escape \\u0000 (DuckDB and
    SQL Server can): such records become rejects instead of failing the load."""
    ids, payloads = batch.column("id"), batch.column("payload")
    bad = pc.or_(pc.match_substring(ids, "\x00"), pc.match_substring(payloads, "\\u0000"))
    if not pc.any(bad).as_py():
        return batch, []
    # Only an odd number of backslashes makes an escape ("\\\\u0000" is text).
    bad = pc.or_(pc.match_substring(ids, "\x00"),
                 pc.match_substring_regex(payloads, _NUL_ESCAPE))
    rejected = batch.filter(bad)
    rejects = [
        (line, _UNSTORABLE, excerpt[:EXCERPT_CHARS])
        for line, excerpt in zip(rejected.column("line_number").to_pylist(),
                                 rejected.column("payload").to_pylist())
    ]
    return batch.filter(pc.invert(bad)), rejects


def _storable(rejects: list) -> list:
    """A rejected line's excerpt may hold U+0000 itself."""
    return [(n, reason, excerpt.replace("\x00", "\ufffd")) for n, reason, excerpt in rejects]


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
