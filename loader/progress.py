"""Progress on a terminal: one self-rewriting line per file (bytes, MB/s, ETA),
and nothing at all when silent or not on a terminal, so callers never branch."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class _NoBar:
    def update(self, n: int) -> None:
        pass


class _Bar:
    """`label  120.5/742.0 MB  16%  48.1 MB/s  ETA 0:13`, redrawn at most 5 times a
    second; the last state stays on its line when done."""

    def __init__(self, length: int | None, label: str, stream, unit: str = "bytes"):
        self.length, self.label, self.stream, self.unit = length, label, stream, unit
        self.done = 0
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.drawn >= 0.2:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        if self.unit == "lines":
            text = f"{self.label}  {self.done:,} lines  {rate:,.0f} lines/s"
        else:
            text = f"{self.label}  {self.done / 1e6:,.1f}"
        if self.unit == "lines":
            pass
        elif self.length:
            left = (self.length - self.done) / rate if rate else 0
            text += (f"/{self.length / 1e6:,.1f} MB  {100 * self.done / self.length:3.0f}%  "
                     f"{rate / 1e6:,.1f} MB/s  ETA {int(left) // 60}:{int(left) % 60:02d}")
        else:
            text += f" MB  {rate / 1e6:,.1f} MB/s"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def finish(self) -> None:
        if self.done:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def progress_bar(length: int | None, label: str, silent: bool = False, unit: str = "bytes"):
    """A bar counting bytes of length (or lines, unit="lines") on stderr."""
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
