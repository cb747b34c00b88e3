"""A progress bar that is a no-op when silent or not on a terminal, so callers never branch."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click


class _NoBar:
    def update(self, n: int) -> None:
        pass


@contextmanager
def progress_bar(length: int | None, label: str, silent: bool = False):
    if silent or not sys.stderr.isatty():
        yield _NoBar()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar
