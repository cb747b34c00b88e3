"""A file as blocks of lines, and the odd-line rules, written once.

Reading is byte blocks (4 MiB) split with bytes.split; a gzip stream is read
line by line, so a damaged file fails after the lines before the damage.
Each line's offset in the (unzipped) file is kept, so a line can be cut out
of the file again later. The rules for lines that are not plain records: a
UTF-8 BOM on line 1 is dropped, trailing CRs are stripped, a blank line is
not a record (only counted), and a file declared JSON Lines whose first
content is a JSON array is refused with a hint (formats.py finds such a file a
JSON array when the format is not declared).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Iterator

import orjson

from ..errors import InputFileError
from .files import open_input
from .records import UTF8_BOM

BLOCK_BYTES = 4 << 20
_DIGIT_RUN = b"0" * 20  # records.LONG_DIGITS: 20 digits in a row
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 46 for i in range(256))


class Block:
    """Complete lines (without their newline) starting at `start` in the file.

    `careful`: a line of the block may hold a CR or a run of 20 digits (the
    strict parser reads those with the standard library); per-line checks are
    needed only then. `last_newline`: the last line ends with a newline (every
    block but the file's last may assume so). The lines are split on first use:
    a reader that cuts lines out by offset (data, size) never pays for it."""

    __slots__ = ("start", "data", "size", "last_newline", "_lines")

    def __init__(self, start: int, data: bytes, size: int, last_newline: bool):
        self.start = start
        self.data = data  # the lines are data[:size]; a partial line may follow
        self.size = size
        self.last_newline = last_newline
        self._lines = None

    @property
    def lines(self) -> list[bytes]:
        if self._lines is None:
            self._lines = self.data.split(b"\n")
            if self.last_newline:
                self._lines.pop()  # the partial line after data[:size], read again next block
        return self._lines

    @property
    def careful(self) -> bool:
        data = self.data
        return b"\r" in data or _DIGIT_RUN in data.translate(_DIGITS_TO_ZERO)


def blocks(path: Path) -> Iterator[Block]:
    """The file's lines, block by block, with their offsets."""
    fh = open_input(path)
    carry = b""
    start = 0
    try:
        for data, error in _raw_chunks(fh):
            if data:
                if carry:
                    data = carry + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                else:
                    carry = data[cut + 1:]
                    yield Block(start, data, cut, True)
                    start += cut + 1
            if error is not None:
                raise error
        if carry:
            yield Block(start, carry, len(carry), False)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(f"{path}: cannot be read to the end ({exc})") from None
    finally:
        fh.close()


def _raw_chunks(fh):
    """(bytes, None) blocks of about BLOCK_BYTES; at a read error, (what was read
    before it, the error). A gzip stream is read line by line, so a damaged
    file gives up after the lines before the damage."""
    if not isinstance(fh, gzip.GzipFile):
        while True:
            data = fh.read(BLOCK_BYTES)
            if not data:
                return
            yield data, None
    pieces: list = []
    size = 0
    try:
        for line in fh:
            pieces.append(line)
            size += len(line)
            if size >= BLOCK_BYTES:
                yield b"".join(pieces), None
                pieces, size = [], 0
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield b"".join(pieces), exc
        return
    if pieces:
        yield b"".join(pieces), None


class LineRules:
    """The odd-line rules for one file (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self.first_content = True

    def clean(self, raw: bytes, number: int) -> tuple[bytes, int] | None:
        """(the line's content, bytes dropped from its start), or None for a blank line."""
        skip = 0
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
            skip = len(UTF8_BOM)
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            return None
        if self.first_content:
            self.first_content = False
            if raw.lstrip().startswith(b"["):
                refuse_array_file(self.path, raw, number)
        return raw, skip


def refuse_array_file(path: Path, first: bytes, number: int = 1) -> None:
    """A file that is one JSON array (not JSONL) is a user mistake worth its own message."""
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        value = None
    if value is None or (isinstance(value, list) and value and isinstance(value[0], dict)):
        raise InputFileError(
            f"{path}:{number}: this looks like a JSON array, not JSON Lines "
            "(one object per line)",
            "Load it as a JSON array with --format json (format: json in pipeline.yml), "
            "or convert it: `jq -c '.[]' file.json > file.jsonl`",
        )
