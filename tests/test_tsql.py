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
from check_tsql import forbidden_constructs  # noqa: E402


def _check(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=timeout)


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
    project = tmp_path / "project"
    for name in ("models", "macros", "snapshots"):
        if (PROJECT_DIR / name).is_dir():
            shutil.copytree(PROJECT_DIR / name, project / name)
    for name in ("dbt_project.yml", "profiles.example.yml"):
        shutil.copyfile(PROJECT_DIR / name, project / name)
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
