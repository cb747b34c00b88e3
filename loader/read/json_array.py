"""A JSON array of objects as records: the whole file is one JSON document.

The array is the document itself (`[{...}, {...}]`) or sits at a declared
path in it (json_path `data` for `{"data": [...]}`, `result.items` deeper).
Streamed by ijson (its C backend, yajl2_c, when the wheel has it): one
element is in memory at a time, whatever the file's size. An element's number
(its position, 1 = the first) is its "line" in meta.load_reject; an element
that is not an object (a nested array, a number, null) is a reject. A syntax
error ends the file: JSON has no line to resume at, so the load fails with
the element it stopped after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import ijson
import orjson

from ..errors import InputFileError
from .cells import Bad, RowReader
from .files import open_input
from .formats import FileFormat

_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
          bool: "a boolean", type(None): "null"}


class JsonArrayRecords(RowReader):
    """Iterate for (element number, record | Bad); see cells.py."""

    def __init__(self, path: Path, fmt: FileFormat, name: str | None = None):
        super().__init__(path, fmt, name)
        self.json_path = fmt.json_path

    @property
    def prefix(self) -> str:
        return f"{self.json_path}.item" if self.json_path else "item"

    def __iter__(self) -> Iterator[tuple[int, object]]:
        done = 0
        try:
            for value in self._elements(ijson, 0):
                done += 1
                yield done, _judged(done, value)
        except ijson.JSONError as exc:
            if "integer overflow" not in str(exc):
                raise self._syntax_error(done, exc) from None
            # The C parser stops at an integer beyond 64 bits; the pure-Python one
            # reads it exactly: it goes on from the element after the last one read.
            try:
                for value in self._elements(_python_backend(), done):
                    done += 1
                    yield done, _judged(done, value)
            except ijson.JSONError as exc2:
                raise self._syntax_error(done, exc2) from None
        if done == 0:
            self._check_array_found()

    def _elements(self, backend, skip: int) -> Iterator:
        """The array's elements after the first `skip`, by the given ijson backend."""
        with open_input(self.path) as fh:
            tell = fh.tell
            items = backend.items(fh, self.prefix, use_float=True)
            for _ in range(skip):
                next(items)
            for number, value in enumerate(items, start=skip + 1):
                if not number & 1023:
                    self.position = tell()
                yield value
            self.position = tell()

    def _syntax_error(self, done: int, exc) -> InputFileError:
        return InputFileError(
            f"{self.name}: not valid JSON after array element {done} ({_first_line(exc)})",
            "Check the file is one complete JSON document; "
            "nothing of it was loaded")

    def _check_array_found(self) -> None:
        """No element: an empty array is fine; a missing one is the user's to fix."""
        where = self.json_path or ""
        with open_input(self.path) as fh:
            try:
                for prefix, event, _ in ijson.parse(fh):
                    if prefix == where and event in ("start_array", "start_map", "string",
                                                     "number", "boolean", "null"):
                        if event == "start_array":
                            return
                        break
            except ijson.JSONError as exc:
                raise InputFileError(f"{self.name}: not valid JSON ({exc})",
                                     "Check the file is one complete JSON document") from None
        if self.json_path:
            raise InputFileError(
                f"{self.name}: no JSON array at {self.json_path!r}",
                "Check --json-path (json_path: in pipeline.yml): the keys down to the array, "
                "dot-separated, e.g. data")
        raise InputFileError(
            f"{self.name}: the document is not a JSON array",
            "Name the array inside it with --json-path (json_path: in pipeline.yml), e.g. data")


def _judged(number: int, value):
    """An element as a record, or a Bad one when it is not an object."""
    if isinstance(value, dict):
        return value
    kind = _KINDS.get(type(value), "not an object")
    return Bad(f"array element {number} is {kind}, not a JSON object", _text(value))


def _python_backend():
    return ijson.get_backend("python")


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _text(value) -> str:
    try:
        return orjson.dumps(value).decode()[:200]
    except TypeError:
        return repr(value)[:200]
