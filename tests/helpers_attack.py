"""Shared helpers for the tests that attack the loader and the dbt build (issue 5):
test_bad_input, test_crash_safety, test_concurrency, test_incremental_property,
test_hostile_args, test_clear_errors.

Everything goes through the `env` fixture's interface (env.cli, env.load,
env.dbt, env.query with ? placeholders), so each test runs on every engine the
fixture is parametrized over. Subprocesses inherit the fixture's environment
(CANVAS_DUCKDB_PATH or the PG* variables, DBT_PROFILES_DIR, ...) through
subprocess_env().
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, subprocess_env

CURATED = ["cur.person_identity_map", "cur.dim_student", "cur.dim_course", "cur.dim_assignment",
           "cur.fact_enrollment", "cur.fact_submission"]
MARTS = ["mart.student_performance_summary", "mart.course_performance_daily"]
WAREHOUSE_SCHEMAS = ("raw", "meta", "stg", "cur", "mart", "snap")



# -- subprocesses -------------------------------------------------------------
def loader_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "loader.cli", *[str(a) for a in args]]


def dbt_cmd(env, *args) -> list[str]:
    return [sys.executable, "-m", "dbt.cli.main", *[str(a) for a in args],
            "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(env.profiles)]


def popen(env, cmd: list[str], prefix: list[str] | None = None, **extra_env) -> subprocess.Popen:
    """Start cmd in the project directory with the test's environment; output is piped."""
    return subprocess.Popen(
        [*(prefix or []), *cmd], cwd=PROJECT_DIR,
        env=subprocess_env(env, PYTHONUNBUFFERED=1, **extra_env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def run(env, cmd: list[str], timeout: float = 300, prefix: list[str] | None = None,
        **extra_env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(prefix or []), *cmd], cwd=PROJECT_DIR,
        env=subprocess_env(env, PYTHONUNBUFFERED=1, **extra_env),
        capture_output=True, text=True, timeout=timeout,
    )


def kill_after(proc: subprocess.Popen, delay: float, poll=None) -> bool:
    """SIGKILL proc after delay seconds (calling poll() meanwhile, e.g. a reader's
    check). Returns True when it was killed, False when it had already exited."""
    deadline = time.monotonic() + delay
    while True:
        if proc.poll() is not None:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            break
        if poll is not None:
            poll()
        time.sleep(min(0.02, max(left, 0)))
    proc.communicate(timeout=60)
    return proc.returncode == -9


def release_inprocess_duckdb() -> None:
    """In-process dbt (env.dbt, `loader run`) keeps dbt-duckdb's database open in
    this process after it returns, which locks the file against a subprocess:
    close it (the next in-process dbt opens a new one)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with manager._LOCK:
        if manager._ENV is not None:
            try:
                manager._ENV.close()
            finally:
                manager._ENV = None


def wait_for_loader_sessions(env, timeout: float = 60) -> None:
    """PostgreSQL: the server session of a killed loader lives on until its running
    statement ends; wait for it, so the next run starts from a quiet server."""
    if env.engine != "postgres":
        return
    deadline = time.monotonic() + timeout
    while env.scalar("select count(*) from pg_stat_activity where application_name = "
                     "'canvas-loader' and datname = current_database()"):
        assert time.monotonic() < deadline, "a killed loader's session did not end"
        time.sleep(0.05)


# -- what a load left behind ---------------------------------------------------




def watermark(env, source: str):
    rows = env.query("select last_updated_at from meta.watermark where source_name = ?",
                     (source,))
    assert len(rows) <= 1, f"{len(rows)} watermark rows for {source}"
    return rows[0][0] if rows else None


def successful_loads(env, table: str) -> list[tuple]:
    """The load log of the successful loads into table (what an uninterrupted run writes)."""
    return env.query(
        "select source_name, source_file, file_sha256, rows_read, rows_written, rows_skipped, "
        "rows_rejected from meta.load_file where target_table = ? and status = 'success' "
        "order by source_file, rows_written", (table,))






def reset_warehouse(env, extra_schemas: tuple[str, ...] = ()) -> None:
    """Drop everything the loader and dbt created, on any engine (a fresh start
    inside one test, e.g. per hypothesis example)."""
    for schema in (*WAREHOUSE_SCHEMAS, *extra_schemas):
        env.execute(f"drop schema if exists {schema} cascade")


def write_lines(env, name: str, lines: list[str | bytes], newline: bytes = b"\n",
                final_newline: bool = True) -> Path:
    """A file of raw lines (bytes kept as they are: bad UTF-8, BOMs, CRLF ...)."""
    path = env.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = [ln.encode() if isinstance(ln, str) else ln for ln in lines]
    data = newline.join(encoded)
    if final_newline and encoded:
        data += newline
    path.write_bytes(data)
    return path


def as_text(env, expr: str) -> str:
    """SQL for expr as text of any length (T-SQL's varchar alone means varchar(30))."""
    if env.engine == "sqlserver":
        return f"cast({expr} as nvarchar(max))"
    return f"cast({expr} as varchar)"


def text_length(env, expr: str) -> str:
    return f"{'len' if env.engine == 'sqlserver' else 'length'}({as_text(env, expr)})"


def dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


def dbt_build_ok(env, *args) -> object:
    """`dbt <args>` in-process; every model and snapshot must succeed (data tests
    may warn or fail: those are findings, not build failures)."""
    res = env.dbt(*args, expect_success=False)
    assert res.result is not None, f"dbt {' '.join(args)} did not run: {res.exception}"
    bad = [(r.node.name, str(r.status)) for r in res.result.results
           if str(r.node.resource_type) in ("model", "snapshot", "NodeType.Model",
                                             "NodeType.Snapshot")
           and str(r.status) not in ("success", "RunStatus.Success")]
    assert not bad, f"dbt {' '.join(args)}: {bad}"
    return res


def secrets_in_tree(root: Path, secret: str) -> list[str]:
    """Files under root whose bytes contain secret."""
    hits = []
    needle = secret.encode()
    for path in Path(root).rglob("*"):
        try:
            if path.is_file() and needle in path.read_bytes():
                hits.append(str(path))
        except OSError:
            continue
    return hits


def skip_unless_slow_selected(request) -> None:
    """A @pytest.mark.slow test runs only when asked for (`-m slow`): a plain run
    of the suite skips it, with the reason shown."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long variant: run with -m slow")
