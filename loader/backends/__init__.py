"""Database backends: one module per target type, chosen by the profile's `type`."""

from __future__ import annotations

from ..errors import ConfigError
from ..profiles import Target
from .base import Backend


def backend_for(target: Target, secrets: list[str] | None = None) -> Backend:
    if target.type == "duckdb":
        from .duckdb import DuckDBBackend

        return DuckDBBackend(target)
    if target.type == "postgres":
        from .postgres import PostgresBackend

        return PostgresBackend(target)
    if target.type == "sqlserver":
        from .sqlserver import SqlServerBackend

        return SqlServerBackend(target)
    raise ConfigError(
        f"target {target.name!r} has type {target.type!r}, which the loader does not support",
        "Use a duckdb, postgres or sqlserver target",
    )
