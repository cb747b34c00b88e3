"""scripts/check_tsql.py: the project's T-SQL compiles without a server and parses.

The check runs in a subprocess (it replaces pyodbc.connect and runs dbt
in-process); its report names every failing file and problem, and is shown
in full when the test fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCRIPT = PROJECT_DIR / "scripts" / "check_tsql.py"
sys.path.insert(0, str(SCRIPT.parent))
from check_tsql import forbidden_constructs, non_unicode_text  # noqa: E402


def _check(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=timeout)


def _project_copy(tmp_path: Path) -> Path:
    """The dbt project's files, copied to tmp_path/project (to add a bad file to)."""
    project = tmp_path / "project"
    for name in ("models", "macros", "snapshots"):
        if (PROJECT_DIR / name).is_dir():
            shutil.copytree(PROJECT_DIR / name, project / name)
    for name in ("dbt_project.yml", "profiles.example.yml"):
        shutil.copyfile(PROJECT_DIR / name, project / name)
    return project


def test_tsql_whole_project_parses_as_tsql_without_a_server(tmp_path):
    proc = _check("--work-dir", str(tmp_path / "work"))
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"T-SQL check failed:\n{report}"
    assert "project statements checked, 0 failed" in proc.stdout
    sent = (tmp_path / "work" / "dry_run_sent.sql").read_text()
    assert "on-run-start" in sent and "on-run-end" in sent  # the hooks were rendered
    assert "offline-Check-Pw1" not in report + sent


def test_tsql_check_names_the_file_and_the_problem(tmp_path):
    """A copy of the project with one model that uses what SQL Server rejects."""
    project = _project_copy(tmp_path)
    bad = project / "models" / "marts" / "zz_not_tsql.sql"
    bad.write_text("select top 5 user_id::int as user_id, true as is_x\n"
                   "from {{ ref('stg_canvas__users') }}\nlimit 5\n")
    proc = _check("--project-dir", str(project), "--work-dir", str(tmp_path / "work"),
                  "--skip-dry-run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL models/marts/zz_not_tsql.sql [compiled, incremental]" in proc.stdout
    for expected in ("unparsable section", "LIMIT", "TRUE/FALSE", ":: cast"):
        assert expected in proc.stdout, proc.stdout
    assert "1 failed" in proc.stdout


def test_tsql_check_lints_the_macros_sql_as_compiled(tmp_path):
    """sqlfluff's dbt templater skips macros/: the check lints what they render
    (here through a model that calls one) with the lowercase rules."""
    project = _project_copy(tmp_path)
    (project / "macros" / "zz_shout.sql").write_text(
        "{% macro zz_shout(column) %}COALESCE(CAST({{ column }} AS BIGINT), 0){% endmacro %}\n")
    (project / "models" / "marts" / "zz_shouting.sql").write_text(
        "select {{ zz_shout('user_id') }} as user_id\nfrom {{ ref('stg_canvas__users') }}\n")
    proc = _check("--project-dir", str(project), "--work-dir", str(tmp_path / "work"),
                  "--skip-dry-run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL models/marts/zz_shouting.sql [compiled, incremental]" in proc.stdout
    for expected in ("lint CP01: Keywords must be lower case",  # COALESCE, CAST, AS
                     "lint CP05: Datatypes must be lower case"):
        assert expected in proc.stdout, proc.stdout
    assert "1 failed" in proc.stdout


def test_tsql_lint_finds_upper_case_and_passes_the_projects_style():
    from check_tsql import parse_problems

    found = parse_problems("SELECT CAST(x AS INT) AS y FROM t WHERE z IS NULL", style=True)
    assert {p.split(":")[0] for p in found} == {"lint CP01", "lint CP04", "lint CP05"}, found
    assert parse_problems("select cast(x as int) as y from t where z is null", style=True) == []
    assert parse_problems("SELECT 1 AS x") == []  # parse only: dbt-sqlserver's own text


@pytest.mark.parametrize("sql, problem", [
    ("select * from (with a as (select 1 as x) select x from a) as b", "WITH (CTE)"),
    ("select x from t order by x limit 10", "LIMIT"),
    ("select x from t where is_active = true", "TRUE/FALSE"),
    ("select x::bigint from t", ":: cast"),
    ("select x from t where name ilike 'a%'", "ILIKE"),
    ("create table if not exists meta.x (a int)", "IF NOT EXISTS"),
    ("select a, count(*) as n from t group by 1", "GROUP BY <ordinal>"),
    ("select first_name || ' ' || last_name as name from t", "|| concatenation"),
    ("select x from t order by x desc nulls last", "NULLS FIRST/LAST"),
    ("select count(*) filter (where x > 1) as n from t", "FILTER"),
    ("select distinct on (a) a, b from t", "DISTINCT ON"),
    ("select x from t where at > now() - interval '1 day'", "INTERVAL"),
])
def test_tsql_forbidden_constructs_are_found(sql, problem):
    assert any(problem in p for p in forbidden_constructs(sql))


@pytest.mark.parametrize("sql", [
    "with a as (select 1 as x) select x from a",
    "select 1 as x; with a as (select 1 as x) select x from a",
    "select 'true' as x, [limit] as y from t -- limit 1, ::int\n",
    "select x from openjson(@j) with (x int '$.x') as j",
    "alter authorization on schema::raw to dbo",
    "if object_id(N'meta.x', N'U') is null create table meta.x (a int)",
])
def test_tsql_valid_tsql_is_not_flagged(sql):
    assert forbidden_constructs(sql) == []


@pytest.mark.parametrize("sql", [
    "create table meta.x (load_id varchar(64), h char(64))",
    "select cast(name as varchar(200)) as name from t",
    "select convert(char(64), hashbytes('SHA2_256', x), 2) as k from t",
    "create table raw.t (payload text, id nvarchar(450) not null)",
])
def test_tsql_non_unicode_text_types_are_found(sql):
    assert non_unicode_text(sql)


@pytest.mark.parametrize("sql", [
    "create table meta.x (load_id nvarchar(64), h nchar(64), p nvarchar(max))",
    "select cast(name as nvarchar(4000)) as name from t",
    "select hashbytes('SHA2_256', cast(x collate Latin1_General_100_BIN2_UTF8 "
    "as varchar(max))) as h from t",
    "select 'varchar(10)' as a_string, [char(1)] as a_name from t",
])
def test_tsql_unicode_text_types_are_not_flagged(sql):
    assert non_unicode_text(sql) == []


def test_tsql_test_queries_are_checked_on_every_engine(tmp_path):
    """A test query that SQL Server would reject fails the test on any engine
    (tests/conftest.py Env), unless it is marked as one engine's."""
    from conftest import Env

    env = Env(tmp_path, database=None, profiles=tmp_path, engine="duckdb")
    with pytest.raises(pytest.fail.Exception, match="test query is not T-SQL.*LIMIT"):
        env.query("select status from meta.job_run order by started_at desc limit 1")
    with pytest.raises(AttributeError):  # checked, then sent (no database here)
        env.query("select 1 limit 1", engine_specific=True)


def test_tsql_on_run_start_refuses_sql_server_2017(tmp_path, monkeypatch):
    """The on-run-start hook reads the server's version first: SQL Server 2017
    fails the run in one line naming the version found and the one required."""
    import check_tsql
    from tsql_recording import RecordingConnection

    def respond(sql, params):
        if "serverproperty('EngineEdition')" in sql:
            return ["engine_edition", "major_version", "product_version"], \
                [(3, 14, "14.0.3465.1")]
        return check_tsql.dry_run_responder(sql, params)

    for name, value in check_tsql.OFFLINE_ENV.items():  # restored after the test
        monkeypatch.setenv(name, value)
    with check_tsql.pyodbc_connect_replaced(lambda *a, **k: RecordingConnection(respond)):
        result = check_tsql.run_dbt(["run", "--select", "stg_canvas__users"], PROJECT_DIR,
                                    tmp_path, "target_old_server")
    assert not result.success
    message = str(result.exception)
    assert "SQL Server 14.0.3465.1 found" in message and "2019 (15.x) or later" in message
