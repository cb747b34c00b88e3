"""The raw and meta tables' contract: one declaration, read by the loader and by dbt.

`vars: canvas_contract:` in dbt_project.yml (the dbt project this package sits
in) declares the columns every raw table has (name, logical type, not null,
and the type family an existing table's column must match), each meta table's
columns and logical types, and the physical type of each logical type on each
engine. dbt's on-run-start hook (macros/audit/create_meta_tables.sql) reads
the same var with var('canvas_contract'), so the loader and dbt create the
same tables with the same types, whichever runs first.

The file is read once per process, on first use; a missing or malformed
declaration is a ConfigError. engine is a dbt adapter type: 'duckdb',
'postgres' or 'sqlserver'.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import yaml

from .errors import ConfigError

PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project.yml"
ENGINES = ("duckdb", "postgres", "sqlserver")
# The meta tables' schema: fixed, as in dbt (_audit_meta_schema(), the `meta` source).
META_SCHEMA = "meta"

# The raw columns' names, in order (read on first access, see __getattr__).
RAW_COLUMNS: tuple[str, ...]
# The raw columns added later (vars.canvas_contract.raw_columns_added_later): a
# load does not write them when it inserts a record (the delete step sets
# deleted_at; NULL on every insert), and an existing raw table that lacks them
# gets them (alter table add).
SET_LATER: tuple[str, ...]
WRITTEN_COLUMNS: tuple[str, ...]

# libyaml when PyYAML has it: the pure-Python parser takes ~15 ms per load here.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HINT = "Run the loader from the dbt project's checkout (pip install -e .)"


def load_contract(path: Path = PROJECT_FILE) -> dict:
    """vars.canvas_contract of the dbt_project.yml at path, checked (not cached)."""
    if not path.is_file():
        raise ConfigError(f"no dbt_project.yml at {path}: the loader reads the raw and meta "
                          "tables' contract from it", _HINT)
    try:
        project = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", _HINT) from None
    contract = ((project or {}).get("vars") or {}).get("canvas_contract")
    if not isinstance(contract, dict):
        raise ConfigError(f"{path} has no vars.canvas_contract mapping",
                          "Restore the canvas_contract var (the raw and meta tables)")
    _check(contract, path)
    return contract


def _check(contract: dict, path: Path) -> None:
    """Every piece present and of its shape, every logical type typed on every engine."""
    def fail(problem: str):
        raise ConfigError(f"{path}: vars.canvas_contract: {problem}",
                          "Fix the declaration in dbt_project.yml")

    types, families = contract.get("types"), contract.get("type_families")
    raw, meta = contract.get("raw_columns"), contract.get("meta_tables")
    if not isinstance(types, dict) or not all(isinstance(types.get(e), dict) for e in ENGINES):
        fail(f"types needs a mapping for each of {', '.join(ENGINES)}")
    if not isinstance(families, dict) or not all(
            isinstance(v, list) and v and all(isinstance(k, str) for k in v)
            for v in families.values()):
        fail("type_families needs a list of type name fragments per family")
    if not isinstance(raw, list) or not raw or not all(
            isinstance(c, list) and len(c) == 4 and isinstance(c[2], bool) for c in raw):
        fail("raw_columns needs [name, logical type, not null (true/false), type family] items")
    if not isinstance(meta, dict) or not meta or not all(
            isinstance(cols, list) and cols
            and all(isinstance(c, list) and len(c) == 2 for c in cols)
            for cols in meta.values()):
        fail("meta_tables needs a list of [column, logical type] items per table")
    for name, _, _, family in raw:
        if family not in families:
            fail(f"raw column {name}: no type family {family!r} in type_families")
    later = contract.get("raw_columns_added_later") or []
    nullable = {c[0] for c in raw if not c[2]}
    if not isinstance(later, list) or not set(later) <= nullable:
        fail("raw_columns_added_later must list nullable raw columns")
    history = contract.get("history_columns")
    if not isinstance(history, list) or not all(
            isinstance(c, list) and len(c) == 4 and isinstance(c[2], bool) for c in history):
        fail("history_columns needs [name, logical type, not null, type family] items")
    used = ({c[1] for c in raw} | {c[1] for c in history}
            | {c[1] for cols in meta.values() for c in cols})
    for engine in ENGINES:
        missing = sorted(used - set(types[engine]))
        if missing:
            fail(f"types.{engine} lacks the logical types {', '.join(missing)}")


@functools.cache
def _contract() -> dict:
    return load_contract()


def _types(engine: str) -> dict[str, str]:
    if engine not in ENGINES:
        raise ConfigError(f"the table contract has no types for engine {engine!r}",
                          f"Use one of {', '.join(ENGINES)}")
    return _contract()["types"][engine]


def __getattr__(name: str):
    if name == "RAW_COLUMNS":
        return tuple(c[0] for c in _contract()["raw_columns"])
    if name == "SET_LATER":
        return tuple(_contract().get("raw_columns_added_later") or ())
    if name == "WRITTEN_COLUMNS":
        later = _contract().get("raw_columns_added_later") or ()
        return tuple(c[0] for c in _contract()["raw_columns"] if c[0] not in later)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def raw_table_columns(engine: str) -> list[tuple[str, str]]:
    """A raw table's columns in order: (name, DDL type with ' not null' where declared)."""
    types = _types(engine)
    return [(name, types[logical] + (" not null" if not_null else ""))
            for name, logical, not_null, _ in _contract()["raw_columns"]]


HISTORY_SUFFIX = "__history"


# PostgreSQL cuts identifiers at 63 bytes: a longer history name would be cut to
# one another long table's history could share. Past the limit the name keeps its
# first 46 characters and adds 7 hex digits of its MD5 (the dbt macro
# history_identifier in macros/cross_db/rollback.sql does the same).
MAX_IDENTIFIER = 63


def history_name(name: str) -> str:
    """raw.<name>'s history table (same schema): raw.<name>__history, shortened with
    a hash of the name when that would pass 63 characters."""
    if len(name) + len(HISTORY_SUFFIX) <= MAX_IDENTIFIER:
        return name + HISTORY_SUFFIX
    digest = hashlib.md5(name.encode()).hexdigest()[:7]
    return f"{name[:MAX_IDENTIFIER - len(HISTORY_SUFFIX) - 8]}_{digest}{HISTORY_SUFFIX}"


def history_table_columns(engine: str) -> list[tuple[str, str]]:
    """A history table's columns: the raw columns as the version had them, then
    when it stopped being current, the load (or rollback) that ended it, and why."""
    types = _types(engine)
    extra = [(name, types[logical] + (" not null" if not_null else ""))
             for name, logical, not_null, _ in _contract()["history_columns"]]
    return raw_table_columns(engine) + extra


def raw_type_families() -> dict[str, tuple[str, ...]]:
    """Per raw column, the fragments one of which an existing table's column type
    (information_schema's data_type, lowercased, any engine) must contain."""
    families = _contract()["type_families"]
    return {name: tuple(families[family]) for name, _, _, family in _contract()["raw_columns"]}


def meta_tables(engine: str) -> dict[str, list[tuple[str, str]]]:
    """Every meta table (schema meta), in order: table -> [(column, physical type)]."""
    types = _types(engine)
    return {table: [(column, types[logical]) for column, logical in columns]
            for table, columns in _contract()["meta_tables"].items()}


def meta_columns(table: str) -> list[str]:
    """The meta table's column names, in order."""
    columns = _contract()["meta_tables"].get(table)
    if columns is None:
        raise KeyError(f"no meta table {table!r} in the table contract")
    return [column for column, _ in columns]
