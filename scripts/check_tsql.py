#!/usr/bin/env python3
"""Check the T-SQL this project sends to SQL Server, without a SQL Server.

What is checked, and where it comes from:

1. compiled: `dbt compile --target sqlserver --vars {offline_compile: true}`
   (canvas_is_incremental() is true, so the incremental branches are
   compiled; the audit hooks do nothing). pyodbc.connect is replaced by a
   function that raises, so the compile proves that nothing connects.
2. dry run: `dbt build --target sqlserver` with pyodbc.connect replaced by a
   recording connection (scripts/tsql_recording.py) that answers with
   canned rows: every test "fails" with severity warn, so the on-run-end
   hook renders its sample-key queries; INFORMATION_SCHEMA answers with a
   drifted raw table, so the schema-snapshot hook renders its change rows.
   This is the SQL dbt would send, tagged by node: the first-run branch of
   the models (no relation exists), dbt-sqlserver's materializations, and
   the on-run-start / on-run-end hooks with a real `results`.
3. loader: a recorded `loader load` / `status` / `run` audit read against the
   same recording connection, parameters inlined as literals.

Every statement of the project (1, 2's hooks and models, 3) must parse with
sqlfluff's tsql dialect without an unparsable section, and must not contain
what SQL Server rejects or this project does not allow on it: a WITH (CTE)
that does not start its statement, LIMIT, TRUE/FALSE literals, `::` casts,
ILIKE, IF NOT EXISTS (guards are schema_id()/object_id()), GROUP BY
<ordinal>, and the PostgreSQL/DuckDB syntax sqlfluff lets through (`||`,
NULLS FIRST/LAST, FILTER (WHERE ...), DISTINCT ON, INTERVAL '...'). A node
or hook that errors in either dbt run fails the check too. With -v the
statements dbt-sqlserver itself wraps around ours are parsed as well, and
only reported (they are the adapter's, not ours to fix).

Usage: scripts/check_tsql.py [--work-dir DIR] [--skip-dry-run] [--project-dir DIR] [-v]
Exit code 1 when any project statement fails; the report names each one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))

# The profile the checks render (profiles.example.yml's sqlserver output):
# a host that cannot resolve and a password that must not leak into output.
OFFLINE_ENV = {
    "SQLSERVER_HOST": "sqlserver.offline.invalid",
    "SQLSERVER_PORT": "1433",
    "SQLSERVER_DATABASE": "canvas",
    "SQLSERVER_USER": "sa",
    "SQLSERVER_PASSWORD": "offline-Check-Pw1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


@dataclass
class Sql:
    origin: str  # e.g. "models/staging/stg_canvas__users.sql [compiled]"
    text: str
    ours: bool = True  # False: dbt-sqlserver's own statement (reported, not failed)
    problems: list[str] = field(default_factory=list)


class ConnectAttempt(RuntimeError):
    """Raised instead of connecting during the offline compile."""


# -- (c) forbidden constructs ------------------------------------------------------

_COMMENT_OR_STRING = re.compile(r"--[^\n]*|/\*.*?\*/|N?'(?:[^']|'')*'|\[[^\]]*\]|\"[^\"]*\"",
                                re.S)
_CTE = re.compile(r"\bwith\s+[A-Za-z_#@][\w$#@]*\s*(\([^()]*\)\s*)?as\s*\(", re.I)
_FORBIDDEN = [
    (re.compile(r"\blimit\b", re.I), "LIMIT (use TOP / OFFSET ... FETCH)"),
    (re.compile(r"\b(true|false)\b", re.I), "a TRUE/FALSE literal (use 1/0)"),
    # `schema::name` and the like are T-SQL's securable scopes, not casts.
    (re.compile(r"(?<!:)(?<!\bschema)(?<!\bobject)(?<!\btype)::", re.I),
     "a :: cast (use cast(... as ...))"),
    (re.compile(r"\bilike\b", re.I), "ILIKE (use LIKE; collations are case-insensitive)"),
    (re.compile(r"\bif\s+not\s+exists\b", re.I),
     "IF NOT EXISTS (guard DDL with schema_id()/object_id() is null)"),
    (re.compile(r"\bgroup\s+by\s+\d", re.I), "GROUP BY <ordinal> (group by the columns)"),
    # Also PostgreSQL/DuckDB syntax that SQL Server 2022 rejects and sqlfluff accepts:
    (re.compile(r"\|\|"), "|| concatenation (use concat() or +)"),
    (re.compile(r"\bnulls\s+(first|last)\b", re.I), "NULLS FIRST/LAST (order by a case)"),
    (re.compile(r"\bfilter\s*\(\s*where\b", re.I), "an aggregate FILTER (use a case)"),
    (re.compile(r"\bdistinct\s+on\s*\(", re.I), "DISTINCT ON (use row_number())"),
    (re.compile(r"\binterval\s+'", re.I), "an INTERVAL literal (use dateadd())"),
]


def blank_out(sql: str) -> str:
    """Comments and quoted names replaced by spaces, string literals by '  ' of the
    same length (so positions, and where a literal stands, are kept)."""
    def blank(match: re.Match) -> str:
        text = match.group(0)
        if text.endswith("'") and len(text) >= 2:
            return "'" + " " * (len(text) - 2) + "'"
        return " " * len(text)
    return _COMMENT_OR_STRING.sub(blank, sql)


def _line_of(sql: str, pos: int) -> str:
    start = sql.rfind("\n", 0, pos) + 1
    end = sql.find("\n", pos)
    number = sql.count("\n", 0, pos) + 1
    return f"line {number}: {sql[start:end if end >= 0 else None].strip()[:120]}"


def forbidden_constructs(sql: str) -> list[str]:
    """What SQL Server rejects (or the project forbids), with the line it is on."""
    code = blank_out(sql)
    found = []
    for pattern, what in _FORBIDDEN:
        for match in pattern.finditer(code):
            found.append(f"{what}, {_line_of(sql, match.start())}")
    for match in _CTE.finditer(code):
        before = code[:match.start()].rstrip()
        if before and not before.endswith(";"):
            found.append(f"a WITH (CTE) that does not start its statement (T-SQL allows a "
                         f"CTE only there), {_line_of(sql, match.start())}")
    return found


_NON_UNICODE = re.compile(r"\b(var)?char\s*\(|\btext\s*(,|\)|\bnot\b|\bnull\b)", re.I)
_UTF8_COLLATION = re.compile(r"collate\s+\w+_utf8\s+as\s*$", re.I)


def non_unicode_text(sql: str) -> list[str]:
    """Text types that lose what is not in the code page: char/varchar (a column, a
    cast, a convert) or text. SQL Server's strings are Unicode only as nchar /
    nvarchar; varchar under a _UTF8 collation (the hash key's input) is UTF-8."""
    code = blank_out(sql)
    found = []
    for match in _NON_UNICODE.finditer(code):
        if _UTF8_COLLATION.search(code[max(0, match.start() - 80):match.start()]):
            continue
        found.append(f"a non-Unicode text type (use nvarchar / nchar), "
                     f"{_line_of(sql, match.start())}")
    return found


# -- (b) sqlfluff tsql parse -----------------------------------------------------------

_LINTER = None
# The project's lowercase rules (.sqlfluff): sqlfluff's dbt templater skips
# macros/, so their SQL is linted here, as compiled (hooks, dispatch macros in
# the models, tests), with the rules that hold for generated text too. Layout
# rules are not: the whitespace of rendered jinja is not the source's.
STYLE_RULES = {
    "CP01": ("capitalisation.keywords", "capitalisation_policy"),
    "CP03": ("capitalisation.functions", "extended_capitalisation_policy"),
    "CP04": ("capitalisation.literals", "capitalisation_policy"),
    "CP05": ("capitalisation.types", "extended_capitalisation_policy"),
}


def _linter():
    global _LINTER
    if _LINTER is None:
        from sqlfluff.core import FluffConfig, Linter

        _LINTER = Linter(config=FluffConfig(configs={
            "core": {"dialect": "tsql", "templater": "raw", "rules": ",".join(STYLE_RULES)},
            "rules": {name: {key: "lower"} for name, key in STYLE_RULES.values()}}))
    return _LINTER


def parse_problems(sql: str, style: bool = False) -> list[str]:
    """sqlfluff's tsql parser: unparsable sections and parse errors, with positions;
    with style, also the STYLE_RULES' violations (which line, what to write)."""
    from sqlfluff.core.errors import SQLLintError

    linted = _linter().lint_string(sql) if style else _linter().parse_string(sql)
    tree = linted.tree
    problems = [f"sqlfluff: {v.desc()}" for v in linted.violations
                if not isinstance(v, SQLLintError)]
    if tree is None:
        return problems or ["sqlfluff: no parse tree"]
    if not problems:  # an unparsable section always comes with a violation; to be sure
        problems = [f"sqlfluff: unparsable section {segment.raw[:80]!r}"
                    for segment in tree.recursive_crawl("unparsable")]
    lines = sql.splitlines()
    problems += [f"lint {v.rule_code()}: {v.desc()}, line {v.line_no}: "
                 f"{lines[v.line_no - 1].strip()[:100]}"
                 for v in linted.violations if isinstance(v, SQLLintError)]
    return problems


def check_one(item: tuple[str, bool]) -> list[str]:
    text, ours = item
    problems = parse_problems(text, style=ours)
    if ours:
        problems += [f"forbidden: {p}" for p in forbidden_constructs(text)]
        problems += [f"forbidden: {p}" for p in non_unicode_text(text)]
    return problems


def unique(items: list[Sql]) -> list[Sql]:
    """One check per distinct text (a test compiles the same in both runs)."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item.problems or item.text not in seen:
            seen.add(item.text)
            out.append(item)
    return out


def check_all(items: list[Sql], processes: int) -> None:
    """sqlfluff parses are slow (a second for a big model): spread them over processes.
    An item that already carries problems (a dry-run error) has no text to check."""
    todo = [s for s in items if not s.problems]
    work = [(s.text, s.ours) for s in todo]
    if processes > 1 and len(work) > 8:
        with ProcessPoolExecutor(processes) as pool:
            results = list(pool.map(check_one, work, chunksize=4))
    else:
        results = [check_one(w) for w in work]
    for item, problems in zip(todo, results):
        item.problems = problems


# -- dbt, in-process, with pyodbc replaced ---------------------------------------------

@contextmanager
def pyodbc_connect_replaced(replacement):
    try:
        import pyodbc
    except ImportError as exc:
        sys.exit(f"check_tsql: pyodbc cannot be imported ({exc}); install unixODBC "
                 "(apt-get install unixodbc) and the sqlserver extra")
    original = pyodbc.connect
    pyodbc.connect = replacement
    try:
        yield
    finally:
        pyodbc.connect = original


def _refuse_connect(*args, **kwargs):
    raise ConnectAttempt("the offline compile tried to open a SQL Server connection")


def _profiles_dir(project: Path, work: Path) -> Path:
    """profiles.example.yml, as shipped, rendered with OFFLINE_ENV."""
    profiles = work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(project / "profiles.example.yml", profiles / "profiles.yml")
    os.environ.update(OFFLINE_ENV)
    return profiles


def run_dbt(args: list[str], project: Path, work: Path, name: str, callbacks=()):
    from dbt.cli.main import dbtRunner

    result = dbtRunner(callbacks=list(callbacks)).invoke([
        *args, "--target", "sqlserver", "--project-dir", str(project),
        "--profiles-dir", str(_profiles_dir(project, work)), "--target-path", str(work / name),
        "--log-path", str(work / "logs"), "--no-use-colors", "--quiet",
    ])
    return result


def compiled_items(project: Path, work: Path) -> list[Sql]:
    """(a) + the compiled code of every model, test, snapshot and analysis."""
    with pyodbc_connect_replaced(_refuse_connect):
        result = run_dbt(["compile", "--vars", "{offline_compile: true}", "--no-populate-cache"],
                         project, work, "target_compile")
    errors = _node_errors(work / "target_compile" / "run_results.json", "compile")
    if not result.success and not errors:
        sys.exit(f"check_tsql: dbt compile --target sqlserver failed: {result.exception}")
    return _manifest_items(work / "target_compile" / "manifest.json",
                           "compiled, incremental") + errors


def _manifest_items(manifest_path: Path, label: str) -> list[Sql]:
    manifest = json.loads(manifest_path.read_text())
    items = []
    for _, node in sorted(manifest["nodes"].items()):
        if node.get("package_name") != "canvas_pipeline":
            continue
        code = node.get("compiled_code")
        if node["resource_type"] in ("model", "test", "snapshot", "analysis") and code:
            items.append(Sql(f"{_node_origin(node)} [{label}]", code))
    return items


def _node_origin(node: dict) -> str:
    if node["resource_type"] == "test":
        return f"test {node['name']} ({node['original_file_path']})"
    return node["original_file_path"]


# -- the dry run's answers ---------------------------------------------------------------

_COLUMNS_ROWS = [  # lower(TABLE_NAME), COLUMN_NAME, ORDINAL, DATA_TYPE, IS_NULLABLE, ...
    ("canvas_users", "id", 1, "nvarchar", "NO", 450, None, None, None),
    ("canvas_users", "payload", 2, "nvarchar", "YES", -1, None, None, None),
    ("canvas_users", "ingested_at", 3, "datetime2", "NO", None, None, None, 6),
    ("canvas_users", "extra_column", 4, "int", "YES", None, 10, 0, None),
]
_PREVIOUS_SNAPSHOT = json.dumps({"table_schema": "raw", "table_name": "canvas_users", "columns": [
    {"name": "id", "type": "nvarchar(450)", "nullable": False, "ordinal": 1},
    {"name": "payload", "type": "varchar(max)", "nullable": True, "ordinal": 2},
    {"name": "dropped_column", "type": "int", "nullable": True, "ordinal": 3},
]})


def dry_run_responder(sql: str, params: tuple):
    """Canned answers: just enough for dbt and the hooks to render every path."""
    low = _strip_query_comment(sql).lower()
    if "should_warn" in low:  # dbt's test wrapper: every test warns once
        return ["failures", "should_warn", "should_error"], [(1, True, False)]
    if "information_schema.columns" in low and "lower(table_name)" in low:  # the snapshot hook
        return [f"c{i}" for i in range(9)], _COLUMNS_ROWS
    if "table_type = 'base table'" in low:  # create_meta_tables: a raw table of an old shape
        return ["s", "t", "c"], [("raw", "canvas_users", "id"), ("raw", "canvas_users", "payload")]
    if "lower(table_schema), lower(table_name) from information_schema.tables" in low:
        return ["s", "t"], [("raw", "canvas_users")]
    if "schema_json" in low and low.lstrip().startswith("select"):
        return ["table_name", "schema_json"], [("canvas_users", _PREVIOUS_SNAPSHOT),
                                               ("canvas_gone", _PREVIOUS_SNAPSHOT)]
    if low.lstrip().startswith(("select", "with", "exec", "execute")):
        return ["value"], []
    return None


def dry_run_items(project: Path, work: Path) -> list[Sql]:
    """(b) every statement dbt would send on a first `dbt build`, tagged by node/hook."""
    from tsql_recording import RecordingConnection

    events: list[tuple[str, str]] = []

    def on_event(event):
        if event.info.name == "SQLQuery":
            node = event.data.node_info.unique_id if event.data.HasField("node_info") else ""
            events.append((node or event.data.conn_name, event.data.sql))

    with pyodbc_connect_replaced(lambda *a, **k: RecordingConnection(dry_run_responder)):
        result = run_dbt(["build", "--threads", "1"], project, work, "target_dry_run",
                         [on_event])
    if result.exception is not None:
        sys.exit(f"check_tsql: the recorded dbt build failed: {result.exception}")
    manifest = json.loads((work / "target_dry_run" / "manifest.json").read_text())
    _write_sent(work / "dry_run_sent.sql", events)
    items = _manifest_items(work / "target_dry_run" / "manifest.json", "compiled, first run")
    items += _node_errors(work / "target_dry_run" / "run_results.json", "recorded dbt build")
    for index, (where, sql) in enumerate(events):
        origin, ours = _event_origin(where, sql, manifest)
        items.append(Sql(f"{origin} [sent #{index}]", _strip_query_comment(sql), ours))
    return items


def _node_errors(run_results: Path, run: str) -> list[Sql]:
    """A node or hook that errors offline (in the dry run every answer is benign) is
    most likely a sqlserver__ macro that does not render: a failure, reported as such."""
    if not run_results.is_file():
        return []
    errors = []
    for result in json.loads(run_results.read_text())["results"]:
        if result["status"] in ("error", "runtime error"):
            message = " ".join((result.get("message") or "").split())[:400]
            errors.append(Sql(f"{result['unique_id']} [{run}]", "",
                              problems=[f"errored in the {run}: {message}"]))
    return errors


def _write_sent(path: Path, events: list[tuple[str, str]]) -> None:
    """Everything the dry run would have sent, for reading (kept with --work-dir)."""
    with path.open("w") as out:
        for index, (where, sql) in enumerate(events):
            out.write(f"-- #{index} {where}\n{sql.strip()}\n\n")


# What dbt-sqlserver's connection manager sends around a hook's statements.
ADAPTER_TRANSACTIONS = {"BEGIN TRANSACTION", "IF @@TRANCOUNT > 0 COMMIT TRANSACTION",
                        "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"}


def _event_origin(where: str, sql: str, manifest: dict) -> tuple[str, bool]:
    """Hooks are ours; so is a model's own SQL; the rest is dbt-sqlserver's wrapping."""
    node = manifest["nodes"].get(where)
    if where.startswith("operation.") or "on-run" in where:
        return f"hook {where}", sql.strip() not in ADAPTER_TRANSACTIONS
    if node is not None:
        compiled = (node.get("compiled_code") or "").strip()
        ours = bool(compiled) and sql.strip() == compiled
        return f"{_node_origin(node)} via dbt-sqlserver", ours
    return f"dbt-sqlserver ({where})", False


def _strip_query_comment(sql: str) -> str:
    return re.sub(r"^/\*.*?\*/\s*", "", sql, flags=re.S)


# -- (d) the loader ---------------------------------------------------------------------

def loader_items() -> list[Sql]:
    from tsql_recording import record_loader_statements, record_strategy_statements

    items = [Sql(f"loader statement #{i}: {s.sql.split(chr(10))[0][:60]}", s.inlined())
             for i, s in enumerate(record_loader_statements())]
    for strategy in ("append", "snapshot"):
        items += [Sql(f"loader --strategy {strategy} statement #{i}: "
                      f"{s.sql.split(chr(10))[0][:60]}", s.inlined())
                  for i, s in enumerate(record_strategy_statements(strategy))]
    return items


# -- report -----------------------------------------------------------------------------

def report(items: list[Sql], verbose: bool) -> int:
    failed = [s for s in items if s.problems and s.ours]
    adapter = [s for s in items if s.problems and not s.ours]
    for item in failed:
        print(f"FAIL {item.origin}")
        for problem in item.problems:
            print(f"    {problem}")
    if adapter and verbose:
        for item in adapter:
            print(f"note (dbt-sqlserver's statement, not failed) {item.origin}")
            for problem in item.problems:
                print(f"    {problem}")
    ours = sum(1 for s in items if s.ours)
    summary = f"check_tsql: {ours} project statements checked, {len(failed)} failed"
    if verbose:
        summary += (f"; {len(items) - ours} dbt-sqlserver statements parsed, "
                    f"{len(adapter)} with notes")
    print(summary)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, help="Keep dbt's output here (default: temp).")
    parser.add_argument("--skip-dry-run", action="store_true", help="Only compile + loader.")
    parser.add_argument("--project-dir", type=Path, default=REPO_DIR,
                        help="dbt project to check (default: this repository).")
    parser.add_argument("--processes", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Also parse dbt-sqlserver's own statements; report them as notes.")
    args = parser.parse_args(argv)
    project = args.project_dir.resolve()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="check_tsql-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        items = compiled_items(project, work)
        if not args.skip_dry_run:
            items += dry_run_items(project, work)
        items += loader_items()
        # dbt-sqlserver's own statements are parsed only on request: slow, and not ours.
        items = unique([s for s in items if s.ours or args.verbose])
        check_all(items, args.processes)
        return report(items, args.verbose)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
