"""PostgreSQL: the backend (backend.py), its stager (stager.py: binary COPY,
straight into raw on a first load) and the binary COPY encoding (copy.py)."""

from .backend import PostgresBackend

__all__ = ["PostgresBackend"]
