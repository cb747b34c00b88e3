"""The lean per-line parser: the strict parser's verdict on plainly valid lines,
at a fraction of its cost.

A line that parses with orjson into an object with a usable id (an integer, or
a non-blank string of at most MAX_ID_LENGTH characters), a good updated
timestamp or none, and that orjson can write back (sorted keys) is a record:
its id, SHA-256 of the canonical JSON and timestamp, exactly what
RecordParser.parse returns for it. Anything else (a parse error, not an
object, a missing or odd id, a bad or future timestamp, a line the caller
marks as holding a 20-digit run) returns None, and RecordParser decides.

A source with a data contract passes its check: the parsed object is checked
against the contract, so a line is parsed once; a line that breaks it returns
None too (the strict parser writes the reject, naming the field and the rule).
Without a contract the check costs one `is not None` test a line.
"""

from __future__ import annotations

from hashlib import sha256

import orjson

from .records import MAX_ID_LENGTH, RecordParser, get_path, parse_timestamp


def _settings(strict: RecordParser) -> tuple:
    """What the per-line functions read of strict's settings: the id path and its one
    key (None for a dotted path), the same for the updated field, whether there is
    one, the future limit."""
    id_path, upd_path = strict.id_path, strict.updated_path
    id_key = id_path[0] if len(id_path) == 1 else None
    upd_key = upd_path[0] if upd_path is not None and len(upd_path) == 1 else None
    return id_path, id_key, upd_path, upd_key, upd_path is not None, strict.future_limit


def lean_parser(strict: RecordParser, check=None):
    """A function raw -> (id, hash, updated_at) or None, for strict's settings
    (plain records only: an envelope is always the strict parser's). With check
    (contract_check's function for a source with a contract) a record that breaks
    the contract is None too."""
    if strict.envelope is not None:
        return lambda raw: None
    id_path, id_key, upd_path, upd_key, with_updated, future_limit = _settings(strict)
    loads, dumps, sort_keys = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS

    def parse(raw: bytes):
        try:
            obj = loads(raw)
            if type(obj) is not dict or obj.get("workflow_state") == "deleted":
                return None  # not a record, or a soft delete: the strict parser's
            rid = obj.get(id_key) if id_key is not None else get_path(obj, id_path)
            kind = type(rid)
            if kind is int:
                rid = str(rid)
            elif kind is not str or len(rid) > MAX_ID_LENGTH or not rid.strip():
                return None
            ts = None
            if with_updated:
                value = obj.get(upd_key) if upd_key is not None else get_path(obj, upd_path)
                if value is not None:
                    ts = parse_timestamp(value)
                    if ts > future_limit:
                        return None
            digest = sha256(dumps(obj, option=sort_keys)).hexdigest()
            if check is not None and check(obj) is not None:  # after the hash: the
                return None  # check cannot touch what is hashed
            return rid, digest, ts
        except (ValueError, TypeError, OverflowError):
            return None

    return parse
