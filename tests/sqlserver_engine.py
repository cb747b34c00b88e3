"""The `sqlserver` engine for the engine-parametrized tests (the `env` fixture).

SQL Server cannot be started by the tests (no engine runs on a developer
laptop without a container): it is used when one is configured, as in CI's
service container or `docker compose up -d sqlserver`:

    SQLSERVER_HOST      required, e.g. 127.0.0.1
    SQLSERVER_PASSWORD  required (the login's, e.g. the container's SA password)
    SQLSERVER_PORT      default 1433
    SQLSERVER_USER      default sa (needs CREATE DATABASE)
    SQLSERVER_DRIVER    default ODBC Driver 18 for SQL Server
    SQLSERVER_TRUST_CERT / SQLSERVER_ENCRYPT   default true (a container's
                        self-signed certificate)

    SQLSERVER_TEST_DATABASE  a database to use as is (e.g. on Azure SQL
                        Database, where creating one takes a while); by default
                        the session creates canvas_test_<random> and drops it

Otherwise every sqlserver variant is skipped, with that reason. The session
uses one database; before each test every user table and view is dropped,
with every user schema (the project's raw, meta, stg, cur, mart, snap and any
a test made), so each test starts from an empty database. No ALTER DATABASE (SET SINGLE_USER is not
allowed on Azure SQL Database): the suite runs against Azure SQL too.
SQLSERVER_DATABASE and CANVAS_TARGET point the CLI, its subprocesses and dbt
at the database, through profiles.example.yml's `sqlserver` output.

conftest.py wires it in (see sqlserver_database()).
"""

from __future__ import annotations

import os
import uuid
import warnings

import pytest

from loader.odbc import odbc_connection_string

REQUIRED = ("SQLSERVER_HOST", "SQLSERVER_PASSWORD")
SKIP_REASON = ("SQL Server not configured: set SQLSERVER_HOST and SQLSERVER_PASSWORD "
               "(and SQLSERVER_PORT, SQLSERVER_USER, SQLSERVER_DRIVER if not the defaults), "
               "e.g. after `docker compose up -d sqlserver`")


def sqlserver_configured() -> bool:
    return all(os.environ.get(name) for name in REQUIRED)


class SqlServerServer:
    """The configured server; creates and drops one database per test."""

    def __init__(self, environ: dict[str, str]):
        self.settings = {
            "SQLSERVER_HOST": environ["SQLSERVER_HOST"],
            "SQLSERVER_PORT": environ.get("SQLSERVER_PORT", "1433"),
            "SQLSERVER_USER": environ.get("SQLSERVER_USER", "sa"),
            "SQLSERVER_PASSWORD": environ["SQLSERVER_PASSWORD"],
            "SQLSERVER_DRIVER": environ.get("SQLSERVER_DRIVER", "ODBC Driver 18 for SQL Server"),
            "SQLSERVER_ENCRYPT": environ.get("SQLSERVER_ENCRYPT", "true"),
            "SQLSERVER_TRUST_CERT": environ.get("SQLSERVER_TRUST_CERT", "true"),
        }

    def connection_string(self, database: str) -> str:
        s = self.settings
        return odbc_connection_string({
            "driver": s["SQLSERVER_DRIVER"], "server": s["SQLSERVER_HOST"],
            "port": s["SQLSERVER_PORT"], "database": database, "user": s["SQLSERVER_USER"],
            "password": s["SQLSERVER_PASSWORD"],
            "encrypt": s["SQLSERVER_ENCRYPT"].lower() in ("true", "yes", "1"),
            "trust_cert": s["SQLSERVER_TRUST_CERT"].lower() in ("true", "yes", "1"),
        }, app="canvas-tests")

    def connect(self, database: str = "master"):
        import pyodbc

        return pyodbc.connect(self.connection_string(database), autocommit=True, timeout=15)

    def check(self) -> "SqlServerServer":
        """Fail the session early, and clearly, when the configured server is unusable."""
        try:
            self.connect().close()
        except Exception as exc:  # noqa: BLE001 - any driver error: one clear message
            message = str(exc).replace(self.settings["SQLSERVER_PASSWORD"], "***")
            pytest.fail(f"SQL Server at {self.settings['SQLSERVER_HOST']}:"
                        f"{self.settings['SQLSERVER_PORT']} is configured but unusable: "
                        f"{message}", pytrace=False)
        return self

    def _run(self, database: str, *statements: str) -> None:
        conn = self.connect(database)
        try:
            for sql in statements:
                conn.execute(sql)
        finally:
            conn.close()

    def create_database(self) -> str:
        name = f"canvas_test_{uuid.uuid4().hex[:12]}"
        self._run("master", f"create database [{name}]")
        return name

    def drop_database(self, name: str) -> None:
        """At the end of the session; a session left open (a killed loader's) keeps
        it, which is worth a warning, not a failure."""
        try:
            self._run("master", f"drop database if exists [{name}]")
        except Exception as exc:  # noqa: BLE001 - the tests have passed or failed already
            warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)

    def reset(self, database: str) -> None:
        """Drop every view and table of the project's schemas, then the schemas."""
        self._run(database, RESET_SQL)

    def environ(self, database: str) -> dict[str, str]:
        """Variables that point profiles.example.yml's sqlserver output at database."""
        return {**self.settings, "SQLSERVER_DATABASE": database, "CANVAS_TARGET": "sqlserver"}


RESET_SQL = f"""declare @objects nvarchar(max) = (
    select string_agg(
        cast(case o.type when 'V' then N'drop view ' else N'drop table ' end
            + quotename(s.name) + N'.' + quotename(o.name) as nvarchar(max)), N'; ')
        within group (order by case o.type when 'V' then 0 else 1 end, o.name)
    from sys.objects as o
    inner join sys.schemas as s on o.schema_id = s.schema_id
    where o.type in ('U', 'V') and o.is_ms_shipped = 0
);
declare @schemas nvarchar(max) = (
    select string_agg(cast(N'drop schema ' + quotename(name) as nvarchar(max)), N'; ')
    from sys.schemas
    where schema_id between 5 and 16383  -- user schemas (dbo is 1, roles 16384 and up)
);
if @objects is not null exec sp_executesql @objects;
if @schemas is not null exec sp_executesql @schemas;"""


class SqlServerDatabase:
    """The session's database, emptied for each test; ? placeholders (pyodbc's own)."""

    def __init__(self, server: SqlServerServer, name: str):
        self.server = server
        self.name = name
        self._conn = None

    def query(self, sql: str, params=()) -> list[tuple]:
        if self._conn is None:
            self._conn = self.server.connect(self.name)
        cur = self._conn.execute(sql, tuple(params)) if params else self._conn.execute(sql)
        return [tuple(row) for row in cur.fetchall()]

    def execute(self, sql: str) -> None:
        if self._conn is None:
            self._conn = self.server.connect(self.name)
        self._conn.execute(sql)

    def is_empty(self) -> bool:
        return self.query("select count(*) from information_schema.tables")[0][0] == 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@pytest.fixture(scope="session")
def sqlserver_server():
    """Skips (every sqlserver variant) when no server is configured; yields the
    server and the session's database."""
    if not sqlserver_configured():
        pytest.skip(SKIP_REASON)
    server = SqlServerServer(dict(os.environ)).check()
    given = os.environ.get("SQLSERVER_TEST_DATABASE")
    name = given or server.create_database()
    yield server, name
    if not given:
        server.drop_database(name)


def sqlserver_database(request, monkeypatch) -> SqlServerDatabase:
    """For conftest's `env` fixture: the session's database, emptied, with the
    environment pointing the CLI and dbt at it."""
    server, name = request.getfixturevalue("sqlserver_server")
    server.reset(name)
    db = SqlServerDatabase(server, name)
    request.addfinalizer(db.close)
    monkeypatch.delenv("CANVAS_SQLSERVER_CONN", raising=False)
    for name, value in server.environ(db.name).items():
        monkeypatch.setenv(name, value)
    return db
