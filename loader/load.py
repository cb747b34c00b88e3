"""Load one JSONL file into a raw table: the raw contract of DESIGN.md.

Order of work: validate names, hash the file (a file already loaded into the
same table writes nothing unless force), open the target (waiting for its
lock), record a 'running' job, stream the file into a staging table, then one
transaction that applies it. Past max_rejects nothing is applied, but the
rejects found are committed so the user can see why.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa

from . import jsonl
from .backends import backend_for
from .backends.base import STAGE_SCHEMA, Backend
from .errors import LoaderError, RejectLimitExceeded
from .faults import crash_point
from .identifiers import check_field_name, check_source_name, parse_table_name
from .profiles import Target


@dataclass
class LoadOptions:
    table: str
    id_field: str = "id"
    source_name: str | None = None
    updated_field: str | None = None
    incremental: bool = False
    max_rejects: int = 100
    force: bool = False
    lock_timeout: float = 60.0
    batch_size: int = 50_000
    max_future: timedelta = timedelta(days=366)

    def validated(self) -> "LoadOptions":
        schema, name = parse_table_name(self.table)
        check_field_name(self.id_field, "--id-field")
        if self.updated_field:
            check_field_name(self.updated_field, "--updated-field")
        if self.incremental and not self.updated_field:
            raise LoaderError(
                "--incremental needs --updated-field",
                "Name the record's change timestamp, e.g. --updated-field updated_at",
            )
        if self.max_rejects < 0:
            raise LoaderError("--max-rejects must be 0 or more")
        self.table = f"{schema}.{name}"
        self.source_name = check_source_name(self.source_name or name)
        return self


@dataclass
class LoadResult:
    load_id: str
    source_name: str
    target_table: str
    source_file: str
    status: str  # success | skipped_file | failed
    rows_read: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    rows_rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    below_watermark: int = 0
    duplicates_in_file: int = 0
    blank_lines: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    watermark_before: str | None = None
    watermark_after: str | None = None
    previous_load_id: str | None = None
    first_rejects: list = field(default_factory=list)
    started_at: datetime | None = None
    file_fingerprint: str | None = None  # meta.load_file.file_stat, not a metric

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def metrics(self) -> dict:
        data = asdict(self)
        data.pop("file_fingerprint")
        data["rows_per_second"] = round(self.rows_per_second, 1)
        return data


def load_file(
    path: str | Path,
    options: LoadOptions,
    target: Target,
    progress=None,
    on_wait=None,
) -> LoadResult:
    """Load path into options.table on target. Raises LoaderError subclasses."""
    opts = options.validated()
    path = Path(path)
    started = time.monotonic()
    fingerprint = jsonl.file_fingerprint(path)
    schema, name = opts.table.split(".")
    result = LoadResult(
        load_id=uuid.uuid4().hex,
        source_name=opts.source_name,
        target_table=opts.table,
        source_file=str(path),
        status="running",
    )
    backend = backend_for(target)
    backend.connect(opts.lock_timeout, on_wait)
    try:
        backend.begin()
        backend.ensure_meta()
        backend.ensure_raw(schema, name)
        backend.commit()
        result.started_at = backend.job_start(
            result.load_id, f"load {opts.source_name}", _json(result.metrics())
        )
        crash_point("after_job_start")
        sha = None
        try:
            sha, previous, result.file_fingerprint = _identify_file(backend, path, opts,
                                                                    fingerprint)
            if previous:
                _skip_file(result, previous)
                _finish(backend, result, sha, started)
                return result
            rejects = _stage_file(backend, path, opts, result, progress)
            crash_point("after_stage")
            if len(rejects) > opts.max_rejects:
                error = RejectLimitExceeded(
                    f"{path}: more than {opts.max_rejects} lines rejected "
                    f"(first at line {rejects[0][0]}: {rejects[0][1]}); nothing was loaded",
                    f"See meta.load_reject where load_id = '{result.load_id}', fix the file, "
                    f"or raise the limit (Try --max-rejects {max(100, opts.max_rejects * 10)})",
                )
                error.rejects = rejects
                raise error
            backend.begin()
            previous = _loaded_meanwhile(backend, opts, sha)
            if previous:
                backend.rollback()
                _skip_file(result, previous)
                _finish(backend, result, sha, started)
                return result
            applied = backend.apply(
                schema=schema,
                name=name,
                source_name=opts.source_name,
                load_id=result.load_id,
                source_file=str(path),
                incremental=opts.incremental,
                lock_timeout=opts.lock_timeout,
            )
            backend.insert_rejects(result.load_id, str(path), rejects)
            _record_applied(result, applied, rejects)
            result.status = "success"
            _finish(backend, result, sha, started, in_transaction=True)
            crash_point("after_commit")
            return result
        except BaseException as exc:  # noqa: BLE001 - record, then re-raise
            backend.rollback()
            _record_failure(backend, result, sha, started, exc)
            raise
    finally:
        backend.close()


def _identify_file(backend: Backend, path: Path, opts: LoadOptions,
                   fingerprint: str) -> tuple[str, str | None, str | None]:
    """(sha256, the load that already loaded this content or None, fingerprint).

    A file untouched since a successful load (same fingerprint) is known without
    reading it: a re-run over the same data directory costs a stat per file.
    Otherwise the file is hashed; its fingerprint is kept only if it did not
    change while being hashed. --force reads and loads the file regardless.
    """
    if not opts.force:
        known = backend.find_file_by_fingerprint(opts.table, fingerprint)
        if known:
            return known[1], known[0], fingerprint
    sha = jsonl.file_sha256(path)
    if jsonl.file_fingerprint(path) != fingerprint:
        fingerprint = None
    previous = None if opts.force else backend.find_loaded_file(opts.table, sha)
    return sha, previous, fingerprint


def _loaded_meanwhile(backend: Backend, opts: LoadOptions, sha: str) -> str | None:
    """Under the source's lock (taken here, again by apply): the load that committed
    this very file while this one staged it, if any. Two pipelines run at once
    both stage a file; without this the later one would apply it after the
    other had gone on to the source's next file, and put the older records back."""
    if opts.force:
        return None
    backend.lock_source(opts.source_name, opts.lock_timeout)
    return backend.find_loaded_file(opts.table, sha)


def _skip_file(result: LoadResult, previous: str) -> None:
    """Nothing of the file is considered: its content was loaded by `previous`."""
    result.status = "skipped_file"
    result.previous_load_id = previous
    result.rows_read = result.rows_rejected = result.blank_lines = result.bytes_read = 0
    result.first_rejects = []


def _stage_file(backend: Backend, path: Path, opts: LoadOptions, result: LoadResult,
                progress) -> list:
    """Stream the file into the staging table; return the rejects (stops past the limit)."""
    rejects = backend.stage_file(path, opts, result, progress)
    if rejects is None:
        rejects = _stage_batches(backend, path, opts, result, progress)
    result.rows_rejected = len(rejects)
    result.first_rejects = [{"line": n, "reason": r} for n, r, _ in rejects[:5]]
    return rejects


def _stage_batches(backend: Backend, path: Path, opts: LoadOptions, result: LoadResult,
                   progress) -> list:
    """The portable staging: jsonl parses, the backend's bulk path appends."""
    backend.stage_create()
    rejects: list = []
    for batch in jsonl.read_batches(
        path, opts.id_field, opts.updated_field, opts.batch_size, opts.max_future
    ):
        result.rows_read += len(batch) + len(batch.rejects)
        result.blank_lines += batch.blank_lines
        result.bytes_read += batch.bytes_read
        rejects.extend(batch.rejects)
        if len(batch):
            unstorable = backend.stage_append(
                pa.Table.from_arrays(
                    [
                        pa.array(batch.line_number, pa.int64()),
                        pa.array(batch.id, pa.string()),
                        pa.array(batch.payload, pa.string()),
                        pa.array(batch.payload_hash, pa.string()),
                        pa.array(batch.record_updated_at, pa.timestamp("us")),
                    ],
                    schema=STAGE_SCHEMA,
                )
            )
            rejects.extend(unstorable or [])
        if progress is not None:
            progress(batch.bytes_read)
        crash_point("during_stage")
        if len(rejects) > opts.max_rejects:
            break
    return rejects


def _record_applied(result: LoadResult, applied, rejects: list) -> None:
    result.inserted = applied.inserted
    result.updated = applied.updated
    result.unchanged = applied.unchanged
    result.below_watermark = applied.below_watermark
    result.duplicates_in_file = applied.duplicates_in_file
    result.rows_written = applied.written
    result.rows_rejected = len(rejects)
    result.rows_skipped = result.rows_read - result.rows_written - result.rows_rejected
    result.watermark_before = _iso(applied.watermark_before)
    result.watermark_after = _iso(applied.watermark_after)


def _finish(backend: Backend, result: LoadResult, sha: str | None, started: float,
            in_transaction: bool = False) -> None:
    result.seconds = time.monotonic() - started
    if not in_transaction:
        backend.begin()
    backend.insert_load_file(_load_file_row(result, sha))
    backend.job_finish(result.load_id, "success", _json(result.metrics()), None,
                       round(result.seconds * 1000))
    crash_point("before_commit")
    backend.commit()


def _record_failure(backend: Backend, result: LoadResult, sha: str | None, started: float,
                    exc: BaseException) -> None:
    """Best effort: the failure and the rejects found are committed on their own."""
    result.status = "failed"
    result.seconds = time.monotonic() - started
    # Nothing was written: every line read that was not rejected counts as skipped.
    result.rows_written = result.inserted = result.updated = 0
    result.rows_skipped = max(result.rows_read - result.rows_rejected, 0)
    message = str(exc) or type(exc).__name__
    try:
        backend.begin()
        backend.insert_rejects(result.load_id, result.source_file, getattr(exc, "rejects", []))
        backend.insert_load_file(_load_file_row(result, sha))
        backend.job_finish(result.load_id, "failed", _json(result.metrics()), message[:4000],
                           round(result.seconds * 1000))
        backend.commit()
    except Exception:  # noqa: BLE001 - the original error is what the user needs
        backend.rollback()


def _load_file_row(result: LoadResult, sha: str | None) -> dict:
    return {
        "load_id": result.load_id,
        "source_name": result.source_name,
        "target_table": result.target_table,
        "source_file": result.source_file,
        "file_sha256": sha,
        "file_stat": result.file_fingerprint,
        "status": result.status,
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
        "rows_skipped": result.rows_skipped,
        "rows_rejected": result.rows_rejected,
        "started_at": result.started_at,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _json(data: dict) -> str:
    return orjson.dumps(data, default=str).decode()
