"""Clear errors: every failure a user can cause ends with one line that names the
thing (file, target, host, table) and says what to do, with a non-zero exit
code and no traceback, unless --debug (then the traceback comes first and the
same line last).

Unreadable files: the tests run as root, for whom chmod 000 changes nothing.
The loader is then started through `setpriv` without the capabilities that let
root read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so the kernel
refuses the read exactly as it would for another user; a directory given as
the file is the second unreadable case.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from helpers_attack import loader_cmd, run

USERS = [{"id": 1, "name": "Ada"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_clear(result, *names: str, hint: str | None = None) -> str:
    """One line 'Error: ...' naming every name (and the hint), exit code 1, no traceback."""
    out = result.output.strip()
    assert result.exit_code == 1, out
    assert len(out.splitlines()) == 1, out
    assert out.startswith("Error: ") and "Traceback" not in out, out
    for name in names:
        assert str(name) in out, (name, out)
    if hint:
        assert hint in out, (hint, out)
    return out


def assert_debug_shows_traceback(env, args: list, line: str) -> None:
    result = env.cli("--debug", *args, expect=None)
    out = result.output.strip().splitlines()
    assert result.exit_code == 1
    assert out[0] == "Traceback (most recent call last):", out[:3]
    assert out[-1] == line


def _load_args(env, path, *extra) -> list:
    return ["load", path, "--table", "raw.canvas_users", *extra]


def test_clear_error_missing_file(env):
    args = _load_args(env, env.root / "nope.jsonl")
    line = assert_clear(env.cli(*args, expect=None), env.root / "nope.jsonl", "no such file",
                        hint="Check the path")
    assert_debug_shows_traceback(env, args, line)
    assert env.is_empty()


def test_clear_error_directory_instead_of_file(env):
    (env.root / "somedir").mkdir()
    args = _load_args(env, env.root / "somedir")
    line = assert_clear(env.cli(*args, expect=None), env.root / "somedir", "is a directory",
                        hint="loader run --data-dir")
    assert_debug_shows_traceback(env, args, line)
    assert env.is_empty()


def _without_read_override() -> list[str]:
    """A command prefix that takes away root's power to read any file."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root without setpriv: chmod 000 cannot be enforced")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def test_clear_error_unreadable_file(env):
    path = env.write_jsonl("secret.jsonl", USERS)
    path.chmod(0)
    prefix = _without_read_override()
    proc = run(env, loader_cmd(*_load_args(env, path)), prefix=prefix)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line == f"Error: {path}: permission denied. Check the file's permissions"
    debug = run(env, loader_cmd("--debug", *_load_args(env, path)), prefix=prefix)
    lines = debug.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[-1] == line
    assert env.is_empty()


def test_clear_error_unknown_target(env):
    path = env.write_jsonl("a.jsonl", USERS)
    args = _load_args(env, path, "--target", "nosuch")
    line = assert_clear(env.cli(*args, expect=None), "unknown target 'nosuch'",
                        hint="Known targets: duckdb, postgres")
    assert_debug_shows_traceback(env, args, line)
    assert env.is_empty()


def test_clear_error_unknown_target_in_environment(env, monkeypatch):
    monkeypatch.setenv("CANVAS_TARGET", "prod")
    result = env.cli("status", expect=None)
    assert_clear(result, "unknown target 'prod'", hint="Known targets:")


@pytest.mark.engines("postgres")
def test_clear_error_database_unreachable_postgres(env, monkeypatch):
    port = _free_port()
    monkeypatch.setenv("PGPORT", str(port))
    path = env.write_jsonl("a.jsonl", USERS)
    args = _load_args(env, path)
    line = assert_clear(env.cli(*args, expect=None),
                        f"cannot connect to postgres target at 127.0.0.1:{port}",
                        f"database {os.environ['PGDATABASE']}", f"user {os.environ['PGUSER']}",
                        hint="Check that the server is running and PGHOST and PGPORT")
    assert_debug_shows_traceback(env, args, line)
    status = env.cli("status", expect=None)
    assert_clear(status, f"127.0.0.1:{port}", hint="Check that the server is running")


@pytest.mark.engines("postgres")
def test_clear_error_database_does_not_exist_postgres(env, monkeypatch):
    monkeypatch.setenv("PGDATABASE", "no_such_database")
    path = env.write_jsonl("a.jsonl", USERS)
    assert_clear(env.cli(*_load_args(env, path), expect=None), "no_such_database",
                 hint="Create the database (createdb) or set PGDATABASE")


@pytest.mark.engines("postgres")
def test_clear_error_wrong_password_postgres(env, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "wrong-password")
    path = env.write_jsonl("a.jsonl", USERS)
    out = assert_clear(env.cli(*_load_args(env, path), expect=None),
                       "password authentication failed",
                       hint="Check PGUSER and PGPASSWORD")
    assert "wrong-password" not in out


@pytest.mark.engines("duckdb")
@pytest.mark.parametrize("where", [
    "missing_directory",
    "not_a_database",
])
def test_clear_error_database_unreachable_duckdb(env, monkeypatch, where):
    if where == "missing_directory":
        db = env.root / "no" / "such" / "dir" / "canvas.duckdb"
        hint = "CANVAS_DUCKDB_PATH"
    else:
        db = env.root / "garbage.duckdb"
        db.write_text("not a database\n" * 100)
        hint = "CANVAS_DUCKDB_PATH"
    monkeypatch.setenv("CANVAS_DUCKDB_PATH", str(db))
    path = env.write_jsonl("a.jsonl", USERS)
    if where == "missing_directory":
        result = env.cli(*_load_args(env, path), expect=None)
        assert_clear(result, f"cannot open DuckDB database {db}", "does not exist", hint=hint)
    else:
        assert_clear(env.cli(*_load_args(env, path), expect=None),
                     f"cannot open DuckDB database {db}", hint=hint)


def test_clear_error_table_without_the_raw_columns(env):
    env.execute("create schema raw")
    env.execute("create table raw.canvas_users (id varchar(20), name varchar(20))")
    path = env.write_jsonl("a.jsonl", USERS)
    args = _load_args(env, path)
    line = assert_clear(env.cli(*args, expect=None),
                        "table raw.canvas_users exists but lacks the raw columns payload, "
                        "payload_hash, record_updated_at, ingested_at, source_file, load_id",
                        hint="Load into a new table, or rename the existing one")
    assert_debug_shows_traceback(env, args, line)
    assert env.scalar("select count(*) from raw.canvas_users") == 0


@pytest.mark.engines("duckdb", "postgres")
def test_clear_error_table_with_wrong_column_types(env):
    env.execute("create schema raw")
    env.execute("create table raw.canvas_users (id varchar, payload integer, "
                "payload_hash varchar, record_updated_at timestamp, ingested_at timestamp, "
                "source_file varchar, load_id varchar)")
    path = env.write_jsonl("a.jsonl", USERS)
    result = env.cli(*_load_args(env, path), expect=None)
    assert env.scalar("select count(*) from raw.canvas_users") == 0
    assert_clear(result, "raw.canvas_users", "payload")


@pytest.mark.engines("duckdb", "postgres")
def test_clear_error_unexpected_database_error_is_one_line(env):
    """Whatever the database says (here: raw.canvas_users is a view it cannot write
    through), the user sees one line, and --debug has the rest."""
    env.execute("create schema raw")
    env.execute("create table raw.users_base (id varchar, payload varchar, "
                "payload_hash varchar, record_updated_at timestamp, ingested_at timestamp, "
                "source_file varchar, load_id varchar)")
    env.execute("create view raw.canvas_users as select id, payload, payload_hash, "
                "record_updated_at, ingested_at, source_file, upper(load_id) as load_id "
                "from raw.users_base")
    path = env.write_jsonl("a.jsonl", USERS)
    args = _load_args(env, path)
    line = assert_clear(env.cli(*args, expect=None), "unexpected error", "rerun with --debug")
    assert_debug_shows_traceback(env, args, line)
    if env.engine == "duckdb":  # PostgreSQL already fails at the table setup (an index)
        assert env.scalar("select status from meta.job_run") == "failed"


def test_clear_error_incremental_without_updated_field(env):
    path = env.write_jsonl("a.jsonl", USERS)
    assert_clear(env.cli(*_load_args(env, path, "--incremental"), expect=None),
                 "--incremental needs --updated-field", hint="--updated-field updated_at")
    assert env.is_empty()


def test_clear_error_pipeline_config_missing(env):
    config = env.root / "nope.yml"
    assert_clear(env.cli("run", "--config", config, "--no-build", expect=None), config,
                 hint="Pass --config or create it")
    assert env.is_empty()


def test_clear_error_profiles_dir_without_profiles(env):
    empty = env.root / "empty_profiles"
    empty.mkdir()
    path = env.write_jsonl("a.jsonl", USERS)
    assert_clear(env.cli(*_load_args(env, path, "--profiles-dir", empty), expect=None),
                 f"no profiles.yml in --profiles-dir {empty}")
    assert env.is_empty()


def test_clear_error_exit_code_and_streams_in_a_real_process(env):
    """Outside CliRunner: the message is on stderr, stdout is empty, exit code 1."""
    proc = run(env, loader_cmd(*_load_args(env, env.root / "nope.jsonl")))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == f"Error: {env.root / 'nope.jsonl'}: no such file. Check the path"
