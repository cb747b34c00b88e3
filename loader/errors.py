"""The loader's own exceptions. The CLI turns them into one-line messages with a hint."""


class LoaderError(Exception):
    """Base class: `message` says what went wrong, `hint` what to do about it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}. {self.hint}"


class ConfigError(LoaderError):
    """A profile, target or pipeline config is missing or wrong."""


class InputFileError(LoaderError):
    """The input file cannot be read at all (missing, unreadable, not JSONL)."""


class IdentifierError(LoaderError):
    """A table, schema or source name is not a plain identifier."""


class RejectLimitExceeded(LoaderError):
    """More bad lines than --max-rejects: the load wrote no data."""


class ConnectionFailed(LoaderError):
    """The database could not be reached or refused the credentials."""


class LockTimeout(LoaderError):
    """Another load of the same source held the lock longer than --lock-timeout."""


class TableShapeError(LoaderError):
    """A raw table exists but does not have the raw contract's columns."""


class UnsupportedServer(LoaderError):
    """The database server is older than the project supports."""


class SnapshotTooSmall(LoaderError):
    """A snapshot that would delete more of a source's live rows than it allows."""


class RollbackRefused(LoaderError):
    """A load cannot be rolled back (unknown, not committed, built on, no history)."""
