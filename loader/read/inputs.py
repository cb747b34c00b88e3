"""What one load reads: a file, or a DAP job directory read as one file.

Instructure's DAP client (`dap snapshot` / `dap incremental --format jsonl`) saves
one table's data as gzip JSONL parts, named by the server, under
``<output dir>/job_<job id>/``. A load of such a directory reads its parts in name
order as one stream: one load, one transaction, one watermark move, one
``meta.load_file`` row. Its identity is that of all its parts: the fingerprint
covers each part's name and stat, the SHA-256 is taken over the parts' own
SHA-256s in order (so a copied job directory is known by its content). Rejects
name the part and its line.

The parts are joined, unzipped, into one scratch file for the load (every stager
reads a file, and DuckDB's reads its lines twice), in a directory named after the
process so a killed load's is swept by the next (scratch.py).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputFileError
from .files import STDIN_NAME, file_fingerprint, file_sha256, open_input
from .scratch import spill_dir


class FileInput:
    """One file (plain or gzip): read where it is."""

    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)  # as meta.load_file and the rejects name it

    def fingerprint(self) -> str | None:
        return file_fingerprint(self.path)

    def sha256(self) -> str:
        return file_sha256(self.path)

    @contextmanager
    def readable(self) -> Iterator[Path]:
        yield self.path

    def locate(self, line: int) -> tuple[str, int]:
        """(file, line number in it) of the input's line ``line``."""
        return self.name, line


class StdinInput(FileInput):
    """Standard input, spooled to a scratch file (files.spooled_stdin): named
    <stdin>; a pipe has no stat, so no fingerprint (its SHA-256 identifies it)."""

    def __init__(self, spool: Path):
        super().__init__(spool)
        self.name = STDIN_NAME

    def fingerprint(self) -> None:
        return None


class JobDirectory(FileInput):
    """A DAP job directory: its parts (every regular, not hidden file) in name order."""

    def __init__(self, path: Path):
        super().__init__(path)
        try:
            entries = sorted(path.iterdir())
        except PermissionError:
            raise InputFileError(f"{path}: permission denied",
                                 "Check the directory's permissions") from None
        self.parts = [p for p in entries if p.is_file() and not p.name.startswith(".")]
        if not self.parts:
            raise InputFileError(
                f"{path}: is a directory with no data files (a DAP job directory holds "
                "the parts `dap snapshot` wrote)",
                "Name a job_<id> directory or one .jsonl file (`loader run --data-dir` "
                "loads a data directory)",
            )
        self._starts: list[int] = []  # the first joined line of each part

    def fingerprint(self) -> str:
        text = "\n".join(f"{p.name}:{file_fingerprint(p)}" for p in self.parts)
        return "dir:" + hashlib.sha256(text.encode()).hexdigest()

    def sha256(self) -> str:
        return hashlib.sha256("".join(file_sha256(p) for p in self.parts).encode()).hexdigest()

    @contextmanager
    def readable(self) -> Iterator[Path]:
        with spill_dir() as scratch:
            joined = Path(scratch) / "parts.jsonl"
            self._join(joined)
            yield joined

    def _join(self, joined: Path) -> None:
        """Unzip the parts one after the other; each ends its last line."""
        self._starts, line = [], 1
        with joined.open("wb") as out:
            for part in self.parts:
                self._starts.append(line)
                last = b"\n"
                try:
                    with open_input(part) as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            out.write(block)
                            line += block.count(b"\n")
                            last = block[-1:]
                except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
                    raise InputFileError(f"{part}: cannot be read to the end ({exc})",
                                         "Download the job again") from None
                if last != b"\n":
                    out.write(b"\n")
                    line += 1

    def locate(self, line: int) -> tuple[str, int]:
        if not self._starts:
            return str(self.path), line
        index = bisect.bisect_right(self._starts, line) - 1
        return str(self.parts[index]), line - self._starts[index] + 1


def input_for(path: Path) -> FileInput:
    """A directory is a DAP job directory; anything else a file."""
    return JobDirectory(path) if path.is_dir() else FileInput(path)
