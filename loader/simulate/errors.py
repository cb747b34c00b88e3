"""The simulator's one exception."""

from __future__ import annotations

from loader.errors import LoaderError


class SimulateError(LoaderError):
    """The simulator refuses the request (bad arguments or the directory's state)."""
