"""Fixtures: every `env` test runs on each engine: DuckDB and PostgreSQL.

Each test gets its own database (a fresh DuckDB file, or a fresh database on
the session's throwaway PostgreSQL server, see pgserver.py) and its own
profiles directory; CANVAS_TARGET and the PG* variables select the target for
the CLI, its subprocesses and dbt. dbt's target directory is shared per engine
for the session so partial parsing keeps builds fast.

`@pytest.mark.engines("duckdb")` keeps a test to the engines named; `-k duckdb`
or `-k postgres` selects one engine from the command line.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from loader.cli import cli
from pgserver import PgServer, PgServerError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from check_tsql import forbidden_constructs  # noqa: E402
from sqlserver_engine import sqlserver_database, sqlserver_server  # noqa: F401 (session fixture)

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENGINES = ("duckdb", "postgres", "sqlserver")
# Variables that would steer libpq away from the test server.
_LIBPQ_VARS = ("PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE", "PGPASSFILE",
               "PGHOSTADDR", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "engines(*names): run the test only on these engines (duckdb, postgres, sqlserver)"
    )


def pytest_collection_modifyitems(config, items):
    """Drop the engine variants a test's `engines` marker excludes."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("engines")
        engine = getattr(item, "callspec", None) and item.callspec.params.get("engine")
        (drop if marker and engine and engine not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def dbt_target_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="session")
def pg_server():
    """Started on first use, so a DuckDB-only run never starts a server."""
    try:
        server = PgServer().start()
    except PgServerError as exc:
        pytest.fail(f"cannot start the test PostgreSQL server: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def env(request, engine, tmp_path, monkeypatch, dbt_target_dir):
    """A private profiles dir and database on the engine; returns a small namespace."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(PROJECT_DIR / "profiles.example.yml", profiles / "profiles.yml")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(profiles))
    monkeypatch.setenv("DBT_TARGET_PATH", str(dbt_target_dir / engine))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt_logs"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.chdir(tmp_path)
    if engine == "duckdb":
        db = DuckDBDatabase(tmp_path / "canvas.duckdb")
        monkeypatch.setenv("CANVAS_DUCKDB_PATH", str(db.path))
        monkeypatch.delenv("CANVAS_TARGET", raising=False)
    elif engine == "sqlserver":
        db = sqlserver_database(request, monkeypatch)
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        db = PostgresDatabase(server, server.create_database())
        request.addfinalizer(db.drop)
        for name in _LIBPQ_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in server.environ(db.name).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CANVAS_TARGET", "postgres")
    marker = request.node.get_closest_marker("engines")
    speaks_tsql = marker is None or "sqlserver" in marker.args
    return Env(tmp_path, db, profiles, engine, check_tsql=speaks_tsql)


class DuckDBDatabase:
    def __init__(self, path: Path):
        self.path = path

    def query(self, sql: str, params=()) -> list[tuple]:
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.ConnectionException:
            # In-process dbt (loader run) keeps the file open with its own config;
            # a connection with the default config then shares that instance.
            con = duckdb.connect(str(self.path))
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def execute(self, sql: str) -> None:
        con = duckdb.connect(str(self.path))
        try:
            con.execute(sql)
        finally:
            con.close()

    def is_empty(self) -> bool:
        return not self.path.exists()


class PostgresDatabase:
    """One database on the session's server; queries take DuckDB-style ? placeholders."""

    def __init__(self, server: PgServer, name: str):
        self.server = server
        self.name = name
        self._conn = None

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self.server.connect(self.name)
        return self._conn

    def query(self, sql: str, params=()) -> list[tuple]:
        if params:
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self.conn.execute(sql, tuple(params) or None).fetchall()

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def is_empty(self) -> bool:
        return self.query(
            "select count(*) from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema')"
        )[0][0] == 0

    def drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.server.drop_database(self.name)


class Env:
    """A test's database and project settings. query() and execute() take SQL every
    engine runs: a test that may run on SQL Server fails on any engine when it
    sends what T-SQL rejects (LIMIT, ::, true/false, IF NOT EXISTS ...), unless
    the statement is marked engine_specific (inside a branch for one engine)."""

    def __init__(self, root: Path, database, profiles: Path, engine: str = "duckdb",
                 check_tsql: bool = True):
        self.root = root
        self.check_tsql = check_tsql
        self.database = database
        self.engine = engine
        self.db = getattr(database, "path", None)  # the DuckDB file (None on PostgreSQL)
        self.profiles = profiles
        self.data = root / "data"

    def cli(self, *args, expect: int | None = 0):
        """Run the loader CLI in-process; assert the exit code when expect is not None."""
        result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code}, expected {expect}\n{result.output}"
            )
        return result

    def load(self, path, table, *extra, expect: int | None = 0):
        return self.cli("load", path, "--table", table, "--silent", *extra, expect=expect)

    def dbt(self, *args, expect_success: bool = True):
        from dbt.cli.main import dbtRunner

        res = dbtRunner().invoke(
            [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(self.profiles)]
        )
        if expect_success:
            assert res.success, f"dbt {' '.join(args)} failed: {res.exception}"
        return res

    def query(self, sql: str, params=(), engine_specific: bool = False) -> list[tuple]:
        """Run sql on the test's database; params use ? placeholders on every engine."""
        self._speaks_tsql(sql, engine_specific)
        return self.database.query(sql, params)

    def execute(self, sql: str, engine_specific: bool = False) -> None:
        """A statement that changes the database (DDL, DML), committed at once."""
        self._speaks_tsql(sql, engine_specific)
        self.database.execute(sql)

    def scalar(self, sql: str, params=(), engine_specific: bool = False):
        """The first column of the first row (order by ... for "the latest")."""
        return self.query(sql, params, engine_specific)[0][0]

    def _speaks_tsql(self, sql: str, engine_specific: bool) -> None:
        if self.check_tsql and not engine_specific:
            problems = forbidden_constructs(sql)
            if problems:
                pytest.fail(f"test query is not T-SQL ({'; '.join(problems)}); write it "
                            f"portably, or pass engine_specific=True inside a branch for "
                            f"one engine:\n{sql}", pytrace=False)

    def is_empty(self) -> bool:
        """True when nothing (no database file, no table) was created yet."""
        return self.database.is_empty()

    def write_jsonl(self, name: str, records, raw_lines: list[str] | None = None) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(r) for r in records] + list(raw_lines or [])
        path.write_text("".join(line + "\n" for line in lines))
        return path


def table_rows(env: Env, table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    """All rows of a table, ordered, without the columns named in exclude."""
    cols = [
        r[0]
        for r in env.query(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            table.split("."),
        )
        if r[0] not in exclude
    ]
    col_list = ", ".join(f'"{c}"' for c in cols)
    return env.query(f"select {col_list} from {table} order by {col_list}")


def subprocess_env(env: Env, **extra) -> dict:
    out = dict(os.environ)
    out.update({k: str(v) for k, v in extra.items()})
    return out
