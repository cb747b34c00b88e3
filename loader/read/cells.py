"""What the readers of non-JSONL files share: a bad row, and column names.

A reader of CSV, JSON arrays or spreadsheets yields (number, value): value is
a record (a dict), a Bad row (reject it with its reason), or None (a blank
row, counted, not a record). number is the row's place for meta.load_reject:
the file line a CSV row starts on, the position of a JSON array element
(1 = the first), a spreadsheet row as the spreadsheet shows it. `position`
is how many bytes of the input the reader has consumed (for progress).
"""

from __future__ import annotations

from pathlib import Path


class RowReader:
    """What the readers share: the file, its name in messages, its format, and
    `position` (bytes of the input consumed so far)."""

    def __init__(self, path: Path, fmt, name: str | None = None):
        self.path = Path(path)
        self.name = name or str(path)
        self.fmt = fmt
        self.position = 0


class Bad:
    """A row that cannot be a record: why, and its start as text."""

    __slots__ = ("reason", "text")

    def __init__(self, reason: str, text: str):
        self.reason = reason
        self.text = text


def header_names(cells: list) -> list[str]:
    """Column names from a header row's cells, each unique and non-empty.

    An empty cell takes the name of the nearest named cell to its left with a
    suffix (a merged header cell 'Score' over three columns gives Score,
    Score_2, Score_3: spreadsheets keep a merged cell's text in its first
    cell only); before any named cell, column_<n>. A name seen before also gets
    the next free suffix. Trailing empty cells are not columns."""
    texts = ["" if c is None else str(c).strip() for c in cells]
    while texts and not texts[-1]:
        texts.pop()
    names: list[str] = []
    taken: set[str] = set()
    last = None
    for number, text in enumerate(texts, start=1):
        base = text or last or f"column_{number}"
        if text:
            last = text
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(name)
    return names
