"""Validation of names that end up in SQL: they are identifiers, never SQL text.

Only plain ASCII identifiers are accepted (letters, digits, underscore, not
starting with a digit, at most 63 characters: PostgreSQL would silently cut a
longer name, so two names could land in one table), which every target
accepts unquoted; anything else is rejected before a connection is opened.
Unicode look-alikes, quotes, brackets, semicolons and comments therefore never
reach a statement. Source names (parameters, never SQL text) may also hold
'.' and '-', but not '--'. JSON field names (--id-field, --updated-field) are
dotted paths of the same plain identifiers: they never reach SQL either, but
a field name that looks like SQL is a mistake worth stopping early.
"""

import re

from .errors import IdentifierError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SOURCE = re.compile(r"(?!.*--)[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,7}")
_MAX_FIELD = 256


def _check_ident(part: str, what: str, full: str) -> str:
    if not _IDENT.fullmatch(part):
        raise IdentifierError(
            f"{what} {full!r} is not a plain identifier",
            "Use ASCII letters, digits and underscores only, at most 63 per name "
            "(e.g. raw.canvas_users)",
        )
    return part


def parse_table_name(name: str, default_schema: str = "raw") -> tuple[str, str]:
    """'raw.canvas_users' -> ('raw', 'canvas_users'); 'canvas_users' -> (default, name)."""
    parts = name.split(".") if isinstance(name, str) else [""]
    if len(parts) == 1:
        parts = [default_schema, parts[0]]
    if len(parts) != 2:
        raise IdentifierError(
            f"table {name!r} must be 'table' or 'schema.table'",
            "Example: --table raw.canvas_users",
        )
    return tuple(_check_ident(p, "table", name) for p in parts)  # type: ignore[return-value]


def check_source_name(name: str) -> str:
    if not isinstance(name, str) or not _SOURCE.fullmatch(name):
        raise IdentifierError(
            f"source name {name!r} is not allowed",
            "Use ASCII letters, digits, '_', '.', '-' (not '--'), e.g. canvas_users",
        )
    return name


def check_field_name(name: str, option: str) -> str:
    """A JSON key path: plain identifiers joined by '.', e.g. id or value.updated_at."""
    if not isinstance(name, str) or len(name) > _MAX_FIELD or not _FIELD.fullmatch(name):
        raise IdentifierError(
            f"{option} {name!r} is not a usable JSON field name",
            "Use ASCII letters, digits and underscores, '.' for a nested field "
            "(e.g. id, value.updated_at)",
        )
    return name
