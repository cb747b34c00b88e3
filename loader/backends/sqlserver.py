"""SQL Server (the production target), on pyodbc.

The load, in T-SQL terms:

* The file is staged into the session's temp table `#stage` with
  `fast_executemany` (one round trip per batch of parameter rows), outside
  any transaction: readers never see it, a kill drops it with the session.
  `#latest` (de-duplicated) and `#changes` (new or changed) are created with
  it, empty, and filled by the apply.
* The apply is one transaction (`SET XACT_ABORT ON`: any error rolls all of
  it back): `sp_getapplock` on `canvas_load:<source>` (owner: the transaction,
  so commit or rollback releases it; `--lock-timeout` in milliseconds), then
  one batch that reads the clock (`SYSUTCDATETIME()`, after the lock is held,
  never at or before the table's max `ingested_at`), de-duplicates the file
  (last line wins), drops records below the watermark, and upserts only the
  new or changed hashes, then one batch that moves the watermark.
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
milliseconds. Every statement's text comes from this module's functions or
the portable base class, so the T-SQL can be rendered without a server (see
loader/backends/recording.py and scripts/check_tsql.py).
"""

from __future__ import annotations

import pyarrow as pa

from ..errors import ConnectionFailed, LoaderError, LockTimeout
from ..faults import crash_point
from ..odbc import describe_connection_string, odbc_connection_string
from .base import RAW_COLUMNS, ApplyResult, Backend

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


# -- statement text (pure functions) ------------------------------------------

def quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def nstr(value: str) -> str:
    """An N'...' literal, for names that go into object_id() and the like."""
    return "N'" + value.replace("'", "''") + "'"


def create_schema_sql(schema: str) -> str:
    """CREATE SCHEMA must be alone in its batch, hence exec()."""
    inner = f"create schema {quote(schema)}".replace("'", "''")
    return f"if schema_id({nstr(schema)}) is null exec(N'{inner}')"


def create_table_sql(schema: str, name: str, columns: list[tuple[str, str]]) -> str:
    cols = ",\n    ".join(f"{quote(c)} {t}" for c, t in columns)
    qualified = f"{quote(schema)}.{quote(name)}"
    return (f"if object_id({nstr(qualified)}, N'U') is null\n"
            f"create table {qualified} (\n    {cols}\n)")


def create_index_sql(schema: str, name: str, column: str, unique: bool) -> str:
    """Guarded by name (no IF NOT EXISTS in T-SQL)."""
    qualified = f"{quote(schema)}.{quote(name)}"
    index = f"{'ux' if unique else 'ix'}_{name}_{column}"
    kind = "unique index" if unique else "index"
    return (f"if indexproperty(object_id({nstr(qualified)}), {nstr(index)}, N'IndexID') is null\n"
            f"create {kind} {quote(index)} on {qualified} ({quote(column)})")


def applock_sql() -> str:
    """Parameters: the lock's name (after the prefix), the timeout in ms. Returns the
    sp_getapplock result: 0 granted, 1 granted after waiting, < 0 not granted."""
    return (
        "set nocount on;\n"
        "declare @resource nvarchar(255) = ?;\n"
        "declare @lock_result int;\n"
        "exec @lock_result = sys.sp_getapplock\n"
        "    @Resource = @resource,\n"
        "    @LockMode = 'Exclusive',\n"
        "    @LockOwner = 'Transaction',\n"
        "    @LockTimeout = ?;\n"
        "select @lock_result as lock_result;"
    )


def stage_tables_sql() -> str:
    """The load's three session temp tables, created up front in a batch of their own.

    Why not `select ... into #x` in the apply: pyodbc sends a statement with
    parameters as sp_executesql, and a temp table created inside it is dropped
    when that call returns, before the watermark batch could read #changes.
    `collate database_default`: tempdb's collation may differ from the
    database's, and the upsert joins these columns with the raw table's.
    """
    text = "collate database_default"
    return f"""drop table if exists #stage;
drop table if exists #latest;
drop table if exists #changes;
create table #stage (
    line_number bigint not null,
    id nvarchar(450) {text} not null,
    payload nvarchar(max) {text} not null,
    payload_hash char(64) {text} not null,
    record_updated_at varchar(32) {text} null
);
create table #latest (
    id nvarchar(450) {text} not null primary key clustered,
    payload nvarchar(max) {text} not null,
    payload_hash char(64) {text} not null,
    record_updated_at datetime2(6) null
);
create table #changes (
    id nvarchar(450) {text} not null primary key clustered,
    payload nvarchar(max) {text} not null,
    payload_hash char(64) {text} not null,
    record_updated_at datetime2(6) null,
    existed bit not null
);"""


def stage_insert_sql() -> str:
    return ("insert into #stage (line_number, id, payload, payload_hash, record_updated_at) "
            "values (?, ?, ?, ?, ?)")


def upsert_sql(raw: str) -> str:
    """One batch. Parameters: source_name, incremental (0/1), source_file, load_id.

    Returns one row: ingested_at, staged, latest, below_watermark, inserted,
    updated, watermark_before. Fills #latest and #changes (stage_tables_sql);
    the watermark batch reads #changes.
    """
    return f"""set nocount on;
declare @ingested_at datetime2(6) = cast(sysutcdatetime() as datetime2(6));
declare @table_max datetime2(6) = (select max(ingested_at) from {raw});
if @table_max >= @ingested_at set @ingested_at = dateadd(microsecond, 1, @table_max);
declare @watermark datetime2(6) = (
    select max(last_updated_at) from meta.watermark where source_name = ?
);
declare @incremental bit = ?;
declare @staged bigint = (select count(*) from #stage);
insert into #latest (id, payload, payload_hash, record_updated_at)
select
    ranked.id,
    ranked.payload,
    ranked.payload_hash,
    ranked.record_updated_at
from (
    select
        staged.id,
        staged.payload,
        staged.payload_hash,
        convert(datetime2(6), staged.record_updated_at, 121) as record_updated_at,
        row_number() over (
            partition by staged.id order by staged.line_number desc
        ) as version_rank
    from #stage as staged
) as ranked
where ranked.version_rank = 1;
declare @latest bigint = @@rowcount;
declare @below bigint = 0;
if @incremental = 1 and @watermark is not null
begin
    delete from #latest where record_updated_at < @watermark;
    set @below = @@rowcount;
end;
insert into #changes (id, payload, payload_hash, record_updated_at, existed)
select
    latest.id,
    latest.payload,
    latest.payload_hash,
    latest.record_updated_at,
    case when existing.id is null then 0 else 1 end as existed
from #latest as latest
left join {raw} as existing
    on existing.id = latest.id
where existing.id is null or existing.payload_hash <> latest.payload_hash;
delete existing
from {raw} as existing
inner join #changes as changes
    on changes.id = existing.id
where changes.existed = 1;
insert into {raw} ({", ".join(RAW_COLUMNS)})
select
    changes.id,
    changes.payload,
    changes.payload_hash,
    changes.record_updated_at,
    @ingested_at,
    ?,
    ?
from #changes as changes;
select
    @ingested_at as ingested_at,
    @staged as staged,
    @latest as latest,
    @below as below_watermark,
    (select count(*) from #changes where existed = 0) as inserted,
    (select count(*) from #changes where existed = 1) as updated,
    @watermark as watermark_before;"""


def watermark_sql() -> str:
    """One batch. Parameters: source_name, load_id. Moves the watermark to the max
    record_updated_at written, only forward; returns the watermark after."""
    return """set nocount on;
declare @source_name nvarchar(450) = ?;
declare @load_id nvarchar(450) = ?;
declare @old datetime2(6) = (
    select max(last_updated_at) from meta.watermark where source_name = @source_name
);
declare @new datetime2(6) = (select max(record_updated_at) from #changes);
if @new is not null and (@old is null or @new > @old)
begin
    delete from meta.watermark where source_name = @source_name;
    insert into meta.watermark (source_name, last_updated_at, load_id, updated_at)
    values (@source_name, @new, @load_id, cast(sysutcdatetime() as datetime2(6)));
    set @old = @new;
end;
select @old as watermark_after;"""


def _iso(value) -> str | None:
    """A staged timestamp as text for convert(..., 121): exact to the microsecond."""
    return None if value is None else value.isoformat(sep=" ", timespec="microseconds")


# -- the backend ----------------------------------------------------------------

class SqlServerBackend(Backend):
    param = "?"
    types = {"key": "nvarchar(450)", "id": "nvarchar(450)", "text": "nvarchar(max)",
             "int": "bigint", "ts": "datetime2(6)"}
    raw_types = {
        "id": "nvarchar(450) not null",
        "payload": "nvarchar(max)",
        "payload_hash": "char(64)",
        "record_updated_at": "datetime2(6)",
        "ingested_at": "datetime2(6) not null",
        "source_file": "nvarchar(1000)",
        "load_id": "varchar(64)",
    }

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

    def execute(self, sql: str, params: tuple | list = ()):
        """pyodbc: no parameter sequence at all when there are no parameters."""
        cur = self.conn.cursor()
        if params:
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

    def lock_source(self, source_name: str, lock_timeout: float) -> None:
        self.get_applock(LOCK_PREFIX + source_name, lock_timeout, f"loading {source_name}")

    # -- staging --------------------------------------------------------------
    def stage_create(self) -> None:
        self.execute(stage_tables_sql())

    def stage_append(self, batch: pa.Table) -> None:
        columns = batch.to_pydict()
        rows = list(zip(columns["line_number"], columns["id"], columns["payload"],
                        columns["payload_hash"], map(_iso, columns["record_updated_at"])))
        self._executemany(stage_insert_sql(), rows)

    def insert_rejects(self, load_id: str, source_file: str, rejects: list) -> None:
        if not rejects:
            return
        self._executemany(
            "insert into meta.load_reject "
            "(load_id, source_file, line_number, reason, line_excerpt, rejected_at) "
            f"values (?, ?, ?, ?, ?, {self.now_sql()})",
            [(load_id, source_file, n, reason, excerpt) for n, reason, excerpt in rejects],
        )

    def _executemany(self, sql: str, rows: list[tuple]) -> None:
        """fast_executemany: pyodbc sends the parameter rows as arrays, one round trip
        per chunk instead of one per row."""
        cur = self.conn.cursor()
        cur.fast_executemany = True
        try:
            for start in range(0, len(rows), STAGE_ROWS_PER_ROUND_TRIP):
                cur.executemany(sql, rows[start:start + STAGE_ROWS_PER_ROUND_TRIP])
        finally:
            cur.close()

    # -- the load -------------------------------------------------------------
    def apply(self, *, schema: str, name: str, source_name: str, load_id: str,
              source_file: str, incremental: bool, lock_timeout: float) -> ApplyResult:
        """The set-based part of a load; runs inside the caller's transaction."""
        self.lock_source(source_name, lock_timeout)
        cur = self.execute(upsert_sql(self.table(schema, name)),
                           (source_name, 1 if incremental else 0, source_file, load_id))
        (ingested_at, staged, latest, below, inserted, updated,
         watermark_before) = _result_rows(cur)[0]
        crash_point("after_upsert")
        watermark_after = self.scalar(watermark_sql(), (source_name, load_id))
        crash_point("after_watermark")
        return ApplyResult(
            ingested_at=ingested_at,
            staged=int(staged),
            duplicates_in_file=int(staged - latest),
            below_watermark=int(below),
            unchanged=int(latest - below - inserted - updated),
            inserted=int(inserted),
            updated=int(updated),
            watermark_before=watermark_before,
            watermark_after=watermark_after,
        )


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
