"""What PostgreSQL text cannot hold: U+0000, in text or as jsonb's \\u0000 escape
(DuckDB and SQL Server can). Such records become rejects instead of failing
the load; an audit row's text gets U+FFFD instead."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ...read import EXCERPT_CHARS

_NUL_ESCAPE = r"(^|[^\\])(\\\\)*\\u0000"
_UNSTORABLE = "contains U+0000 (\\u0000), which PostgreSQL cannot store in text or jsonb"


def split_unstorable(batch: pa.Table) -> tuple[pa.Table, list]:
    """PostgreSQL text cannot hold U+0000, nor jsonb the escape \\u0000 (DuckDB and
    SQL Server can): such records become rejects instead of failing the load."""
    ids, payloads = batch.column("id"), batch.column("payload")
    bad = pc.or_(pc.match_substring(ids, "\x00"), pc.match_substring(payloads, "\\u0000"))
    if not pc.any(bad).as_py():
        return batch, []
    # Only an odd number of backslashes makes an escape ("\\\\u0000" is text).
    bad = pc.or_(pc.match_substring(ids, "\x00"),
                 pc.match_substring_regex(payloads, _NUL_ESCAPE))
    rejected = batch.filter(bad)
    rejects = [
        (line, _UNSTORABLE, excerpt[:EXCERPT_CHARS])
        for line, excerpt in zip(rejected.column("line_number").to_pylist(),
                                 rejected.column("payload").to_pylist())
    ]
    return batch.filter(pc.invert(bad)), rejects


def storable(row: tuple) -> tuple:
    """An audit row's text (a rejected line's excerpt) may hold U+0000 itself."""
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)
