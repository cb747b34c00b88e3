"""The batch an extract writes: temporary names, renamed when complete.

Files are written under DATA_DIR/.extract-tmp/<pid>-<id>/ as
canvas_<entity>.jsonl.part (two levels down, so no pipeline.yml glob such as
`*/canvas_users.jsonl*` sees them), renamed to .jsonl when every entity is
done, and the directory is then renamed to DATA_DIR/batch-NNNN in one step:
a killed extract never leaves a file that `loader run` would load. A leftover
directory of a dead process is removed by the next extract.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from pathlib import Path

import orjson

from ..faults import crash_point
from .errors import ExtractError

TMP_DIR = ".extract-tmp"
_BATCH = re.compile(r"batch-(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(data_dir: Path) -> list[Path]:
    """Remove the temporary batches of extracts whose process is gone."""
    removed = []
    root = data_dir / TMP_DIR
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def next_batch_number(data_dir: Path) -> int:
    numbers = [int(m.group(1)) for p in data_dir.iterdir() if (m := _BATCH.match(p.name))]
    return max(numbers, default=0) + 1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BatchWriter:
    """One file per entity, written by the extract's threads, one page at a time."""

    def __init__(self, data_dir: Path, entities: tuple[str, ...]):
        self.data_dir = data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            remove_stale(data_dir)
            self.dir = data_dir / TMP_DIR / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            self.dir.mkdir(parents=True)
        except OSError as exc:
            raise ExtractError(f"cannot write the batch under {data_dir}: {exc.strerror}",
                               "Pass a writable --data-dir") from None
        self._files = {e: open(self.dir / f"canvas_{e}.jsonl.part", "wb") for e in entities}
        self._locks = {e: threading.Lock() for e in entities}
        self.records = {e: 0 for e in entities}

    def write(self, entity: str, records: list) -> None:
        """records as the API returned them, one JSON line each."""
        if entity not in self._files or not records:
            return
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        with self._locks[entity]:
            self._files[entity].write(data)
            self.records[entity] += len(records)

    def commit(self) -> Path:
        """Every file complete on disk, then the batch directory appears at once."""
        for entity, f in self._files.items():
            f.flush()
            os.fsync(f.fileno())
            f.close()
            crash_point("extract_before_rename")
            part = self.dir / f"canvas_{entity}.jsonl.part"
            part.rename(part.with_suffix(""))
        _fsync_dir(self.dir)
        number = next_batch_number(self.data_dir)
        while True:
            target = self.data_dir / f"batch-{number:04d}"
            if not target.exists():
                try:
                    os.rename(self.dir, target)
                    break
                except OSError:
                    pass  # another extract took the number
            number += 1
        _fsync_dir(self.data_dir)
        try:
            (self.data_dir / TMP_DIR).rmdir()
        except OSError:
            pass  # another extract's batch is in there
        return target

    def abort(self) -> None:
        for f in self._files.values():
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)
