"""Stream a JSONL file into validated records and rejects, one batch at a time.

Each line is parsed once (orjson); a record keeps the line as received (its
payload), a SHA-256 of the canonical form (keys sorted, no whitespace) so a
re-sent record with keys in another order is still "unchanged", its id and its
updated timestamp (UTC). Lines that cannot be used become rejects with their
1-based line number; nothing is dropped silently. Blank lines are not records
and are only counted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import orjson

from .errors import InputFileError

MAX_ID_LENGTH = 450  # SQL Server's index key limit for nvarchar
EXCERPT_CHARS = 200
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
# orjson reads an integer beyond 64 bits as a float (losing digits) and cannot
# write more than this many levels of nesting back out.
_LONG_DIGITS = re.compile(rb"[0-9]{20,}")
MAX_DEPTH = 254
# ISO-8601 as the staging models parse it (macros/cross_db/timestamps.sql):
# date, optional time with optional fraction, optional Z or numeric offset.
_ISO_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?"
)


@dataclass
class Batch:
    """Column lists of valid records plus the rejects found in the same lines."""

    line_number: list[int] = field(default_factory=list)
    id: list[str] = field(default_factory=list)
    payload: list[str] = field(default_factory=list)
    payload_hash: list[str] = field(default_factory=list)
    record_updated_at: list[datetime | None] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    blank_lines: int = 0
    bytes_read: int = 0

    def __len__(self) -> int:
        return len(self.id)


class _Reject(Exception):
    pass


def open_input(path: Path) -> io.BufferedIOBase:
    """Open a file for binary streaming; gzip is detected by its magic bytes."""
    fh = _open_file(path)
    head = fh.peek(2)[:2] if hasattr(fh, "peek") else b""
    if head == _GZIP_MAGIC:
        return gzip.open(fh, "rb")  # type: ignore[return-value]
    return fh


def _open_file(path: Path) -> io.BufferedReader:
    """open(path, 'rb') with the errors a user can act on."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file", "Check the path") from None
    except IsADirectoryError:
        raise InputFileError(
            f"{path}: is a directory, not a JSONL file",
            "Name one .jsonl or .jsonl.gz file (`loader run --data-dir` loads a directory)",
        ) from None
    except PermissionError:
        raise InputFileError(f"{path}: permission denied", "Check the file's permissions") from None


def file_sha256(path: Path) -> str:
    """SHA-256 of the file as stored (compressed bytes for .gz), streamed."""
    h = hashlib.sha256()
    with _open_file(path) as fh:
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
    with _open_file(path) as fh:
        st = os.fstat(fh.fileno())
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def parse_timestamp(value) -> datetime:
    """ISO-8601 with 'Z' or an offset -> naive UTC. A value without offset is taken as UTC.

    Only the extended form the staging models parse is accepted (fromisoformat
    alone also takes '20260903T100000' or week dates, which staging reads as
    NULL: the watermark would move on a value the warehouse does not show)."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 string, got {type(value).__name__}")
    text = value.strip()
    if not _ISO_TIMESTAMP.fullmatch(text):
        raise ValueError("not an ISO-8601 timestamp like 2026-09-03T10:00:00Z")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is not None:
        try:
            ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:30:00+01:00
            raise ValueError("out of range once converted to UTC") from None
    return ts


def _excerpt(raw: bytes) -> str:
    return raw[: EXCERPT_CHARS * 2].decode("utf-8", "replace")[:EXCERPT_CHARS]


def _get_path(obj: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


class RecordParser:
    """Turns one line into a record tuple or raises _Reject with a reason."""

    def __init__(self, id_field: str, updated_field: str | None, max_future: timedelta):
        self.id_path = tuple(id_field.split(".")) if id_field else ("id",)
        self.id_field = id_field
        self.updated_path = tuple(updated_field.split(".")) if updated_field else None
        self.updated_field = updated_field
        self.future_limit = datetime.now(timezone.utc).replace(tzinfo=None) + max_future

    def parse(self, raw: bytes):
        # Rare: a number too long for 64 bits. orjson reads such an integer as a
        # float (two that differ could hash the same, an id loses its digits) or
        # refuses it; the standard library keeps it exact.
        exact = _LONG_DIGITS.search(raw) is not None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            reason = "invalid JSON"
            if isinstance(exc.__cause__, UnicodeDecodeError) or "utf-8" in str(exc).lower():
                reason = "invalid UTF-8"
            if reason != "invalid JSON" or not exact:
                raise _Reject(f"{reason}: {exc}") from None
        if exact:
            obj = _exact_json(raw)
        if not isinstance(obj, dict):
            kind = "null" if obj is None else type(obj).__name__
            kind = {"list": "array", "str": "string", "int": "number", "float": "number"}.get(
                kind, kind
            )
            raise _Reject(f"not a JSON object (a {kind})")
        rid = _get_path(obj, self.id_path)
        if rid is None:
            raise _Reject(f"missing or null id field {self.id_field!r}")
        if isinstance(rid, bool) or not isinstance(rid, (int, str)):
            raise _Reject(
                f"id field {self.id_field!r} must be a string or integer, "
                f"got {type(rid).__name__}"
            )
        rid = str(rid)
        if not rid.strip():
            raise _Reject(f"id field {self.id_field!r} is empty")
        if len(rid) > MAX_ID_LENGTH:
            raise _Reject(f"id longer than {MAX_ID_LENGTH} characters")
        updated = None
        if self.updated_path is not None:
            value = _get_path(obj, self.updated_path)
            if value is not None:
                try:
                    updated = parse_timestamp(value)
                except (ValueError, TypeError, OverflowError) as exc:
                    raise _Reject(
                        f"unparsable timestamp in {self.updated_field!r}: {value!r} ({exc})"
                    ) from None
                if updated > self.future_limit:
                    raise _Reject(
                        f"{self.updated_field!r} {value!r} is in the future; it would move "
                        "the watermark past every real record"
                    )
        try:
            if exact:
                canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode()
            else:
                canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        except (TypeError, ValueError, RecursionError):
            raise _Reject(f"nested deeper than {MAX_DEPTH} levels") from None
        return rid, raw.decode("utf-8"), hashlib.sha256(canonical).hexdigest(), updated


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is infinity when parsed as double")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _exact_json(raw: bytes):
    """The standard library's reading of raw: integers exact, floats as orjson
    reads them (NaN, Infinity and infinite numbers refused)."""
    try:
        obj = json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
        json.dumps(obj, ensure_ascii=False).encode()  # lone surrogates (\ud800)
    except RecursionError:
        raise _Reject(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # includes UnicodeError
        raise _Reject(f"invalid JSON: {exc}") from None
    return obj


def read_batches(
    path: Path,
    id_field: str,
    updated_field: str | None,
    batch_size: int = 50_000,
    max_future: timedelta = timedelta(days=366),
) -> Iterator[Batch]:
    """Yield batches of at most batch_size lines (records + rejects) from path."""
    parser = RecordParser(id_field, updated_field, max_future)
    fh = open_input(path)
    batch = Batch()
    seen = 0
    first_content = True
    try:
        for number, raw in enumerate(fh, start=1):
            batch.bytes_read += len(raw)
            if number == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[len(_UTF8_BOM):]
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                batch.blank_lines += 1
                continue
            if first_content:
                first_content = False
                if raw.lstrip().startswith(b"["):
                    _reject_array_file(path, raw, number)
            try:
                rid, payload, digest, updated = parser.parse(raw)
            except _Reject as why:
                batch.rejects.append((number, str(why), _excerpt(raw)))
            else:
                batch.line_number.append(number)
                batch.id.append(rid)
                batch.payload.append(payload)
                batch.payload_hash.append(digest)
                batch.record_updated_at.append(updated)
            seen += 1
            if seen >= batch_size:
                yield batch
                batch, seen = Batch(), 0
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(f"{path}: cannot be read to the end ({exc})") from None
    finally:
        fh.close()
    yield batch


def _reject_array_file(path: Path, first: bytes, number: int = 1) -> None:
    """A file that is one JSON array (not JSONL) is a user mistake worth its own message."""
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        value = None
    if value is None or (isinstance(value, list) and value and isinstance(value[0], dict)):
        raise InputFileError(
            f"{path}:{number}: this looks like a JSON array, not JSON Lines "
            "(one object per line)",
            "Convert it first, e.g. `jq -c '.[]' file.json > file.jsonl`",
        )
