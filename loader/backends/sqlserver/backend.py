"""SQL Server (the production target), on pyodbc.

The load, in T-SQL terms:

* The file is staged into the session's temp table `#stage` with
  `fast_executemany` (one round trip per chunk of parameter rows), outside
  any transaction: readers never see it, a kill drops it with the session.
  `#latest` (de-duplicated) and `#changes` (new or changed) are created with
  it, empty, and filled by the apply.
* The apply is one transaction (`SET XACT_ABORT ON`: any error rolls all of
  it back): `sp_getapplock` on `canvas_load:<source>` (owner: the transaction,
  so commit or rollback releases it; `--lock-timeout` in milliseconds), then
  apply.py's steps as one batch (tsql.upsert_sql) that reads the clock
  (`SYSUTCDATETIME()`, after the lock is held, never at or before the table's
  max `ingested_at`), de-duplicates the file (last line wins), drops records
  below the watermark, and upserts only the new or changed hashes, then one
  batch that moves the watermark (tsql.watermark_sql), then apply.py's tail.
* The upsert is DELETE + INSERT of the changed ids, not MERGE: the two
  statements run under the applock and the transaction, so MERGE's one
  advantage (a single atomic statement) buys nothing here, while it brings
  its known problems (HOLDLOCK needed against races, a history of bugs with
  indexes and triggers) and a different code path from the other engines.
  The unique index on `id` that the loader adds to every raw table makes the
  delete and the join seeks (and enforces one row per id).

Datetimes are never bound as parameters on the apply path: the clock and the
watermark stay in T-SQL variables, and the staged `record_updated_at` is sent
as ISO text and converted on the server, so no driver rounds them to
milliseconds. Every statement's text comes from tsql.py or the portable base
class, so the T-SQL can be rendered without a server (scripts/check_tsql.py).
"""

from __future__ import annotations

import pyarrow as pa

from ... import contract
from ...errors import ConnectionFailed, LoaderError, LockTimeout, UnsupportedServer
from ...odbc import describe_connection_string, odbc_connection_string
from ..apply import ApplyCounts
from ..base import Backend
from .tsql import (
    DELETES_INPUT_TYPES,
    STAGE_INPUT_TYPES,
    applock_sql,
    create_index_sql,
    create_schema_sql,
    create_table_sql,
    input_type_of_column,
    input_type_of_value,
    deletes_insert_sql,
    iso_text,
    mark_deleted_sql,
    quote,
    server_version_sql,
    snapshot_counts_sql,
    stage_absent_sql,
    stage_insert_sql,
    stage_tables_sql,
    unsupported_server,
    upsert_sql,
    watermark_sql,
)

STAGE_ROWS_PER_ROUND_TRIP = 10_000
LOCK_PREFIX = "canvas_load:"
# Held while creating schemas, tables and indexes, so two first loads do not
# race between "does it exist" and "create".
DDL_LOCK = "canvas_load:ddl"

_LOCK_RESULTS = {-1: "timed out", -2: "was cancelled", -3: "was chosen as a deadlock victim",
                 -999: "was refused (parameter or call error)"}


def _connect(connection_string: str, timeout: int):
    """pyodbc.connect, imported late: the other backends never need libodbc."""
    import pyodbc

    return pyodbc.connect(connection_string, autocommit=True, timeout=timeout)


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import pyodbc
    except ImportError:  # pragma: no cover - connect() would have failed first
        return ()
    return (pyodbc.Error,)


class SqlServerBackend(Backend):
    engine = "sqlserver"
    param = "?"
    chunk_rows = STAGE_ROWS_PER_ROUND_TRIP

    # -- connection -------------------------------------------------------
    def connection_string(self) -> str:
        """--conn as given, else built from the profile (as dbt-sqlserver builds it)."""
        return self.target.conn or odbc_connection_string(self.target.config)

    def where(self) -> str:
        """Where the connection points, for messages: never the password."""
        return describe_connection_string(self.connection_string())

    def connect(self, lock_timeout: float = 60.0, on_wait=None) -> None:
        """Open the connection; --lock-timeout is spent on sp_getapplock, not here."""
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        login_timeout = int(self.target.config.get("login_timeout") or 15)
        try:
            self.conn = _connect(self.connection_string(), login_timeout)
        except ImportError as exc:
            raise ConnectionFailed(
                f"pyodbc cannot be loaded ({exc})",
                "Install unixODBC (apt-get install unixodbc) and the sqlserver extra",
            ) from None
        except _driver_errors() as exc:
            raise ConnectionFailed(f"cannot connect to SQL Server at {self.where()}: "
                                   f"{_first_line(exc)}", _connect_hint(exc)) from None
        # Sessions: any run-time error aborts the batch and rolls back the
        # transaction (no half-applied load); no row-count messages between
        # the result sets of a multi-statement batch.
        self.execute("set xact_abort on; set nocount on;")
        rows = _result_rows(self.execute(server_version_sql()))
        problem = unsupported_server(*rows[0]) if rows else None
        if problem:
            self.close()
            raise UnsupportedServer(f"{self.where()}: {problem}",
                                    "Upgrade the server, or use Azure SQL Database")

    def execute(self, sql: str, params: tuple | list = ()):
        """pyodbc: no parameter sequence at all when there are no parameters; with
        parameters, their types declared (tsql.input_type_of_value)."""
        cur = self.conn.cursor()
        if params:
            cur.setinputsizes(_odbc_types(input_type_of_value(v) for v in params))
            cur.execute(sql, params)
        else:
            cur.execute(sql)
        return cur

    def scalar(self, sql: str, params: tuple | list = ()):
        rows = _result_rows(self.execute(sql, params))
        return rows[0][0] if rows else None

    def begin(self) -> None:
        self.execute("begin transaction")

    def commit(self) -> None:
        self.execute("commit transaction")

    def rollback(self) -> None:
        try:
            self.execute("if @@trancount > 0 rollback transaction")
        except Exception:  # noqa: BLE001 - a broken connection has nothing to roll back
            pass

    # -- names and DDL ---------------------------------------------------------
    @staticmethod
    def quote(name: str) -> str:
        return quote(name)

    def create_schema(self, schema: str) -> None:
        self.execute(create_schema_sql(schema))

    def create_table(self, schema: str, name: str, columns: list[tuple[str, str]]) -> None:
        self.execute(create_table_sql(schema, name, columns))

    def add_column_sql(self, schema: str, name: str, column: str, type_: str) -> str:
        return f"alter table {self.table(schema, name)} add {quote(column)} {type_}"

    def ensure_meta(self) -> None:
        """Runs first in the DDL transaction: take the DDL lock for all of it."""
        self.get_applock(DDL_LOCK, self.lock_timeout, "creating the raw and meta tables")
        super().ensure_meta()

    def ensure_raw(self, schema: str, name: str) -> None:
        """The raw contract plus two indexes: a unique one on id (one row per id,
        enforced; the upsert's join and delete seek) and one on ingested_at (the
        load's clock and the models' incremental filters read its max)."""
        super().ensure_raw(schema, name)
        self.execute(create_index_sql(schema, name, "id", unique=True))
        self.execute(create_index_sql(schema, name, "ingested_at", unique=False))

    def ensure_history(self, schema: str, name: str) -> None:
        """The history table plus indexes for `loader history` (id) and
        `loader rollback` (superseded_by)."""
        super().ensure_history(schema, name)
        for column in ("id", "superseded_by"):
            self.execute(create_index_sql(schema, contract.history_name(name), column,
                                          unique=False))

    # -- dialect bits used by the base class ------------------------------------
    def now_sql(self) -> str:
        return "cast(sysutcdatetime() as datetime2(6))"

    def duration_ms_sql(self, start: str, end: str) -> str:
        return f"datediff_big(millisecond, {start}, {end})"

    def plus_one_microsecond(self, expr: str) -> str:
        return f"dateadd(microsecond, 1, {expr})"

    # -- locks ----------------------------------------------------------------
    def get_applock(self, resource: str, lock_timeout: float, doing: str) -> None:
        """sp_getapplock inside the open transaction. A first try without waiting
        tells the user that they wait (as the other backends do) before waiting."""
        result = self.scalar(applock_sql(), (resource, 0))
        if result == -1 and lock_timeout > 0:
            if self.on_wait is not None:
                self.on_wait(f"waiting for the lock {resource!r} (another load holds it)")
            result = self.scalar(applock_sql(), (resource, int(lock_timeout * 1000)))
        if result == -1:
            raise LockTimeout(
                f"lock {resource!r} on {self.where()} is held by another load "
                f"(waited {lock_timeout:g}s while {doing})",
                "Wait for the other load to finish, or raise --lock-timeout",
            )
        if result is None or result < 0:
            raise LoaderError(f"sp_getapplock {resource!r} {_LOCK_RESULTS.get(result, result)}",
                              "Run the load again")

    def lock_source(self, source_name: str) -> None:
        self.get_applock(LOCK_PREFIX + source_name, self.lock_timeout, f"loading {source_name}")

    # -- staging --------------------------------------------------------------
    def stage_create(self) -> None:
        self.execute(stage_tables_sql())

    def stage_append(self, batch: pa.Table) -> None:
        columns = batch.to_pydict()
        rows = list(zip(columns["line_number"], columns["id"], columns["payload"],
                        columns["payload_hash"], map(iso_text, columns["record_updated_at"])))
        self._executemany(stage_insert_sql(), rows, STAGE_INPUT_TYPES)

    def insert_rows(self, table: str, columns: list[str], rows: list[tuple],
                    now_column: str | None = None) -> None:
        if not rows:
            return
        names = [*columns, now_column] if now_column else list(columns)
        values = ["?"] * len(columns) + ([self.now_sql()] if now_column else [])
        types = dict(contract.meta_tables(self.engine)[table.split(".")[-1]])
        self._executemany(f"insert into {table} ({', '.join(names)}) "
                          f"values ({', '.join(values)})", rows,
                          [input_type_of_column(types[c]) for c in columns])

    def _executemany(self, sql: str, rows: list[tuple], types) -> None:
        """fast_executemany: pyodbc sends the parameter rows as arrays, one round trip
        per chunk instead of one per row; the parameter types are declared."""
        cur = self.conn.cursor()
        cur.fast_executemany = True
        try:
            cur.setinputsizes(_odbc_types(types))
            for start in range(0, len(rows), STAGE_ROWS_PER_ROUND_TRIP):
                cur.executemany(sql, rows[start:start + STAGE_ROWS_PER_ROUND_TRIP])
        finally:
            cur.close()

    # -- the load -------------------------------------------------------------
    def upsert(self, staged, spec) -> ApplyCounts:
        """apply.py's steps in one T-SQL batch (tsql.upsert_sql): the clock and the
        watermark stay in T-SQL variables, so no driver rounds them."""
        cur = self.execute(upsert_sql(spec.raw, spec.history),
                           (spec.load_id, spec.source_name, 1 if spec.incremental else 0,
                            1 if spec.strategy == "append" else 0, spec.source_file))
        ingested_at, staged_rows, latest, below, inserted, updated, watermark, existing = \
            _result_rows(cur)[0]
        return ApplyCounts(ingested_at=ingested_at, staged=staged_rows, latest=latest,
                           below=below, inserted=inserted, updated=updated,
                           watermark_before=watermark, skipped_existing=existing)

    def stage_deletes(self, deletes: dict) -> None:
        """#deletes (made by stage_tables_sql) holds the file's deletes."""
        self.execute("delete from #deletes")
        self._executemany(deletes_insert_sql(), [
            (key, iso_text(when), int(soft)) for key, (_, when, soft) in deletes.items()],
            DELETES_INPUT_TYPES)

    def mark_deleted(self, spec, ingested_at) -> tuple[int, int]:
        """apply.mark_deleted's steps in one T-SQL batch (tsql.mark_deleted_sql)."""
        cur = self.execute(mark_deleted_sql(spec.raw, spec.history),
                           (spec.source_file, spec.load_id, iso_text(ingested_at)))
        marked, by_envelope = _result_rows(cur)[0]
        return int(marked), int(by_envelope)

    def snapshot_counts(self, spec) -> tuple[int, int]:
        """From #stage (tsql.snapshot_counts_sql)."""
        return tuple(_result_rows(self.execute(snapshot_counts_sql(spec.raw)))[0])

    def stage_absent(self, spec, apply: bool) -> tuple[int, int]:
        """apply.stage_absent in one T-SQL batch (tsql.stage_absent_sql)."""
        absent = int(self.scalar(stage_absent_sql(spec.raw), (1 if apply else 0,)) or 0)
        return (absent, 0) if apply else (0, absent)

    def move_watermark(self, spec, counts):
        """In T-SQL, from #changes (tsql.watermark_sql): no datetime parameter."""
        return self.scalar(watermark_sql(), (spec.source_name, spec.load_id))


def _odbc_types(types) -> list[tuple[int, int, int]]:
    """tsql's (ODBC type name, size, digits) as pyodbc's setinputsizes takes them."""
    import pyodbc

    return [(getattr(pyodbc, name), size, digits) for name, size, digits in types]


def _result_rows(cur) -> list:
    """The rows of a batch's first result set: skips what comes before it (a batch's
    statements send no row counts under NOCOUNT, but a driver may still report them)."""
    while cur.description is None:
        if not cur.nextset():
            return []
    return cur.fetchall()


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _connect_hint(exc: BaseException) -> str:
    """The usual causes, by ODBC SQLSTATE: no driver, no server, bad login, TLS."""
    state = str(exc.args[0]) if exc.args else ""
    if state == "IM002" or "Can't open lib" in str(exc):
        import pyodbc

        drivers = ", ".join(pyodbc.drivers()) or "none"
        return (f"Install Microsoft's ODBC Driver 18 (msodbcsql18) or set SQLSERVER_DRIVER "
                f"to an installed one (installed: {drivers})")
    if state == "28000":
        return "Check SQLSERVER_USER and SQLSERVER_PASSWORD"
    if "certificate" in str(exc).lower():
        return ("The server's TLS certificate is not trusted: set SQLSERVER_TRUST_CERT=true "
                "for a local container, or install the CA")
    return "Check SQLSERVER_HOST, SQLSERVER_PORT and that the server is running, or pass --conn"
