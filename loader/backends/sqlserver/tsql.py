"""T-SQL statement text for the SQL Server backend: pure functions, so the
statements can be rendered and checked without a server (scripts/check_tsql.py)."""

from __future__ import annotations

from ... import contract


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


# SQL Server 2019 (15.x) and later, Azure SQL Database (engine edition 5) and
# Azure SQL Managed Instance (8): the hash keys need a UTF-8 collation
# (Latin1_General_100_BIN2_UTF8), which SQL Server 2017 and earlier lack.
MIN_MAJOR_VERSION = 15
AZURE_EDITIONS = {5: "Azure SQL Database", 8: "Azure SQL Managed Instance"}
_RELEASES = {11: "2012", 12: "2014", 13: "2016", 14: "2017", 15: "2019", 16: "2022", 17: "2025"}


def server_version_sql() -> str:
    """One row: engine edition, major version, full version."""
    return ("select cast(serverproperty('EngineEdition') as int) as engine_edition, "
            "cast(serverproperty('ProductMajorVersion') as int) as major_version, "
            "cast(serverproperty('ProductVersion') as nvarchar(128)) as product_version")


def unsupported_server(edition, major, version) -> str | None:
    """Why this server cannot run the project, or None when it can."""
    if edition in AZURE_EDITIONS or major is None or major >= MIN_MAJOR_VERSION:
        return None
    release = _RELEASES.get(major, "")
    return (f"SQL Server {release + ' ' if release else ''}({version}) found; the project "
            f"needs SQL Server 2019 (15.x) or later, Azure SQL Database or Azure SQL "
            f"Managed Instance (the hash keys use a UTF-8 collation)")


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
drop table if exists #deletes;
create table #stage (
    line_number bigint not null,
    id nvarchar(450) {text} not null,
    payload nvarchar(max) {text} not null,
    payload_hash nvarchar(64) {text} not null,
    record_updated_at nvarchar(32) {text} null
);
create table #latest (
    id nvarchar(450) {text} not null primary key clustered,
    payload nvarchar(max) {text} not null,
    payload_hash nvarchar(64) {text} not null,
    record_updated_at datetime2(6) null
);
create table #changes (
    id nvarchar(450) {text} not null primary key clustered,
    payload nvarchar(max) {text} not null,
    payload_hash nvarchar(64) {text} not null,
    record_updated_at datetime2(6) null,
    existed bit not null
);
create table #deletes (
    id nvarchar(450) {text} not null primary key clustered,
    deleted_at datetime2(6) null,
    soft int not null
);"""


# ODBC parameter types, declared on the client (cursor.setinputsizes) so that no
# statement depends on the server describing its parameters (fast_executemany
# otherwise asks with sp_describe_undeclared_parameters, and where that answer
# is missing or wrong falls back to short buffers or binds text as varchar,
# turning non-Latin characters into '?'). (ODBC type name, column size,
# decimal digits); size 0 is (max).
STAGE_INPUT_TYPES = (
    ("SQL_BIGINT", 19, 0),  # line_number
    ("SQL_WVARCHAR", 450, 0),  # id
    ("SQL_WVARCHAR", 0, 0),  # payload, nvarchar(max)
    ("SQL_WVARCHAR", 64, 0),  # payload_hash
    ("SQL_WVARCHAR", 32, 0),  # record_updated_at, ISO text
)
DELETES_INPUT_TYPES = (
    ("SQL_WVARCHAR", 450, 0),  # id
    ("SQL_WVARCHAR", 32, 0),  # deleted_at, ISO text
    ("SQL_BIGINT", 19, 0),  # soft (0/1)
)
_TYPE_OF_COLUMN = (
    ("nvarchar(max)", ("SQL_WVARCHAR", 0, 0)),
    ("nvarchar(", None),  # nvarchar(n): size n
    ("bigint", ("SQL_BIGINT", 19, 0)),
    ("int", ("SQL_INTEGER", 10, 0)),
    ("datetime2", ("SQL_TYPE_TIMESTAMP", 27, 7)),
)


def input_type_of_column(sql_type: str) -> tuple[str, int, int]:
    """The parameter type for a value going into a column of this (contract) type."""
    sql_type = sql_type.lower()
    for prefix, odbc in _TYPE_OF_COLUMN:
        if sql_type.startswith(prefix):
            if odbc is None:
                return ("SQL_WVARCHAR", int(sql_type[len(prefix):].rstrip(")")), 0)
            return odbc
    raise ValueError(f"no parameter type for a {sql_type} column")


def input_type_of_value(value) -> tuple[str, int, int]:
    """The parameter type for a Python value (text is always Unicode)."""
    if value is None:
        return ("SQL_WVARCHAR", 1, 0)
    if isinstance(value, bool):
        return ("SQL_BIT", 1, 0)
    if isinstance(value, int):
        return ("SQL_BIGINT", 19, 0)
    if isinstance(value, float):
        return ("SQL_DOUBLE", 15, 0)
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        return ("SQL_TYPE_TIMESTAMP", 27, 7)
    text = str(value)
    return ("SQL_WVARCHAR", 0 if len(text) > 4000 else max(len(text), 1), 0)


def deletes_insert_sql() -> str:
    return ("insert into #deletes (id, deleted_at, soft) "
            "values (?, convert(datetime2(6), ?, 121), ?)")


def mark_deleted_sql(raw: str, history: str | None = None) -> str:
    """One batch, apply.mark_deleted's steps. Parameters: source_file, load_id,
    ingested_at (text, style 121). Returns one row: rows marked, of them by an
    envelope delete."""
    match = (f"{raw}.deleted_at is null and ({raw}.record_updated_at is null "
             f"or deletes.deleted_at is null or {raw}.record_updated_at <= deletes.deleted_at)")
    return f"""set nocount on;
declare @source_file nvarchar(1000) = ?;
declare @load_id nvarchar(64) = ?;
declare @ingested_at datetime2(6) = convert(datetime2(6), ?, 121);
declare @marked bigint = 0;
declare @by_envelope bigint = 0;
select
    @marked = count(*),
    @by_envelope = coalesce(sum(1 - deletes.soft), 0)
from {raw}
inner join #deletes as deletes
    on deletes.id = {raw}.id
where {match};
{history_deleted_sql(raw, history, match)}update {raw}
set
    deleted_at = coalesce(deletes.deleted_at, @ingested_at),
    ingested_at = @ingested_at,
    source_file = @source_file,
    load_id = @load_id
from {raw}
inner join #deletes as deletes
    on deletes.id = {raw}.id
where {match};
select
    @marked as marked,
    @by_envelope as by_envelope;"""


def stage_insert_sql() -> str:
    return ("insert into #stage (line_number, id, payload, payload_hash, record_updated_at) "
            "values (?, ?, ?, ?, ?)")


def _history_insert_sql(history: str, table: str, kind: str) -> str:
    """The head of an insert of table's current rows into history: the raw columns,
    superseded at @ingested_at by @load_id, change_kind the expression kind."""
    columns = ", ".join(contract.RAW_COLUMNS)
    selected = ", ".join(f"{table}.{c}" for c in contract.RAW_COLUMNS)
    return (f"insert into {history} ({columns}, superseded_at, superseded_by, change_kind)\n"
            f"select\n    {selected},\n    @ingested_at,\n    @load_id,\n    {kind}\n")


def history_replaced_sql(raw: str, history: str | None) -> str:
    """upsert_sql's part of backends/history.keep_replaced: the rows about to be
    rewritten into history as 'updated', or 'deleted' when the new version is a
    delete (empty when the load keeps no history)."""
    if history is None:
        return ""
    kind = ("case when exists (select 1 from #deletes as deletes "
            "where deletes.id = existing.id) then N'deleted' else N'updated' end")
    return _history_insert_sql(history, "existing", kind) + f"""from {raw} as existing
inner join #changes as changes
    on changes.id = existing.id
where changes.existed = 1;
"""


def history_deleted_sql(raw: str, history: str | None, match: str) -> str:
    """mark_deleted_sql's part of backends/history.keep_deleted: the rows about to
    be marked deleted into history as 'deleted', unless this load wrote them."""
    if history is None:
        return ""
    return _history_insert_sql(history, raw, "N'deleted'") + f"""from {raw}
inner join #deletes as deletes
    on deletes.id = {raw}.id
where {match} and ({raw}.load_id is null or {raw}.load_id <> @load_id);
"""


def upsert_sql(raw: str, history: str | None = None) -> str:
    """One batch. Parameters: load_id, source_name, incremental (0/1), append (0/1),
    source_file.

    Returns one row: ingested_at, staged, latest, below_watermark, inserted,
    updated, watermark_before, skipped_existing. Fills #latest and #changes
    (stage_tables_sql); the watermark batch reads #changes. append: only ids
    raw lacks are written (apply.changed_where), the others counted.
    """
    return f"""set nocount on;
declare @load_id nvarchar(64) = ?;
declare @ingested_at datetime2(6) = cast(sysutcdatetime() as datetime2(6));
declare @table_max datetime2(6) = (select max(ingested_at) from {raw});
if @table_max >= @ingested_at set @ingested_at = dateadd(microsecond, 1, @table_max);
declare @watermark datetime2(6) = (
    select max(last_updated_at) from meta.watermark where source_name = ?
);
declare @incremental bit = ?;
declare @append bit = ?;
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
{_count_existing_sql(raw)}
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
where
    existing.id is null
    or (
        @append = 0
        and (
            existing.payload_hash <> latest.payload_hash
            or (
                existing.deleted_at is not null
                and not exists (select 1 from #deletes as deletes where deletes.id = latest.id)
            )
        )
    );
{history_replaced_sql(raw, history)}delete existing
from {raw} as existing
inner join #changes as changes
    on changes.id = existing.id
where changes.existed = 1;
insert into {raw} ({", ".join(contract.WRITTEN_COLUMNS)})
select
    changes.id,
    changes.payload,
    changes.payload_hash,
    changes.record_updated_at,
    @ingested_at,
    ?,
    @load_id
from #changes as changes;
select
    @ingested_at as ingested_at,
    @staged as staged,
    @latest as latest,
    @below as below_watermark,
    (select count(*) from #changes where existed = 0) as inserted,
    (select count(*) from #changes where existed = 1) as updated,
    @watermark as watermark_before,
    @skipped_existing as skipped_existing;"""


def _count_existing_sql(raw: str) -> str:
    """append (apply.count_existing): the ids of #latest raw holds already."""
    return f"""declare @skipped_existing bigint = 0;
if @append = 1
    set @skipped_existing = (
        select count(*)
        from #latest as latest
        where exists (select 1 from {raw} as existing where existing.id = latest.id)
    );"""


def snapshot_counts_sql(raw: str) -> str:
    """snapshot (apply.snapshot_counts): one row, the live rows of raw and the
    distinct ids of #stage."""
    return f"""select
    (select count(*) from {raw} where deleted_at is null) as live_rows,
    (select count(distinct staged.id) from #stage as staged) as file_ids;"""


def stage_absent_sql(raw: str) -> str:
    """snapshot (apply.stage_absent), one batch. Parameter: apply (0/1). The live ids
    of raw that #stage and #deletes lack, into #deletes (no time: mark_deleted
    takes the load's) when apply; returns one row, how many there are."""
    absent = f"""from {raw} as existing
where
    existing.deleted_at is null
    and not exists (select 1 from #stage as staged where staged.id = existing.id)
    and not exists (select 1 from #deletes as deletes where deletes.id = existing.id)"""
    return f"""set nocount on;
declare @apply bit = ?;
declare @absent bigint = (
    select count(*)
    {absent.replace(chr(10), chr(10) + '    ')}
);
if @apply = 1 and @absent > 0
    insert into #deletes (id, deleted_at, soft)
    select
        existing.id,
        null,
        1
    {absent.replace(chr(10), chr(10) + '    ')};
select @absent as absent;"""


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


def iso_text(value) -> str | None:
    """A staged timestamp as text for convert(..., 121): exact to the microsecond."""
    return None if value is None else value.isoformat(sep=" ", timespec="microseconds")
