"""SQL Server: the backend on pyodbc (backend.py) and its T-SQL statement text (tsql.py)."""

from .backend import SqlServerBackend

__all__ = ["SqlServerBackend"]
