"""Opening an input file: errors a user can act on, gzip by its magic bytes, and
the file's identity (SHA-256 of its bytes, stat fingerprint)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import InputFileError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"  # the file argument that means standard input
STDIN_NAME = "<stdin>"  # how a load from standard input names its file (source_file)


def open_file(path: Path) -> io.BufferedReader:
    """open(path, 'rb') with the errors a user can act on."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file", "Check the path") from None
    except IsADirectoryError:
        raise InputFileError(
            f"{path}: is a directory, not a file",
            "Name one file, e.g. .jsonl, .csv, .json or .xlsx, plain or gzipped "
            "(`loader run --data-dir` loads a directory)",
        ) from None
    except PermissionError:
        raise InputFileError(f"{path}: permission denied", "Check the file's permissions") from None


def open_input(path: Path) -> io.BufferedIOBase:
    """Open a file for binary streaming; gzip is detected by its magic bytes."""
    fh = open_file(path)
    if fh.peek(2)[:2] == GZIP_MAGIC:
        return gzip.open(fh, "rb")  # type: ignore[return-value]
    return fh


def is_gzip(path: Path) -> bool:
    with open_file(path) as fh:
        return fh.read(2) == GZIP_MAGIC


def file_sha256(path: Path) -> str:
    """SHA-256 of the file as stored (compressed bytes for .gz), streamed."""
    h = hashlib.sha256()
    with open_file(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_fingerprint(path: Path) -> str:
    """Device, inode, size, mtime and ctime (ns) of the file, as one string.

    Equal fingerprints mean the file was not written since (any write, rename
    into place or copy changes the ctime or the inode, and nothing lets a user
    set ctime), so a file whose fingerprint was recorded by a successful load can
    be skipped without reading it. Opening it also checks it can be read.
    """
    with open_file(path) as fh:
        st = os.fstat(fh.fileno())
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def file_state(path: Path) -> tuple[int, int, int]:
    """(size, mtime, inode): whether a file changed between two reads of it."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


@contextmanager
def spooled_stdin() -> Iterator[Path]:
    """Standard input copied to a scratch file, removed afterwards.

    A load reads its file more than once (hashed for the already-loaded check,
    read, and on DuckDB cut again by line offsets), which a pipe cannot be:
    the spool costs one write of the data to disk, and memory stays flat."""
    with tempfile.TemporaryDirectory(prefix="canvas-stdin-") as scratch:
        path = Path(scratch) / "stdin"
        with open(path, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield path
