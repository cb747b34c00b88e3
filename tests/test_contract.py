"""The raw and meta tables' contract (dbt_project.yml's `canvas_contract` var,
read by loader/contract.py and by the audit macros): what each side makes of it.

- the module reads the declaration as written, and refuses a broken one;
- the macros render, per engine, the same column definitions the module gives
  (dbt compile --inline, no database needed, so SQL Server is covered too);
- on a real database, the tables the loader creates and the tables dbt's
  on-run-start hook creates have the same columns, types, nullability and order.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from loader import contract
from loader.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
RAW_TABLES = ("canvas_users", "canvas_courses", "canvas_enrollments", "canvas_assignments",
              "canvas_submissions")


def _declared() -> dict:
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["canvas_contract"]


def _base_type(type_name: str) -> str:
    """'nvarchar(450) not null' -> 'nvarchar'; 'timestamp without time zone' -> 'timestamp'."""
    return re.split(r"[ (]", type_name.strip().lower())[0]


# -- the module ------------------------------------------------------------------

def test_contract_module_reads_the_dbt_project_var():
    declared = _declared()
    assert contract.PROJECT_FILE == PROJECT_DIR / "dbt_project.yml"
    assert contract.RAW_COLUMNS == tuple(c[0] for c in declared["raw_columns"])
    assert list(contract.meta_tables("duckdb")) == list(declared["meta_tables"])
    for table, columns in declared["meta_tables"].items():
        assert contract.meta_columns(table) == [c for c, _ in columns]
    for engine in contract.ENGINES:
        types = declared["types"][engine]
        assert contract.raw_table_columns(engine) == [
            (name, types[logical] + (" not null" if not_null else ""))
            for name, logical, not_null, _ in declared["raw_columns"]]
        assert contract.meta_tables(engine) == {
            table: [(c, types[logical]) for c, logical in columns]
            for table, columns in declared["meta_tables"].items()}
    # A few of today's physical types, spelled out.
    assert contract.raw_table_columns("sqlserver")[0] == ("id", "nvarchar(450) not null")
    assert dict(contract.raw_table_columns("duckdb"))["payload"] == "json"
    assert dict(contract.raw_table_columns("postgres"))["payload"] == "jsonb"
    assert dict(contract.meta_tables("sqlserver")["job_run"])["started_at"] == "datetime2(6)"


def test_contract_raw_types_pass_the_loaders_own_family_check():
    """A raw table made from the contract is one the loader accepts as existing."""
    families = contract.raw_type_families()
    assert list(families) == list(contract.RAW_COLUMNS)
    assert families["payload"] == ("char", "text", "json", "string")
    assert families["ingested_at"] == ("timestamp", "datetime")
    for engine in contract.ENGINES:
        for name, ddl in contract.raw_table_columns(engine):
            assert any(k in _base_type(ddl) for k in families[name]), (engine, name, ddl)


def test_contract_unknown_engine_or_table_is_refused():
    with pytest.raises(ConfigError, match="no types for engine 'oracle'"):
        contract.raw_table_columns("oracle")
    with pytest.raises(KeyError, match="no meta table 'nope'"):
        contract.meta_columns("nope")


def _broken(tmp_path: Path, edit) -> Path:
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    edit(project["vars"])
    path = tmp_path / "dbt_project.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda v: v.pop("canvas_contract"), "has no vars.canvas_contract"),
    (lambda v: v["canvas_contract"]["types"].pop("postgres"), "types needs a mapping"),
    (lambda v: v["canvas_contract"]["types"]["sqlserver"].pop("raw_hash"),
     "types.sqlserver lacks the logical types raw_hash"),
    (lambda v: v["canvas_contract"]["raw_columns"][0].__setitem__(3, "blob"),
     "raw column id: no type family 'blob'"),
    (lambda v: v["canvas_contract"]["raw_columns"][0].__setitem__(2, "yes"),
     "raw_columns needs"),
    (lambda v: v["canvas_contract"]["meta_tables"]["watermark"].append(["x"]),
     "meta_tables needs"),
    (lambda v: v["canvas_contract"]["history_columns"].append(["x"]),
     "history_columns needs"),
], ids=["no-var", "no-engine", "no-type", "no-family", "not-null-not-bool", "bad-meta",
        "bad-history"])
def test_contract_broken_declaration_is_a_config_error(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        contract.load_contract(_broken(tmp_path, edit))


def test_contract_missing_project_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no dbt_project.yml at"):
        contract.load_contract(tmp_path / "dbt_project.yml")


# -- the macros -------------------------------------------------------------------

_RENDER = ("{{ tojson({'schema': _audit_meta_schema(), 'meta': _audit_meta_table_specs(), "
           "'raw': _audit_raw_table_spec(), 'types': audit_column_types(), "
           "'wanted': _audit_wanted_tables()}) }}")
_OFFLINE_PROFILE_ENV = {
    "PGHOST": "contract.offline.invalid",
    "SQLSERVER_HOST": "contract.offline.invalid",
    "SQLSERVER_PASSWORD": "offline-Contract-Pw1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def compile_inline(code: str, target: str, tmp_path: Path, monkeypatch) -> str:
    """`dbt compile --inline code` for target, without a database: the compiled SQL."""
    pytest.importorskip(f"dbt.adapters.{target}")
    from dbt.cli.main import dbtRunner

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(PROJECT_DIR / "profiles.example.yml", profiles / "profiles.yml")
    for name, value in _OFFLINE_PROFILE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CANVAS_DUCKDB_PATH", str(tmp_path / "unused.duckdb"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt_logs"))
    monkeypatch.chdir(tmp_path)
    res = dbtRunner().invoke([
        "compile", "--inline", code, "--target", target, "--no-populate-cache", "--quiet",
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(profiles),
        "--target-path", str(tmp_path / "target"),
    ])
    assert res.success, f"dbt compile --inline failed: {res.exception}"
    return res.result.results[0].node.compiled_code


@pytest.mark.parametrize("target", contract.ENGINES)
def test_contract_dbt_macros_render_what_the_module_gives(target, tmp_path, monkeypatch):
    """What the on-run-start hook would create, rendered without a database."""
    rendered = json.loads(compile_inline(_RENDER, target, tmp_path, monkeypatch))

    declared = _declared()
    assert rendered["schema"] == contract.META_SCHEMA
    assert rendered["types"] == declared["types"][target]
    assert rendered["meta"] == {t: [list(c) for c in cols]
                                for t, cols in declared["meta_tables"].items()}
    assert rendered["raw"] == [c[:3] for c in declared["raw_columns"]]
    # The column definitions create_meta_tables runs, against the module's.
    wanted = {(schema, table): definitions for schema, table, definitions in rendered["wanted"]}
    expected = {(contract.META_SCHEMA, t): [f"{c} {ty}" for c, ty in cols]
                for t, cols in contract.meta_tables(target).items()}
    raw = [f"{c} {ty}" for c, ty in contract.raw_table_columns(target)]
    expected.update({("raw", t): raw for t in RAW_TABLES})
    history = [f"{c} {ty}" for c, ty in contract.history_table_columns(target)]
    expected.update({("raw", contract.history_name(t)): history for t in RAW_TABLES})
    assert wanted == expected


# -- both sides on a database ----------------------------------------------------

def _created_tables(env) -> dict[tuple[str, str], list[tuple]]:
    """(schema, table) -> its columns as information_schema describes them, in order."""
    rows = env.query(
        "select c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable, "
        "c.character_maximum_length, c.datetime_precision, c.ordinal_position "
        "from information_schema.columns as c "
        "join information_schema.tables as t "
        "on t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where t.table_type = 'BASE TABLE' and c.table_schema in ('raw', ?)",
        (contract.META_SCHEMA,),
    )
    tables: dict[tuple[str, str], list[tuple]] = {}
    for schema, table, column, data_type, nullable, length, precision, position in sorted(
            rows, key=lambda r: (r[0].lower(), r[1].lower(), r[7])):
        tables.setdefault((schema.lower(), table.lower()), []).append(
            (column.lower(), data_type.lower(), nullable, length, precision, position))
    return tables


def _assert_follows_the_contract(tables: dict, engine: str, side: str) -> None:
    """Names, order, nullability and base type of every table as the contract says."""
    declared = {(contract.META_SCHEMA, t): [(c, ty, "YES") for c, ty in cols]
                for t, cols in contract.meta_tables(engine).items()}
    raw = [(c, ty, "NO" if ty.endswith(" not null") else "YES")
           for c, ty in contract.raw_table_columns(engine)]
    declared.update({("raw", t): raw for t in RAW_TABLES})
    history = [(c, ty, "NO" if ty.endswith(" not null") else "YES")
               for c, ty in contract.history_table_columns(engine)]
    declared.update({("raw", contract.history_name(t)): history for t in RAW_TABLES})
    families = contract.raw_type_families()
    for key, columns in tables.items():
        assert key in declared, f"{side} created {key}, which the contract does not declare"
        got = [(c, _base_type(dt), nullable) for c, dt, nullable, *_ in columns]
        assert got == [(c, _base_type(ty), n) for c, ty, n in declared[key]], (side, key)
        if key[0] == "raw" and not key[1].endswith(contract.HISTORY_SUFFIX):
            for column, data_type, *_ in columns:
                assert any(k in data_type for k in families[column]), (side, key, column)


def test_contract_loader_and_dbt_create_the_same_tables(env):
    """The loader first (five tiny loads create raw and meta), then, with its tables
    dropped, dbt's on-run-start hook in the same database; information_schema
    must describe the tables both created identically."""
    data = env.write_jsonl("data/one.jsonl", [{"id": 1, "updated_at": "2024-01-02T03:04:05Z"}])
    for table in RAW_TABLES:
        env.load(data, table)
    by_loader = _created_tables(env)
    for schema, table in by_loader:
        env.execute(f"drop table {schema}.{table}")
    assert not _created_tables(env)

    env.dbt("run", "--select", "stg_canvas__users")  # on-run-start: create_meta_tables
    by_dbt = _created_tables(env)

    _assert_follows_the_contract(by_loader, env.engine, "the loader")
    _assert_follows_the_contract(by_dbt, env.engine, "dbt")
    declared_meta = {(contract.META_SCHEMA, t) for t in contract.meta_tables(env.engine)}
    raw_tables = {("raw", t) for t in RAW_TABLES}
    raw_tables |= {("raw", contract.history_name(t)) for t in RAW_TABLES}
    assert set(by_dbt) == declared_meta | raw_tables
    # Today the loader creates four of the seven meta tables (its own
    # META_TABLES), dbt all seven: every table the loader creates must be one
    # dbt creates, and identical. Once the loader builds its tables from
    # loader/contract.py it creates all seven and this compares all of them.
    assert raw_tables <= set(by_loader)
    assert set(by_loader) <= set(by_dbt), sorted(set(by_loader) - set(by_dbt))
    for key in sorted(by_loader):
        assert by_loader[key] == by_dbt[key], f"{key}: loader and dbt differ"


def test_contract_history_names_fit_postgres_identifiers():
    """raw.<t>__history, or past 63 characters a shortened name with a hash of the
    full one: distinct for two long names that share their first 63 characters."""
    assert contract.history_name("canvas_users") == "canvas_users__history"
    assert contract.history_name("t" * 54) == "t" * 54 + "__history"  # 63 exactly
    long_a, long_b = "t" * 63, "t" * 62 + "u"
    assert len(contract.history_name(long_a)) == 63
    assert contract.history_name(long_a) != contract.history_name(long_b)
    assert contract.history_name(long_a).endswith("__history")
