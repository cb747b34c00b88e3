"""Progress on a terminal: one self-rewriting line per file (bytes, rows, rows/s, ETA),
and nothing at all when silent or not on a terminal, so callers never branch."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class _NoBar:
    def update(self, n: int, rows: int = 0) -> None:
        pass


class _Bar:
    """`label  120.5/742.0 MB  16%  162,340 rows  51,200 rows/s  ETA 0:13` (bytes
    of a file of known length; rows when the reader counts them), or `label
    12,000 lines  48,000 lines/s` (unit="lines"); redrawn at most 5 times a
    second, the last state left on its line when done."""

    def __init__(self, length: int | None, label: str, stream, unit: str = "bytes"):
        self.length, self.label, self.stream, self.unit = length, label, stream, unit
        self.done = self.rows = 0
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, n: int, rows: int = 0) -> None:
        """n more bytes (or lines) done, holding rows more rows."""
        self.done += n
        self.rows += rows
        now = time.monotonic()
        if now - self.drawn >= 0.2:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.text(max(now - self.started, 1e-6)) + "\x1b[K")
        self.stream.flush()

    def text(self, elapsed: float) -> str:
        if self.unit == "lines":
            return f"{self.label}  {self.done:,} lines  {self.done / elapsed:,.0f} lines/s"
        text = f"{self.label}  {self.done / 1e6:,.1f}"
        text += f"/{self.length / 1e6:,.1f} MB  {100 * self.done / self.length:3.0f}%" \
            if self.length else " MB"
        if self.rows:
            text += f"  {self.rows:,} rows  {self.rows / elapsed:,.0f} rows/s"
        else:
            text += f"  {self.done / elapsed / 1e6:,.1f} MB/s"
        if self.length:
            left = (self.length - self.done) * elapsed / self.done if self.done else 0
            text += f"  ETA {int(left) // 60}:{int(left) % 60:02d}"
        return text

    def finish(self) -> None:
        if self.done:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def progress_bar(length: int | None, label: str, silent: bool = False, unit: str = "bytes"):
    """A bar counting bytes of length and the rows they hold (or lines,
    unit="lines") on stderr: its update(n, rows=0) is the progress callback."""
    if silent or not sys.stderr.isatty():
        yield _NoBar()
        return
    bar = _Bar(length, label, sys.stderr, unit)
    try:
        yield bar
    finally:
        bar.finish()


@contextmanager
def status_line(silent: bool = False):
    """A function that rewrites one line on stderr (e.g. dbt's node count); a no-op
    when silent or not on a terminal."""
    if silent or not sys.stderr.isatty():
        yield lambda text: None
        return
    shown = []

    def show(text: str) -> None:
        shown.append(True)
        sys.stderr.write("\r" + text + "\x1b[K")
        sys.stderr.flush()

    try:
        yield show
    finally:
        if shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
