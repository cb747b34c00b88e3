"""Writing batches: the buffered JSONL writer, file and batch names, staged manifest writes."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

MANIFEST_NAME = "manifest.json"
CHUNK_LINES = 4096

ProgressCallback = Callable[[int], None]


class JsonlWriter:
    """Buffered JSONL file: one ``write`` per chunk, ``progress`` told per chunk.

    ``orjson.dumps`` returns bytes over-allocated to about 8 KB; concatenating the
    newline copies each line into a right-sized object, which keeps a chunk of
    thousands of lines at a few MB.
    """

    def __init__(self, path: Path, progress: ProgressCallback | None):
        self._file = path.open("wb")
        self._buffer: list[bytes] = []
        self._progress = progress
        self.lines = 0

    def record(self, record: object) -> None:
        self.line(orjson.dumps(record) + b"\n")

    def line(self, line: bytes) -> None:
        """Write one newline-terminated line as it is."""
        self._buffer.append(line)
        self.lines += 1
        if len(self._buffer) >= CHUNK_LINES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            if self._progress is not None:
                self._progress(len(self._buffer))
            self._buffer.clear()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._flush()
        finally:
            self._file.close()


def file_name(entity: str) -> str:
    return f"canvas_{entity}.jsonl"


def batch_name(number: int) -> str:
    return f"batch-{number:04d}"


def batch_number(name: str) -> int | None:
    """The number in a batch directory's name, None if the name is not ``batch_name``'s."""
    suffix = name.removeprefix("batch-")
    return int(suffix) if len(suffix) == 4 and suffix.isdigit() else None


def write_records(
    path: Path, records: Iterable[dict], progress: ProgressCallback | None
) -> int:
    with JsonlWriter(path, progress) as out:
        for record in records:
            out.record(record)
    return out.lines


def write_batch(out_dir: Path, name: str, write: Callable[[Path], dict],
                finish: Callable[[Path, dict], dict] | None = None) -> dict:
    """Run ``write(tmp_dir)`` in a hidden staging directory, then rename it to ``name``.

    ``finish(tmp_dir, manifest)``, when given, reworks the files before the rename
    (the CD2 shape). A crash leaves no half-written batch that would block the next run.
    """
    final = out_dir / name
    staging = out_dir / f".{name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        manifest = write(staging)
        if finish is not None:
            manifest = finish(staging, manifest)
        (staging / MANIFEST_NAME).write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(final)
    return manifest
