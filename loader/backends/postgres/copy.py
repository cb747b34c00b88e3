"""Arrow table -> PostgreSQL binary COPY stream, with no Python loop per row.

Every row is `int16 field count`, then per field `int32 length` (-1 for NULL)
and the value's bytes. The values are built column-wise with pyarrow compute
and joined row-wise by binary_join_element_wise, so the work is in C++. This
is several times faster than text or CSV COPY (no escaping of the JSON's
quotes and backslashes, nothing for the server to parse) and than psycopg's
write_row loop. Supported types: int64, string, timestamp[us] (naive); a
string column named in jsonb goes to a jsonb column (its binary form is a
version byte, 1, and the JSON text, which the server parses as from text).
Values that are the same in every row (constants) are encoded once.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01, PostgreSQL's timestamp zero
_EMPTY = pa.scalar(b"", pa.binary())
_LEN8 = pa.scalar(struct.pack(">i", 8), pa.binary())
_NULL_LEN = pa.scalar(struct.pack(">i", -1), pa.binary())
_JSONB_VERSION = pa.scalar(b"\x01", pa.binary())
_ONE = pa.scalar(1, pa.int32())
# Keeps each joined slice far below Arrow's 2 GiB limit for one binary array.
_SLICE_BYTES = 64 << 20


def copy_batches(cursor, sql: str, batches: Iterable, **encoding) -> None:
    """One binary COPY (sql: copy ... from stdin (format binary)) of the batches."""
    with cursor.copy(sql) as copy:
        copy.write(HEADER)
        for batch in batches:
            write_batch(copy, batch, **encoding)
        copy.write(TRAILER)


def write_batch(copy, batch, **encoding) -> None:
    """One batch into an open binary COPY (copy_chunks' encoding options)."""
    for chunk in copy_chunks(batch, **encoding):
        copy.write(chunk)


def copy_chunks(table: pa.Table | pa.RecordBatch, jsonb: Iterable[str] = (),
                constants: Iterable = ()) -> Iterator[memoryview]:
    """The tuples of table in binary COPY format, without header and trailer: its
    columns (those named in jsonb as jsonb), then the constants (str, datetime
    or None) as the last fields of every row."""
    jsonb = frozenset(jsonb)
    constants = list(constants)
    tail = pa.scalar(b"".join(map(_encode_value, constants)), pa.binary())
    rows_per_slice = max(1, int(table.num_rows * _SLICE_BYTES / max(1, table.nbytes)))
    for start in range(0, table.num_rows, rows_per_slice):
        rows = _encode_rows(table.slice(start, rows_per_slice), jsonb, len(constants), tail)
        yield _data_of(rows)


def _encode_rows(table, jsonb: frozenset, n_constants: int, tail: pa.Scalar) -> pa.Array:
    parts = [pa.scalar(struct.pack(">h", table.num_columns + n_constants), pa.binary())]
    for name, column in zip(table.column_names, table.columns):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        parts += _encode_column(column, name in jsonb)
    return pc.binary_join_element_wise(*parts, tail, _EMPTY)


def _encode_value(value) -> bytes:
    """One constant field: length and bytes."""
    if value is None:
        return struct.pack(">i", -1)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise TypeError("binary COPY of an aware datetime is not supported")
        delta = value - datetime(2000, 1, 1)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return struct.pack(">iq", 8, micros)
    if isinstance(value, str):
        data = value.encode()
        return struct.pack(">i", len(data)) + data
    raise TypeError(f"binary COPY of a {type(value).__name__} constant is not supported")


def _encode_column(col: pa.Array, jsonb: bool = False) -> list:
    """[lengths, values] as binary arrays (or scalars) for one column."""
    if pa.types.is_string(col.type) and jsonb:
        if col.null_count:
            raise TypeError("binary COPY of a jsonb column with NULLs is not supported")
        lengths = _big_endian(pc.add(pc.binary_length(col), _ONE), "i")
        return [lengths, _JSONB_VERSION, col.cast(pa.binary())]
    if pa.types.is_string(col.type):
        lengths = _big_endian(pc.fill_null(pc.binary_length(col), -1), "i")
        return [lengths, pc.fill_null(col.cast(pa.binary()), _EMPTY)]
    if pa.types.is_timestamp(col.type):
        ints = pc.subtract(col.cast(pa.int64()), _PG_EPOCH_US)
    elif pa.types.is_int64(col.type):
        ints = col
    else:
        raise TypeError(f"binary COPY of {col.type} is not supported")
    values = _big_endian(pc.fill_null(ints, 0), "q")
    if not col.null_count:
        return [_LEN8, values]
    valid = col.is_valid()
    return [pc.if_else(valid, _LEN8, _NULL_LEN), pc.if_else(valid, values, _EMPTY)]


def _big_endian(ints: pa.Array, code: str) -> pa.Array:
    """Fixed-width integers (no nulls) as a binary array of their big-endian bytes."""
    width = array(code).itemsize
    if ints.type.bit_width != width * 8:
        raise TypeError(f"expected {width * 8}-bit integers, got {ints.type}")
    values = array(code)
    values.frombytes(_buffer_bytes(ints.buffers()[1], ints.offset * width, len(ints) * width))
    if sys.byteorder == "little":
        values.byteswap()
    fixed = pa.Array.from_buffers(pa.binary(width), len(ints), [None, pa.py_buffer(values)])
    return fixed.cast(pa.binary())


def _data_of(rows: pa.Array) -> memoryview:
    """The bytes of a binary array's values, back to back (no copy)."""
    offsets = array("i")
    offsets.frombytes(_buffer_bytes(rows.buffers()[1], rows.offset * 4, (len(rows) + 1) * 4))
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]


def _buffer_bytes(buffer: pa.Buffer, start: int, size: int) -> memoryview:
    return memoryview(buffer)[start:start + size]
