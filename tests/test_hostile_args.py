"""Hostile arguments: names are identifiers, never SQL; secrets never leave the process.

--table, --source-name, --id-field, --updated-field and the values of a
pipeline config are checked before anything runs: an injection attempt
(quotes, semicolons, comments, brackets, Unicode look-alikes, control
characters) is refused with a one-line error and no database file, schema or
table is created. Legitimate unusual names (schema-qualified, mixed case,
reserved words, nested JSON fields) work.

A password from the environment, a profile or a --conn string never appears
in stdout, stderr (also with --debug), dbt's logs and target files, or any
meta table (job_run.metrics_json and error_message, load_reject, ...).
"""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
import yaml

from helpers_attack import dbt_cmd, dumps, loader_cmd, run, secrets_in_tree, write_lines

USERS = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bo"}]

CYRILLIC_A = "\u0430"  # looks like a Latin 'a'
FULLWIDTH_USERS = "\uff55\uff53\uff45\uff52\uff53"  # 'users' in fullwidth forms

TABLE_ATTACKS = [
    "raw.users; drop table meta.job_run",
    'raw."users"',
    "raw.users--",
    "raw.users/*x*/",
    "raw.[users]",
    "raw.users'",
    "raw.`users`",
    "raw.us ers",
    f"raw.us{CYRILLIC_A}rs",
    f"r{CYRILLIC_A}w.users",
    f"raw.{FULLWIDTH_USERS}",
    "raw.users\x00",
    "raw.users\n",
    "raw.users\u200b",  # zero-width space
    "raw.",
    ".users",
    "a.b.c",
    "raw.1users",
    "raw." + "x" * 64,  # PostgreSQL would cut it to 63 characters
    "",
]
SOURCE_ATTACKS = [
    "users'; delete from meta.watermark; --",
    "users;",
    "users--",
    "users/*",
    '"users"',
    "[users]",
    "us ers",
    f"us{CYRILLIC_A}rs",
    FULLWIDTH_USERS,
    "users\x00",
    "users\n",
    "-users",
    "x" * 129,
]
FIELD_ATTACKS = [
    "id'; drop table raw.canvas_users; --",
    "id;",
    "id--",
    "id/*c*/",
    "[id]",
    '"id"',
    "i d",
    "\u0456d",  # Cyrillic i
    "\uff49\uff44",  # fullwidth 'id'
    "id\x00",
    "id\n",
    "",
    ".id",
    "id.",
    "a..b",
    "x" * 300,
]


def _assert_refused_before_anything_ran(env, result, what: str):
    out = result.output.strip()
    assert result.exit_code == 1, out
    assert out.startswith("Error:") and len(out.splitlines()) == 1, out
    assert what in out, out
    assert "Traceback" not in out
    assert env.is_empty(), "a database, schema or table was created"


@pytest.mark.parametrize("table", TABLE_ATTACKS, ids=range(len(TABLE_ATTACKS)))
def test_hostile_table_is_refused_before_anything_runs(env, table):
    path = env.write_jsonl("a.jsonl", USERS)
    result = env.cli("load", path, "--table", table, expect=None)
    _assert_refused_before_anything_ran(env, result, "table")


@pytest.mark.parametrize("source", SOURCE_ATTACKS, ids=range(len(SOURCE_ATTACKS)))
def test_hostile_source_name_is_refused_before_anything_runs(env, source):
    path = env.write_jsonl("a.jsonl", USERS)
    result = env.cli("load", path, "--table", "raw.canvas_users", "--source-name", source,
                     expect=None)
    _assert_refused_before_anything_ran(env, result, "source name")


@pytest.mark.parametrize("option", ["--id-field", "--updated-field"])
@pytest.mark.parametrize("field", FIELD_ATTACKS, ids=range(len(FIELD_ATTACKS)))
def test_hostile_field_name_is_refused_before_anything_runs(env, option, field):
    if option == "--updated-field" and field == "":
        pytest.skip("an empty --updated-field means none (as when it is not given)")
    path = env.write_jsonl("a.jsonl", USERS)
    result = env.cli("load", path, "--table", "raw.canvas_users", option, field, expect=None)
    _assert_refused_before_anything_ran(env, result, option)


def _config(env, **override) -> "os.PathLike":
    source = {"name": "canvas_users", "table": "raw.canvas_users",
              "files": "*/canvas_users.jsonl*", "id_field": "id"}
    source.update(override)
    source = {k: v for k, v in source.items() if v is not DROP}
    path = env.root / "pipeline.yml"
    path.write_text(yaml.safe_dump({"sources": [source]}, allow_unicode=True))
    return path


DROP = object()
CONFIG_ATTACKS = {
    "name_injection": ({"name": "users'; drop table meta.watermark; --"}, "source name"),
    "name_comment": ({"name": "users--"}, "source name"),
    "table_semicolon": ({"table": "raw.users; drop table meta.job_run"}, "table"),
    "table_quote": ({"table": 'raw."users"'}, "table"),
    "table_bracket": ({"table": "raw.[users]"}, "table"),
    "table_cyrillic": ({"table": f"raw.us{CYRILLIC_A}rs"}, "table"),
    "table_fullwidth": ({"table": f"raw.{FULLWIDTH_USERS}"}, "table"),
    "table_null": ({"table": None}, "table must be a non-empty text"),
    "table_number": ({"table": 42}, "table must be a non-empty text"),
    "id_field_injection": ({"id_field": "id'; --"}, "id_field"),
    "updated_field_comment": ({"updated_field": "updated_at/*"}, "updated_field"),
    "updated_field_list": ({"updated_field": ["updated_at"]}, "updated_field"),
    "files_absolute": ({"files": "/etc/*"}, "must be a pattern inside --data-dir"),
    "files_parent": ({"files": "../../*.jsonl"}, "must be a pattern inside --data-dir"),
    "incremental_text": ({"incremental": "false", "updated_field": "updated_at"},
                         "incremental must be true or false"),
    "incremental_without_field": ({"incremental": True}, "incremental needs updated_field"),
    "unknown_key": ({"updated_fields": "updated_at"}, "unknown key 'updated_fields'"),
    "missing_files": ({"files": DROP}, "needs name, table and files"),
}


@pytest.mark.parametrize("attack", list(CONFIG_ATTACKS))
def test_hostile_pipeline_config_is_refused_before_anything_runs(env, attack):
    override, what = CONFIG_ATTACKS[attack]
    config = _config(env, **override)
    (env.data / "batch-0001").mkdir(parents=True)
    env.write_jsonl("data/batch-0001/canvas_users.jsonl", USERS)
    result = env.cli("run", "--config", config, "--data-dir", env.data, "--no-build",
                     expect=None)
    _assert_refused_before_anything_ran(env, result, what)
    assert str(config) in result.output


def test_hostile_pipeline_config_that_is_not_yaml_gives_position_not_content(env):
    config = env.root / "pipeline.yml"
    config.write_text('sources:\n  - name: canvas_users\n    table: "raw.canvas_users\n'
                      '    files: x\n')
    result = env.cli("run", "--config", config, "--data-dir", env.data, "--no-build",
                     expect=None)
    out = result.output.strip()
    assert result.exit_code == 1 and len(out.splitlines()) == 1, out
    assert f"{config}:" in out and "not valid YAML" in out
    assert "raw.canvas_users" not in out  # the file's lines are not quoted back
    assert env.is_empty()


# -- legitimate unusual names -----------------------------------------------------

@pytest.mark.parametrize("table, source", [
    ("Landing.Canvas_Users", "users.v2"),
    ("raw.user", "canvas-users_v2"),  # reserved words, quoted by the loader
    ("raw.order", "2026.fall"),
    ("_private._x1", "_x"),
    ("canvas_users", None),  # no schema: raw
    ("raw." + "t" * 63, "long"),  # the longest name every engine keeps
])
def test_hostile_unusual_but_legitimate_names_work(env, table, source):
    path = env.write_jsonl("a.jsonl", USERS)
    args = ["--source-name", source] if source else []
    env.load(path, table, *args)
    schema, name = table.split(".") if "." in table else ("raw", table)
    quoted = f'"{schema}"."{name}"'
    assert env.scalar(f"select count(*) from {quoted}") == 2
    assert env.scalar("select count(*) from meta.job_run where job_name = ?",
                      (f"load {source or name}",)) == 1


def test_hostile_nested_id_and_updated_fields_work(env):
    """Canvas Data 2 shape: {"key": {"id": ...}, "value": {...}}."""
    path = write_lines(env, "cd2.jsonl", [
        dumps({"key": {"id": 7}, "value": {"updated_at": "2026-09-01T00:00:00Z"}}),
        dumps({"key": {"id": 8}, "value": {"updated_at": "2026-09-02T00:00:00+02:00"}}),
    ])
    env.load(path, "raw.cd2_users", "--id-field", "key.id", "--updated-field",
             "value.updated_at", "--incremental")
    assert env.query("select id, record_updated_at from raw.cd2_users order by id") == [
        ("7", datetime(2026, 9, 1, 0, 0)), ("8", datetime(2026, 9, 1, 22, 0))]


# -- secrets ------------------------------------------------------------------------

def _meta_dump(env) -> str:
    """Every row of every meta table, as text."""
    if env.is_empty():
        return ""
    tables = [r[0] for r in env.query(
        "select table_name from information_schema.tables where table_schema = 'meta' "
        "and table_type in ('BASE TABLE', 'VIEW')")]
    return "\n".join(repr(env.query(f'select * from meta."{t}"')) for t in tables)


def _assert_nowhere(env, secret: str, *outputs: str):
    assert len(secret) >= 8
    for text in outputs:
        assert secret not in text, text[-2000:]
    assert secrets_in_tree(env.root, secret) == []  # dbt logs, data, profiles copies
    target = os.environ.get("DBT_TARGET_PATH")
    if target:
        assert secrets_in_tree(target, secret) == []  # run_results.json, manifest.json
    assert secret not in _meta_dump(env)


def test_hostile_no_secret_in_output_logs_or_meta(env):
    """A whole pipeline run (loads with rejects, a failed load, dbt build, status,
    a --debug failure) with secrets planted in every variable a profile or the
    loader reads: none of them shows up anywhere."""
    planted = {
        "SQLSERVER_PASSWORD": "Sql-S3cret-planted-1",
        "CANVAS_SQLSERVER_CONN": "DRIVER={FreeTDS};SERVER=x;UID=sa;PWD={Conn-S3cret;planted-2}",
        "DBT_ENV_SECRET_TOKEN": "Dbt-S3cret-planted-3",
    }
    secrets = list(planted.values())[:1] + ["Conn-S3cret;planted-2", "Dbt-S3cret-planted-3"]
    if env.engine == "postgres":
        secrets.append(os.environ["PGPASSWORD"])  # the real one: it must work and stay hidden
    else:
        planted["PGPASSWORD"] = "Pg-S3cret-planted-4"
        secrets.append("Pg-S3cret-planted-4")
    if env.engine == "sqlserver":  # the real password and connection, kept
        del planted["SQLSERVER_PASSWORD"], planted["CANVAS_SQLSERVER_CONN"]
        secrets = secrets[2:] + [os.environ["SQLSERVER_PASSWORD"]]
    outputs = []
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    env.cli("simulate", env.data, "--follow-up", "--silent")  # has bad lines
    (env.data / "batch-0002" / "canvas_courses.jsonl").write_text("oops\n" * 101)
    for cmd in (["run", "--data-dir", env.data], ["status"],
                ["--debug", "load", env.root / "missing.jsonl", "--table", "raw.canvas_users"],
                ["--debug", "load", env.data / "batch-0002" / "canvas_courses.jsonl",
                 "--table", "raw.canvas_courses", "--force"]):
        proc = run(env, loader_cmd(*cmd), **planted)
        outputs += [proc.stdout, proc.stderr]
    assert "load failed" in outputs[1] and "Traceback" in outputs[5]
    assert env.scalar("select count(*) from meta.load_reject") > 101
    assert env.scalar("select count(*) from meta.job_run where status = 'failed'") >= 2
    for secret in secrets:
        _assert_nowhere(env, secret, *outputs)


@pytest.mark.engines("postgres")
def test_hostile_wrong_password_is_not_echoed(env):
    wrong = "Wrong-S3cret-planted-5"
    path = env.write_jsonl("a.jsonl", USERS)
    proc = run(env, loader_cmd("--debug", "load", path, "--table", "raw.canvas_users"),
               PGPASSWORD=wrong)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot connect to postgres target") and "PGPASSWORD" in last
    dbt = run(env, dbt_cmd(env, "debug"), PGPASSWORD=wrong)
    assert dbt.returncode != 0
    _assert_nowhere(env, wrong, proc.stdout, proc.stderr, dbt.stdout, dbt.stderr)


@pytest.mark.engines("postgres")
def test_hostile_profile_password_is_not_printed(env):
    """The password written into profiles.yml itself (not from the environment)."""
    secret = os.environ["PGPASSWORD"]
    profile = yaml.safe_load((env.profiles / "profiles.yml").read_text())
    profile["canvas_pipeline"]["outputs"]["postgres"]["password"] = secret
    profiles = env.root.parent / (env.root.name + "_profiles")  # outside env.root
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(yaml.safe_dump(profile))
    path = env.write_jsonl("a.jsonl", USERS, raw_lines=["oops"] * 3)
    outputs = []
    for args in (["load", path, "--table", "raw.canvas_users", "--max-rejects", 1],
                 ["--debug", "load", path, "--table", "raw.canvas_users", "--max-rejects", 1],
                 ["load", path, "--table", "raw.canvas_users"], ["status"]):
        proc = run(env, loader_cmd(*args, "--profiles-dir", profiles),
                   PGPASSWORD="not-the-password")
        outputs += [proc.stdout, proc.stderr]
    assert "more than 1 lines rejected" in outputs[1]
    assert env.scalar("select count(*) from raw.canvas_users") == 2
    _assert_nowhere(env, secret, *outputs)


@pytest.mark.engines("duckdb")
@pytest.mark.parametrize("conn", [
    "DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1;UID=sa;PWD=Conn-S3cret-planted-6",
    "DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1;UID=sa;PWD={Conn-S3cret-planted-6;x}}y}",
    "DRIVER={ODBC Driver 18 for SQL Server};SERVER=127.0.0.1,1;UID=sa;"
    "Password=Conn-S3cret-planted-6",
    "DSN=nosuch;PWD=Conn-S3cret-planted-6",
])
@pytest.mark.parametrize("target", ["sqlserver", "duckdb"])
def test_hostile_conn_password_is_masked(env, conn, target):
    """--conn on a sqlserver target that cannot be reached (no server here), and on
    a target that does not take --conn: the error never shows the password."""
    pytest.importorskip("pyodbc")
    path = env.write_jsonl("a.jsonl", USERS)
    proc = run(env, loader_cmd("--debug", "load", path, "--table", "raw.canvas_users",
                               "--target", target, "--conn", conn), timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("Error:")
    _assert_nowhere(env, "Conn-S3cret-planted-6", proc.stdout, proc.stderr)


def test_hostile_status_and_job_run_metrics_hold_no_connection_details(env):
    env.load(env.write_jsonl("a.jsonl", USERS), "raw.canvas_users")
    metrics = json.loads(env.scalar("select metrics_json from meta.job_run"))
    text = json.dumps(metrics).lower()
    for word in ("password", "pwd", "pgpassword", "secret"):
        assert word not in text
