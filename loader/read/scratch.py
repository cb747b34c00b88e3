"""Scratch directories named after the process that made them, so the next load
sweeps those of a killed one (a killed process cannot clean up after itself):
DuckDB's first-load spill files (backends/duckdb/file_payloads.py) and a DAP job
directory's joined parts (inputs.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

SPILL_PREFIX = "canvas-load-"


def spill_dir() -> tempfile.TemporaryDirectory:
    """A scratch directory named after this process (see sweep_stale_spills)."""
    sweep_stale_spills()
    return tempfile.TemporaryDirectory(prefix=f"{SPILL_PREFIX}{os.getpid()}-")


def sweep_stale_spills() -> None:
    """Remove the scratch directories of loads that were killed (a killed process
    cannot clean up after itself); a live process's are left alone."""
    for path in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        try:
            pid = int(path.name[len(SPILL_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive (another user's process)
