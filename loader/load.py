"""Load one file into a raw table: the raw contract, as stages in order.

    identify  the file's fingerprint and SHA-256: already loaded -> skipped
    read      RecordReader: records, rejects and counts (loader/read/)
    stage     the backend's stager puts the records in the database, outside
              the load's transaction (or, on a first load, inside it)
    validate  past max_rejects nothing is applied; the rejects are committed
    apply     one transaction: lock, clock, upsert, watermark (backends/apply.py)
    audit     meta.load_file, the rejects and the job_run row, in the same
              transaction (loader/audit.py)

A failure anywhere rolls the data back and records the failure on its own.
The file `-` is standard input: copied to a scratch file first (read.spooled_stdin),
then loaded like a file named <stdin> that has no stat fingerprint.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import orjson

from . import audit, contract, read
from .backends import backend_for
from .backends.apply import LoadSpec
from .drift import record_drift
from .errors import RejectLimitExceeded
from .faults import crash_point
from .options import LoadOptions
from .profiles import Target


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
    deleted: int = 0  # rows marked deleted (envelope, soft and snapshot deletes)
    skipped_existing: int = 0  # strategy append: ids already in raw, not written
    snapshot_deleted: int = 0  # strategy snapshot: of deleted, live ids absent from the file
    snapshot_kept: int = 0  # snapshot with rejected lines: absent ids not deleted
    unchanged: int = 0
    below_watermark: int = 0
    duplicates_in_file: int = 0
    blank_lines: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    watermark_before: str | None = None
    watermark_after: str | None = None
    previous_load_id: str | None = None
    read_by: str = "python"  # who parsed the file: the RecordReader or the engine's reader
    first_rejects: list = field(default_factory=list)
    drift: list = field(default_factory=list)  # [(change_type, JSON path)], drift.py
    started_at: datetime | None = None
    file_fingerprint: str | None = None  # meta.load_file.file_stat, not a metric
    file_sha256: str | None = None  # meta.load_file.file_sha256, not a metric
    prior_state: str | None = None  # meta.load_file.prior_state (JSON), not a metric

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def metrics(self) -> dict:
        data = asdict(self)
        data.pop("file_fingerprint")
        data.pop("file_sha256")
        data.pop("prior_state")
        data["rows_per_second"] = round(self.rows_per_second, 1)
        return data


def load_file(path: str | Path, opts: LoadOptions, target: Target, progress=None,
              on_wait=None) -> LoadResult:
    """Load path (a file, a DAP job directory: read.inputs, or `-`: standard input)
    into opts.table on target. Raises LoaderError subclasses."""
    if str(path) == read.STDIN:
        # Standard input: spooled, so it can be hashed and read like a file; a
        # pipe has no stat to skip it by (fingerprint None): its bytes' SHA-256
        # is the already-loaded check.
        with read.spooled_stdin() as spool:
            return _load_input(read.StdinInput(spool), opts, target, progress, on_wait)
    return _load_input(read.input_for(Path(path)), opts, target, progress, on_wait)


def _load_input(source: read.FileInput, opts: LoadOptions, target: Target, progress,
                on_wait) -> LoadResult:
    started = time.monotonic()
    fingerprint = source.fingerprint()
    result = LoadResult(load_id=uuid.uuid4().hex, source_name=opts.source_name,
                        target_table=opts.table, source_file=source.name, status="running")
    backend = backend_for(target)
    backend.connect(opts.lock_timeout, on_wait)
    try:
        _prepare_tables(backend, opts)
        result.started_at = audit.job_start(backend, result.load_id,
                                            f"load {opts.source_name}", _json(result.metrics()))
        crash_point("after_job_start")
        try:
            _load(backend, source, opts, result, fingerprint, progress, started)
        except BaseException as exc:  # noqa: BLE001 - record, then re-raise
            backend.rollback()
            _record_failure(backend, result, exc, started, source.locate)
            raise
        return result
    finally:
        backend.close()


def _prepare_tables(backend, opts: LoadOptions) -> None:
    backend.begin()
    backend.ensure_meta()
    backend.ensure_raw(*opts.schema_and_name)
    backend.ensure_history(*opts.schema_and_name)
    backend.commit()


def _load(backend, source: read.FileInput, opts: LoadOptions, result: LoadResult,
          fingerprint: str | None, progress, started: float) -> None:
    """The stages after the job row: identify, read + stage, validate, apply, audit."""
    previous = _identify_file(backend, source, opts, result, fingerprint)
    if previous:
        return _finish_skipped(backend, result, previous, started)
    with source.readable() as readable:
        _read_and_apply(backend, source, readable, opts, result, progress, started)


def _read_and_apply(backend, source: read.FileInput, readable: Path, opts: LoadOptions,
                    result: LoadResult, progress, started: float) -> None:
    """Read + stage, validate, apply and audit the input (``readable``: its file)."""
    schema, name = opts.schema_and_name
    spec = LoadSpec(schema, name, backend.table(schema, name), opts.source_name,
                    result.load_id, result.source_file, opts.incremental, opts.strategy,
                    opts.snapshot_min_ratio,
                    backend.table(schema, contract.history_name(name)) if opts.history else None)
    reader = read.RecordReader(
        readable, id_field=opts.id_field, updated_field=opts.updated_field,
        batch_size=opts.batch_size, max_rejects=opts.max_rejects, max_future=opts.max_future,
        progress=progress, chunk_rows=backend.chunk_rows, shape=opts.shape,
        fmt=_file_format(opts), name=source.name, contract=opts.contract_validator,
        profile_keys=opts.payload_drift)
    try:
        staged = backend.stager(spec).stage(reader)
        result.read_by = staged.read_by
    finally:
        _count_read(result, reader, source)  # a failed read's counts too
    try:
        crash_point("after_stage")
        _check_reject_limit(source, opts, result, reader.rejects)
        if not staged.in_transaction:
            backend.begin()
        previous = _loaded_meanwhile(backend, opts, result.file_sha256)
        if previous:
            backend.rollback()
            return _finish_skipped(backend, result, previous, started)
        applied = backend.apply(staged, spec)
        result.drift = record_drift(backend, spec, reader.profile, source.locate)
    finally:
        staged.close()
    audit.insert_rejects(backend, result.load_id, reader.rejects, source.locate)
    _count_applied(result, applied)
    result.status = "success"
    _finish(backend, result, started)
    crash_point("after_commit")


def _identify_file(backend, source: read.FileInput, opts: LoadOptions, result: LoadResult,
                   fingerprint: str | None) -> str | None:
    """The load that already loaded this content, or None; sets the file's sha256
    and fingerprint on result.

    A file untouched since a successful load (same fingerprint) is known without
    reading it: a re-run over the same data directory costs a stat per file.
    Otherwise the file is hashed; its fingerprint is kept only if it did not
    change while being hashed. --force reads and loads the file regardless.
    """
    if not opts.force and fingerprint is not None:
        known = audit.find_file_by_fingerprint(backend, opts.table, fingerprint)
        if known:
            result.file_sha256, result.file_fingerprint = known[1], fingerprint
            return known[0]
    result.file_sha256 = source.sha256()
    result.file_fingerprint = fingerprint if fingerprint is not None and \
        source.fingerprint() == fingerprint else None
    return None if opts.force else _find_loaded(backend, opts, result.file_sha256)


def _loaded_meanwhile(backend, opts: LoadOptions, sha: str) -> str | None:
    """Under the source's lock (taken here, again by apply): the load that committed
    this very file while this one staged it, if any. Two pipelines run at once
    both stage a file; without this the later one would apply it after the
    other had gone on to the source's next file, and put the older records back."""
    if opts.force:
        return None
    backend.lock_source(opts.source_name)
    return _find_loaded(backend, opts, sha)


def _find_loaded(backend, opts: LoadOptions, sha: str) -> str | None:
    """The load that loaded this content already; for a snapshot only the latest load
    counts (Monday's roster sent again on Wednesday, after Tuesday's, is loaded)."""
    return audit.find_loaded_file(backend, opts.table, sha,
                                  latest_only=opts.strategy == "snapshot")


def _file_format(opts: LoadOptions) -> read.FileFormat:
    return read.FileFormat(opts.format, opts.delimiter, opts.encoding, opts.sheet,
                           opts.header_row, opts.json_path, tuple(opts.null_values),
                           tuple((opts.types or {}).items()))


def _check_reject_limit(source: read.FileInput, opts: LoadOptions, result: LoadResult,
                        rejects: list) -> None:
    """Past max_rejects, or every line rejected: the load fails, writing nothing."""
    if len(rejects) > opts.max_rejects:
        problem = f"more than {opts.max_rejects} lines rejected"
        hint = (f"See them with `loader rejects {result.load_id}`, fix the file, "
                f"or raise the limit (Try --max-rejects {max(100, opts.max_rejects * 10)})")
    elif rejects and len(rejects) == result.rows_read:
        problem = f"every line ({len(rejects)}) was rejected"
        hint = (f"See them with `loader rejects {result.load_id}`: is it the right "
                "file, --id-field and --shape for this source?")
    else:
        return
    file, line = source.locate(rejects[0][0])
    where = f"line {line}" if file == source.name else f"{Path(file).name} line {line}"
    error = RejectLimitExceeded(
        f"{source.name}: {problem} (first at {where}: {rejects[0][1]}); "
        "nothing was loaded", hint)
    error.rejects = rejects
    raise error


def _count_read(result: LoadResult, reader: read.RecordReader,
                source: read.FileInput) -> None:
    result.rows_read = reader.rows_read
    result.blank_lines = reader.blank_lines
    result.bytes_read = reader.bytes_read
    result.rows_rejected = len(reader.rejects)
    result.first_rejects = []
    for number, reason, _ in reader.rejects[:5]:
        file, line = source.locate(number)
        part = {} if file == source.name else {"file": Path(file).name}
        result.first_rejects.append({**part, "line": line, "reason": reason})


def _count_applied(result: LoadResult, applied) -> None:
    result.inserted = applied.inserted
    result.updated = applied.updated
    result.deleted = applied.deleted
    result.skipped_existing = applied.skipped_existing
    result.snapshot_deleted = applied.snapshot_deleted
    result.snapshot_kept = applied.snapshot_kept
    result.unchanged = applied.unchanged
    result.below_watermark = applied.below_watermark
    result.duplicates_in_file = applied.duplicates_in_file
    result.rows_written = applied.written
    result.rows_skipped = result.rows_read - result.rows_written - result.rows_rejected
    result.watermark_before = _iso(applied.watermark_before)
    result.watermark_after = _iso(applied.watermark_after)
    result.prior_state = _prior_state(applied)


def _prior_state(applied) -> str:
    """What `loader rollback` needs besides history: the watermark row before the
    load (None: there was none) and whether history was kept."""
    mark = applied.prior_watermark
    return _json({"history": applied.history_kept, "ingested_at": _iso(applied.ingested_at),
                  "watermark": None if mark is None else {
                      "last_updated_at": _iso(mark[0]), "load_id": mark[1],
                      "updated_at": _iso(mark[2])}})


def _finish_skipped(backend, result: LoadResult, previous: str, started: float) -> None:
    """Nothing of the file is considered: its content was loaded by `previous`."""
    result.status = "skipped_file"
    result.previous_load_id = previous
    result.rows_read = result.rows_rejected = result.blank_lines = result.bytes_read = 0
    result.first_rejects = []
    backend.begin()
    _finish(backend, result, started)


def _finish(backend, result: LoadResult, started: float) -> None:
    """The load's audit rows, then the commit (of the data too, after an apply)."""
    result.seconds = time.monotonic() - started
    audit.insert_load_file(backend, _load_file_row(result))
    # The job succeeded whether it wrote the file or found it loaded already.
    audit.job_finish(backend, result.load_id, "success", _json(result.metrics()), None,
                     _elapsed_ms(result))
    crash_point("before_commit")
    backend.commit()


def _record_failure(backend, result: LoadResult, exc: BaseException, started: float,
                    locate) -> None:
    """Best effort: the failure and the rejects found are committed on their own."""
    result.status = "failed"
    result.seconds = time.monotonic() - started
    # Nothing was written: every line read that was not rejected counts as skipped.
    result.rows_written = result.inserted = result.updated = result.deleted = 0
    result.skipped_existing = result.snapshot_deleted = result.snapshot_kept = 0
    result.rows_skipped = max(result.rows_read - result.rows_rejected, 0)
    message = str(exc) or type(exc).__name__
    try:
        backend.begin()
        audit.insert_rejects(backend, result.load_id, getattr(exc, "rejects", []), locate)
        audit.insert_load_file(backend, _load_file_row(result))
        audit.job_finish(backend, result.load_id, "failed", _json(result.metrics()),
                         message[:4000], _elapsed_ms(result))
        backend.commit()
    except Exception:  # noqa: BLE001 - the original error is what the user needs
        backend.rollback()


def _load_file_row(result: LoadResult) -> dict:
    return {
        "load_id": result.load_id,
        "source_name": result.source_name,
        "target_table": result.target_table,
        "source_file": result.source_file,
        "file_sha256": result.file_sha256,
        "file_stat": result.file_fingerprint,
        "prior_state": result.prior_state,
        "status": result.status,
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
        "rows_skipped": result.rows_skipped,
        "rows_rejected": result.rows_rejected,
        "started_at": result.started_at,
    }


def _elapsed_ms(result: LoadResult) -> int:
    return round(result.seconds * 1000)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _json(data: dict) -> str:
    return orjson.dumps(data, default=str).decode()
