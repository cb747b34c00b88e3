"""The SQL Server backend without a server: connection strings, secrets, and the T-SQL
it sends (recorded by scripts/tsql_recording.py, parsed as T-SQL).

Behaviour against a real SQL Server is covered by the engine-parametrized tests
in CI (tests/sqlserver_engine.py, .github/workflows/ci.yml).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
import sys
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from loader.backends.apply import LoadSpec
from loader.backends.sqlserver import backend as sqlserver
from loader.backends.staging import Staged
from loader.cli import cli
from loader.errors import ConfigError, LockTimeout, UnsupportedServer
from loader.odbc import (
    connection_string_secrets,
    odbc_connection_string,
    parse_connection_string,
)
from loader.profiles import Target, load_target

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "scripts"))
from check_tsql import forbidden_constructs, non_unicode_text, parse_problems  # noqa: E402
from tsql_recording import (  # noqa: E402
    RecordingConnection,
    loader_responder,
    record_loader_statements,
    record_strategy_statements,
)

PASSWORD = "Pa;ss}w0rd'x"  # ODBC-hostile: ; ends a value, } ends a braced one
PROFILE_ENV = {
    "SQLSERVER_HOST": "sql.example.internal",
    "SQLSERVER_PORT": "14330",
    "SQLSERVER_DATABASE": "canvas_test",
    "SQLSERVER_USER": "loader",
    "SQLSERVER_PASSWORD": PASSWORD,
    "SQLSERVER_ENCRYPT": "true",
    "SQLSERVER_TRUST_CERT": "false",
}


@pytest.fixture
def profile(tmp_path, monkeypatch) -> Path:
    """profiles.example.yml with the SQLSERVER_* variables set; returns its directory."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text((PROJECT_DIR / "profiles.example.yml").read_text())
    for key, value in PROFILE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(profiles))
    monkeypatch.delenv("CANVAS_SQLSERVER_CONN", raising=False)
    monkeypatch.chdir(tmp_path)
    return profiles


def _target(profile: Path) -> Target:
    return load_target("sqlserver", profile, PROJECT_DIR)


def _dbt_sqlserver_string(config: dict) -> str:
    """What dbt-sqlserver builds for the same profile output."""
    from dbt.adapters.sqlserver.sqlserver_backend import build_pyodbc_connection_string
    from dbt.adapters.sqlserver.sqlserver_credentials import SQLServerCredentials

    data = {k: v for k, v in config.items() if k not in ("type", "threads")}
    credentials = SQLServerCredentials.from_dict(SQLServerCredentials.translate_aliases(data))
    return build_pyodbc_connection_string(credentials)


def test_sqlserver_pyodbc_imports():
    import pyodbc

    assert pyodbc.version


def test_sqlserver_connection_string_matches_dbt_sqlserver(profile):
    config = _target(profile).config
    ours = dict(parse_connection_string(odbc_connection_string(config)))
    dbts = dict(parse_connection_string(_dbt_sqlserver_string(config)))
    assert ours.pop("APP") == "canvas-loader"
    assert ours == {k: dbts[k] for k in ours}
    assert ours["PWD"] == PASSWORD and ours["SERVER"] == "sql.example.internal,14330"
    assert ours["encrypt"] == "Yes" and ours["TrustServerCertificate"] == "No"


@pytest.mark.parametrize("config, expected", [
    ({"server": r"db01\SQLEXPRESS", "port": 1433, "database": "d"}, r"SERVER=db01\SQLEXPRESS;"),
    ({"host": "db01", "database": "d"}, "SERVER=db01,1433;"),
    ({"server": "db01", "database": "d", "windows_login": True}, "Trusted_Connection=yes;"),
    ({"server": "db01", "database": "d", "driver": "{FreeTDS}"}, "DRIVER={FreeTDS};"),
])
def test_sqlserver_connection_string_follows_dbt_profile_fields(config, expected):
    built = odbc_connection_string({"type": "sqlserver", **config})
    assert expected in built
    assert built.split(";")[2:4] == _dbt_sqlserver_string(
        {"schema": "dbo", "driver": "ODBC Driver 18 for SQL Server", **config}).split(";")[2:4]


def test_sqlserver_connection_string_names_missing_settings():
    with pytest.raises(ConfigError, match="SQLSERVER_HOST"):
        odbc_connection_string({"type": "sqlserver", "database": "canvas"})


def test_sqlserver_password_never_in_describe_or_repr(profile):
    target = _target(profile)
    assert PASSWORD in target.secrets
    assert PASSWORD not in target.describe() and PASSWORD not in repr(target)
    target.conn = "DRIVER={x};SERVER=h,1;UID=u;PWD={se;cret}}};Database=d"
    assert "se;cret}" in target.secrets
    assert "se;cret" not in target.describe() and "h,1, database d" in target.describe()


def test_sqlserver_conn_secrets_found_in_any_spelling():
    assert "abc" in connection_string_secrets("Server=x;Password=abc")
    assert "a;b" in connection_string_secrets("pwd={a;b};uid=u")
    assert connection_string_secrets(None) == []


def _write_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "canvas_users.jsonl"
    path.write_text(json.dumps({"id": 1, "name": "Ann"}) + "\n")
    return path


@pytest.mark.parametrize("use_conn", [False, True])
def test_sqlserver_connect_error_never_shows_the_password(profile, tmp_path, use_conn,
                                                         monkeypatch):
    """A real pyodbc.connect with a driver that is not installed: fails at once."""
    conn = f"DRIVER={{No Such Driver}};SERVER=h;UID=u;PWD={{{PASSWORD.replace('}', '}}')}}}"
    args = ["load", str(_write_jsonl(tmp_path)), "--table", "raw.canvas_users", "--silent",
            "--target", "sqlserver"] + (["--conn", conn] if use_conn else [])
    if not use_conn:
        # The profile reads SQLSERVER_DRIVER first: a driver exported for the
        # SQL Server engine tests must not hide the one this test breaks.
        monkeypatch.delenv("SQLSERVER_DRIVER", raising=False)
        profile.joinpath("profiles.yml").write_text(
            profile.joinpath("profiles.yml").read_text().replace(
                "ODBC Driver 18 for SQL Server", "No Such Driver"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "cannot connect to SQL Server" in result.output
    assert "msodbcsql18" in result.output  # the hint for a missing driver
    assert PASSWORD not in result.output and "Pa;ss" not in result.output


def test_sqlserver_conn_option_replaces_the_profile_connection(profile, tmp_path):
    conn = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=other,1433;Database=x;UID=u;PWD=zz9"
    recorder = RecordingConnection(loader_responder)
    seen = []

    def fake_connect(connection_string, timeout):
        seen.append(connection_string)
        return recorder

    with mock.patch.object(sqlserver, "_connect", fake_connect):
        result = CliRunner().invoke(cli, ["status", "--target", "sqlserver", "--conn", conn])
    assert result.exit_code == 0, result.output
    assert seen == [conn]
    assert "other,1433, database x (--conn)" in result.output and "zz9" not in result.output


def test_sqlserver_conn_option_is_refused_for_another_target(profile, tmp_path):
    result = CliRunner().invoke(cli, ["status", "--target", "duckdb", "--conn", "PWD=zz9"])
    assert result.exit_code == 1
    assert "--conn is for sqlserver targets" in result.output and "zz9" not in result.output


def test_sqlserver_load_statements_parse_as_tsql():
    problems = {}
    for statement in record_loader_statements():
        sql = statement.inlined()
        found = parse_problems(sql) + forbidden_constructs(sql)
        if found:
            problems[sql[:200]] = found
    assert not problems, json.dumps(problems, indent=2)


def test_sqlserver_load_locks_before_reading_the_clock_and_upserts_once():
    sent = record_loader_statements()
    lock = next(i for i, s in enumerate(sent) if s.params[:1] == ("canvas_load:canvas_users",))
    upsert = next(i for i, s in enumerate(sent) if "into #changes" in s.sql)
    assert lock < upsert and "sysutcdatetime()" in sent[upsert].sql
    begins = [i for i, s in enumerate(sent) if s.sql == "begin transaction"]
    assert max(b for b in begins if b < lock) > max(i for i, s in enumerate(sent)
                                                    if s.sql.startswith("insert into #stage"))
    assert sum("delete existing" in s.sql for s in sent) == 1
    assert not any("merge " in s.sql.lower() for s in sent)
    assert "as watermark_after" in sent[upsert + 1].sql  # same transaction, next batch


@pytest.mark.parametrize("strategy", ["append", "snapshot"])
def test_sqlserver_strategy_statements_parse_as_tsql(strategy):
    """append and snapshot loads, recorded: every statement is T-SQL; append is the
    upsert batch's @append, snapshot counts and stages the absent ids under the
    source's lock, before marking them deleted, in the load's transaction."""
    sent = record_strategy_statements(strategy)
    problems = {s.sql[:200]: parse_problems(s.inlined()) + forbidden_constructs(s.inlined())
                + non_unicode_text(s.inlined()) for s in sent}
    assert not {k: v for k, v in problems.items() if v}, json.dumps(problems, indent=2)
    upsert = next(i for i, s in enumerate(sent) if "into #changes" in s.sql)
    # Parameters: load_id, source_name, incremental, append, source_file.
    assert sent[upsert].params[3] == (1 if strategy == "append" else 0)
    steps = [i for i, s in enumerate(sent) if "as live_rows" in s.sql or "as absent" in s.sql
             or "as by_envelope" in s.sql]
    if strategy == "append":
        assert steps == []
        return
    lock = next(i for i, s in enumerate(sent) if s.params[:1] == ("canvas_load:canvas_users",))
    begin = max(i for i, s in enumerate(sent) if s.sql == "begin transaction" and i < lock)
    commit = next(i for i, s in enumerate(sent) if s.sql == "commit transaction" and i > lock)
    assert begin < lock < steps[0] < upsert < steps[1] < steps[2] < commit
    assert "into #deletes" in sent[steps[1]].sql and sent[steps[1]].params == (1,)


def test_sqlserver_load_uses_fast_executemany_into_temp_stage():
    staged = [s for s in record_loader_statements() if s.sql.startswith("insert into #stage")]
    assert staged and all(s.fast_executemany and s.many for s in staged)


def test_sqlserver_load_ddl_is_guarded_without_if_not_exists():
    ddl = [s.sql for s in record_loader_statements()
           if "create " in s.sql.lower() and "#" not in s.sql]  # temp tables are per session
    assert any("exec(N'create schema [raw]')" in s for s in ddl)
    assert all(s.startswith(("if schema_id(", "if object_id(", "if indexproperty(")) for s in ddl)
    text = "".join(ddl)
    assert "[payload] nvarchar(max)" in text and "[id] nvarchar(450) not null" in text


def _lock_responder(results: list[int]):
    def respond(sql, params):
        if "lock_result" in sql:
            return ["lock_result"], [(results.pop(0),)]
        return loader_responder(sql, params)
    return respond


def test_sqlserver_lock_timeout_is_a_clear_error(profile):
    backend = sqlserver.SqlServerBackend(_target(profile))
    recorder = RecordingConnection(_lock_responder([-1, -1]))
    waits = []
    with mock.patch.object(sqlserver, "_connect", lambda *a, **k: recorder):
        backend.connect(2.5, on_wait=waits.append)
    with pytest.raises(LockTimeout) as caught:
        backend.lock_source("canvas_users")
    assert "'canvas_load:canvas_users'" in str(caught.value)
    assert "waited 2.5s" in str(caught.value) and "--lock-timeout" in str(caught.value)
    assert waits and "canvas_load:canvas_users" in waits[0]
    timeouts = [s.params[1] for s in recorder.statements if "sp_getapplock" in s.sql]
    assert timeouts == [0, 2500]  # a try without waiting, then --lock-timeout in ms


def test_sqlserver_apply_reads_counts_from_one_batch(profile):
    backend = sqlserver.SqlServerBackend(_target(profile))
    recorder = RecordingConnection(loader_responder)
    with mock.patch.object(sqlserver, "_connect", lambda *a, **k: recorder):
        backend.connect(1)
    spec = LoadSpec("raw", "canvas_users", backend.table("raw", "canvas_users"),
                    "canvas_users", "l1", "f.jsonl", True)
    result = backend.apply(Staged(reader=SimpleNamespace(deletes={})), spec)
    assert (result.staged, result.inserted, result.updated, result.duplicates_in_file) == \
        (4, 2, 1, 1)
    assert result.unchanged == 0 and isinstance(result.watermark_after, datetime)


def test_sqlserver_every_parameter_is_typed_on_the_client():
    """No statement depends on the server describing its parameters, and text is
    always bound as Unicode (SQL_WVARCHAR), never as varchar."""
    import pyodbc

    with_params = [s for s in record_loader_statements() if s.params]
    assert len(with_params) > 10
    for statement in with_params:
        sizes = statement.input_sizes
        assert sizes is not None and len(sizes) == len(statement.params), statement.sql[:120]
        for (odbc_type, _, _), value in zip(sizes, statement.params):
            if isinstance(value, str):
                assert odbc_type == pyodbc.SQL_WVARCHAR, (statement.sql[:120], value)


def test_sqlserver_stage_declares_the_payload_as_nvarchar_max():
    import pyodbc

    staged = [s for s in record_loader_statements() if s.sql.startswith("insert into #stage")]
    assert staged and staged[0].input_sizes[1] == (pyodbc.SQL_WVARCHAR, 450, 0)
    assert staged[0].input_sizes[2] == (pyodbc.SQL_WVARCHAR, 0, 0)  # 0: (max)


ENTRA = [
    ("ActiveDirectoryServicePrincipal", {"client_id": "app-123", "client_secret": "S3cr;et}x"}),
    ("ActiveDirectoryDefault", {}),
    ("ActiveDirectoryMSI", {"user": "identity-client-id"}),
    ("ActiveDirectoryMSI", {}),
    ("ActiveDirectoryPassword", {"user": "ann@school.edu", "password": "Pw;1}"}),
    ("ActiveDirectoryInteractive", {"user": "ann@school.edu"}),
]


@pytest.mark.parametrize("authentication, fields", ENTRA)
def test_sqlserver_entra_id_connection_string_matches_dbt_sqlserver(authentication, fields):
    config = {"type": "sqlserver", "driver": "ODBC Driver 18 for SQL Server",
              "server": "school.database.windows.net", "port": 1433, "database": "canvas",
              "schema": "dbo", "encrypt": True, "trust_cert": False,
              "authentication": authentication, **fields}
    ours = dict(parse_connection_string(odbc_connection_string(config)))
    dbts = dict(parse_connection_string(_dbt_sqlserver_string(config)))
    assert ours.pop("APP") == "canvas-loader"
    assert ours == {k: dbts[k] for k in ours}
    assert set(dbts) - set(ours) <= {"APP", "Pooling", "SQL_ATTR_TRACE", "ConnectRetryCount",
                                     "ConnectRetryInterval"}
    assert ours["Authentication"] == authentication
    secret = fields.get("client_secret") or fields.get("password")
    if secret:
        assert secret in connection_string_secrets(odbc_connection_string(config))


def test_sqlserver_entra_secret_is_never_printed(profile, monkeypatch, tmp_path):
    monkeypatch.setenv("SQLSERVER_AUTHENTICATION", "ActiveDirectoryServicePrincipal")
    monkeypatch.setenv("SQLSERVER_CLIENT_ID", "app-123")
    monkeypatch.setenv("SQLSERVER_CLIENT_SECRET", "Entra;Secret}9")
    monkeypatch.setenv("SQLSERVER_DRIVER", "No Such Driver")
    target = _target(profile)
    assert "Entra;Secret}9" in target.secrets
    result = CliRunner().invoke(cli, ["--debug", "load", str(_write_jsonl(tmp_path)), "--table",
                                      "raw.canvas_users", "--target", "sqlserver"])
    assert result.exit_code == 1 and "cannot connect to SQL Server" in result.output
    assert "Entra;Secret" not in result.output and "Secret}9" not in result.output


def test_sqlserver_token_modes_say_to_use_conn():
    with pytest.raises(ConfigError, match="--conn"):
        odbc_connection_string({"type": "sqlserver", "server": "h", "database": "d",
                                "authentication": "cli"})


@pytest.mark.parametrize("edition, major, version, refused", [
    (3, 14, "14.0.3465.1", "SQL Server 2017 (14.0.3465.1) found"),
    (2, 13, "13.0.6300.2", "SQL Server 2016 (13.0.6300.2) found"),
    (3, 15, "15.0.4355.3", None),
    (3, 16, "16.0.4135.4", None),
    (5, 12, "12.0.2000.8", None),  # Azure SQL Database reports 12
    (8, 12, "12.0.2000.8", None),  # Azure SQL Managed Instance
])
def test_sqlserver_older_servers_are_refused_in_one_line(profile, edition, major, version,
                                                         refused):
    def respond(sql, params):
        if "serverproperty('EngineEdition')" in sql:
            return ["engine_edition", "major_version", "product_version"], \
                [(edition, major, version)]
        return loader_responder(sql, params)

    backend = sqlserver.SqlServerBackend(_target(profile))
    recorder = RecordingConnection(respond)
    with mock.patch.object(sqlserver, "_connect", lambda *a, **k: recorder):
        if refused is None:
            backend.connect(1)
            backend.close()
            return
        with pytest.raises(UnsupportedServer) as caught:
            backend.connect(1)
    message = str(caught.value)
    assert refused in message and "2019 (15.x) or later" in message
    assert "\n" not in message and PASSWORD not in message and recorder.closed


def test_sqlserver_test_engine_resets_without_alter_database():
    """The SQL Server test engine empties its one database per test with T-SQL that
    Azure SQL Database allows (no ALTER DATABASE ... SET SINGLE_USER)."""
    from sqlserver_engine import RESET_SQL

    assert "alter database" not in RESET_SQL.lower()
    assert parse_problems(RESET_SQL) == [] and forbidden_constructs(RESET_SQL) == []
    assert "drop schema" in RESET_SQL and "is_ms_shipped = 0" in RESET_SQL
