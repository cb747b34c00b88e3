"""DuckDB: the embedded default (backend.py), its stager (stager.py: straight
into raw on a first load, else only the small columns), the first load's
fix-ups (first_load.py) and the payloads cut out of the file again
(file_payloads.py)."""

from .backend import DEFAULT_MEMORY_LIMIT, DuckDBBackend

__all__ = ["DEFAULT_MEMORY_LIMIT", "DuckDBBackend"]
