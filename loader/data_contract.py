"""A source's data contract: a JSON Schema its records must meet, read and compiled once.

Given inline in pipeline.yml (`contract:` holding the schema as YAML) or as the
path of a .json, .yml or .yaml file (pipeline.yml: relative to the file's own
directory; `loader load --contract FILE`: to the current one). It is compiled
with fastjsonschema (Python code generated once per schema), so checking a
record costs one function call; a source without a contract imports nothing.
The per-record check, and the reject reasons, are read/contract_check.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .errors import LoaderError

SUFFIXES = (".json", ".yml", ".yaml")


def load_contract(value, setting: str) -> dict | None:
    """The schema a contract setting names: a mapping as is, a path read; None for none."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise LoaderError(f"{setting} must be a JSON Schema (a mapping) or the path of a "
                          f".json/.yml file, not {value!r}")
    path = Path(value)
    if path.suffix.lower() not in SUFFIXES:
        raise LoaderError(f"{setting} {path}: a contract file ends in .json, .yml or .yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoaderError(f"{setting} {path}: cannot read it ({exc.strerror or exc})",
                          "Give the path of the JSON Schema file") from None
    try:
        schema = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise LoaderError(f"{setting} {path}: not valid "
                          f"{'JSON' if path.suffix.lower() == '.json' else 'YAML'} "
                          f"({str(exc).splitlines()[0]})", "Fix the file") from None
    if not isinstance(schema, dict):
        raise LoaderError(f"{setting} {path}: the file must hold one JSON Schema object")
    return schema


def _no_remote(uri: str):
    raise LoaderError(f"contract refers to {uri}: remote $ref is not fetched",
                      "Put the definitions into the schema itself ($defs)")


def compile_contract(schema: dict | None, setting: str):
    """fastjsonschema's validator for schema (None for none); a schema that is not
    valid JSON Schema is an error naming the setting."""
    if schema is None:
        return None
    import fastjsonschema

    try:
        return fastjsonschema.compile(schema, handlers={"http": _no_remote, "https": _no_remote},
                                      use_default=False)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise LoaderError(f"{setting}: not a valid JSON Schema ({exc})",
                          "See https://json-schema.org/understanding-json-schema/") from None
    except LoaderError as exc:  # a remote $ref (_no_remote)
        raise LoaderError(f"{setting}: {exc.message}", exc.hint) from None
