"""Fixtures: a fresh DuckDB file per test, the CLI in-process, dbt in-process.

Every test gets its own database file and profiles directory; dbt's target
directory is shared per session so partial parsing keeps builds fast.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from loader.cli import cli

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dbt_target_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture
def env(tmp_path, monkeypatch, dbt_target_dir):
    """A private profiles dir and DuckDB file; returns a small namespace."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(PROJECT_DIR / "profiles.example.yml", profiles / "profiles.yml")
    db = tmp_path / "canvas.duckdb"
    monkeypatch.setenv("CANVAS_DUCKDB_PATH", str(db))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(profiles))
    monkeypatch.setenv("DBT_TARGET_PATH", str(dbt_target_dir))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt_logs"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.delenv("CANVAS_TARGET", raising=False)
    monkeypatch.chdir(tmp_path)
    return Env(tmp_path, db, profiles)


class Env:
    def __init__(self, root: Path, db: Path, profiles: Path):
        self.root = root
        self.db = db
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

    def query(self, sql: str, params=()) -> list[tuple]:
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def scalar(self, sql: str, params=()):
        return self.query(sql, params)[0][0]

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
