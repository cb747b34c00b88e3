"""One line -> one record, or a reject with its reason: the strict parser.

A record is its id (text), the SHA-256 of its canonical JSON (keys sorted, no
whitespace, so a re-sent record with keys in another order is "unchanged") and
its updated timestamp (naive UTC, or None). Every line the lean parser
(lean.py) is not sure about comes here, so this module alone decides what a
reject is and why.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import orjson

from .envelopes import SOFT_DELETE, UPSERT, Envelope, ShapeError, is_soft_delete

MAX_ID_LENGTH = 450  # SQL Server's index key limit for nvarchar
EXCERPT_CHARS = 200
UTF8_BOM = b"\xef\xbb\xbf"
# orjson reads an integer beyond 64 bits as a float (losing digits) and cannot
# write more than this many levels of nesting back out.
LONG_DIGITS = re.compile(rb"[0-9]{20,}")
MAX_DEPTH = 254
# ISO-8601 as the staging models parse it (macros/cross_db/timestamps.sql):
# date, optional time with optional fraction, optional Z or numeric offset.
_ISO_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?"
)


class Reject(Exception):
    """A line that cannot be a record; str() is the reason."""


def excerpt(raw: bytes) -> str:
    """The start of a line, as text, for meta.load_reject."""
    return raw[: EXCERPT_CHARS * 2].decode("utf-8", "replace")[:EXCERPT_CHARS]


def get_path(obj: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


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


class RecordParser:
    """Turns one line into (id, hash, updated_at, operation) or raises Reject with a
    reason. envelope: the source's envelope shape (envelopes.py), None for plain
    records; operation is envelopes.UPSERT, DELETE or SOFT_DELETE."""

    def __init__(self, id_field: str, updated_field: str | None, max_future: timedelta,
                 envelope: Envelope | None = None):
        self.id_path = tuple(id_field.split(".")) if id_field else ("id",)
        self.id_field = id_field
        self.updated_path = tuple(updated_field.split(".")) if updated_field else None
        self.updated_field = updated_field
        self.future_limit = datetime.now(timezone.utc).replace(tzinfo=None) + max_future
        self.envelope = envelope

    def parse(self, raw: bytes) -> tuple[str, str, datetime | None, str]:
        obj, exact = _load(raw)
        return self._verdict(obj, exact)

    def parse_checked(self, raw: bytes, check) -> tuple[str, str, datetime | None, str]:
        """parse(), and the object read checked against the source's contract (check:
        contract_check's function): a record that breaks it is a Reject with the
        check's reason. The object is the one hashed (exact for long integers)."""
        obj, exact = _load(raw)
        verdict = self._verdict(obj, exact)
        why = check(obj)
        if why is not None:
            raise Reject(why)
        return verdict

    def parse_object(self, obj: dict) -> tuple[bytes, tuple[str, str, datetime | None, str]]:
        """A record another reader built (CSV row, JSON array element, spreadsheet
        row): its payload (compact JSON, keys in the order read) and parse()'s verdict."""
        try:
            return orjson.dumps(obj), self._verdict(obj, False)
        except TypeError:  # an integer beyond 64 bits, or nesting orjson cannot write
            pass
        try:
            payload = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        except (ValueError, RecursionError):
            raise Reject(f"nested deeper than {MAX_DEPTH} levels") from None
        return payload, self._verdict(obj, True)

    def _verdict(self, obj: dict, exact: bool) -> tuple[str, str, datetime | None, str]:
        if self.envelope is not None:
            return self._unwrap(obj, exact)
        rid = self._id(obj)
        updated = self._updated(obj)
        op = SOFT_DELETE if is_soft_delete(obj) else UPSERT
        return rid, _hash(obj, exact), updated, op

    def _unwrap(self, obj: dict, exact: bool):
        """An envelope's key, change time, operation and hashed content."""
        try:
            rid, changed, op, content = self.envelope.unwrap(obj)
        except ShapeError as why:
            raise Reject(f"{self.envelope.name}: {why}") from None
        field = f"{self.envelope.name} key"
        rid = self._check_id(rid, field)
        updated = None if changed is None else self._timestamp(changed, f"{field} change time")
        return rid, _hash(content, exact), updated, op

    def _id(self, obj: dict) -> str:
        return self._check_id(get_path(obj, self.id_path), self.id_field)

    def _check_id(self, rid, id_field: str) -> str:
        if rid is None:
            raise Reject(f"missing or null id field {id_field!r}")
        if isinstance(rid, bool) or not isinstance(rid, (int, str)):
            raise Reject(
                f"id field {id_field!r} must be a string or integer, "
                f"got {type(rid).__name__}"
            )
        rid = str(rid)
        if not rid.strip():
            raise Reject(f"id field {id_field!r} is empty")
        if len(rid) > MAX_ID_LENGTH:
            raise Reject(f"id longer than {MAX_ID_LENGTH} characters")
        return rid

    def _updated(self, obj: dict) -> datetime | None:
        if self.updated_path is None:
            return None
        value = get_path(obj, self.updated_path)
        if value is None:
            return None
        return self._timestamp(value, repr(self.updated_field))

    def _timestamp(self, value, what: str) -> datetime:
        try:
            updated = parse_timestamp(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise Reject(f"unparsable timestamp in {what}: {value!r} ({exc})") from None
        if updated > self.future_limit:
            raise Reject(
                f"{what} {value!r} is in the future; it would move "
                "the watermark past every real record"
            )
        return updated


def _hash(obj, exact: bool) -> str:
    """SHA-256 of obj's canonical JSON (keys sorted at every level, no whitespace)."""
    try:
        if exact:
            canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False).encode()
        else:
            canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError, RecursionError):
        raise Reject(f"nested deeper than {MAX_DEPTH} levels") from None
    return hashlib.sha256(canonical).hexdigest()


def _load(raw: bytes) -> tuple[dict, bool]:
    """The line as a JSON object, and whether it was read exactly (long integers)."""
    # Rare: a number too long for 64 bits. orjson reads such an integer as a
    # float (two that differ could hash the same, an id loses its digits) or
    # refuses it; the standard library keeps it exact.
    exact = LONG_DIGITS.search(raw) is not None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = "invalid JSON"
        if isinstance(exc.__cause__, UnicodeDecodeError) or "utf-8" in str(exc).lower():
            reason = "invalid UTF-8"
        if reason != "invalid JSON" or not exact:
            raise Reject(f"{reason}: {exc}") from None
    if exact:
        obj = _exact_json(raw)
    if not isinstance(obj, dict):
        kind = "null" if obj is None else type(obj).__name__
        kind = {"list": "array", "str": "string", "int": "number", "float": "number"}.get(
            kind, kind
        )
        raise Reject(f"not a JSON object (a {kind})")
    return obj, exact


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
        raise Reject(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # includes UnicodeError
        raise Reject(f"invalid JSON: {exc}") from None
    return obj
