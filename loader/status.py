"""`loader status`: the operations view of a target, as text."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from .audit import Section, load_rejects, status
from .backends import backend_for
from .errors import ConfigError
from .profiles import Target


@contextmanager
def reading(target: Target, lock_timeout: float = 10.0):
    """An open backend for a command that only reads. A DuckDB file that does not
    exist is an error saying where it looked, never a new empty database."""
    if target.type == "duckdb":
        path = str(target.config.get("path"))
        if path != ":memory:" and not Path(path).is_file():
            raise ConfigError(
                f"no DuckDB database at {path} (the {target.name} target's path, relative "
                "to the project directory): nothing was loaded there yet",
                "Run `loader run` first, or point CANVAS_DUCKDB_PATH at the database")
    backend = backend_for(target)
    backend.connect(lock_timeout)
    try:
        yield backend
    finally:
        backend.close()


def collect(target: Target, max_rows: int = 20, lock_timeout: float = 10.0) -> list[Section]:
    """Connect, read the status sections (audit.status), close."""
    with reading(target, lock_timeout) as backend:
        return status(backend, max_rows)


def format_rejects(target: Target, load_id: str, lock_timeout: float = 10.0) -> str:
    """`loader rejects LOAD_ID`: each rejected line as file:line, reason, excerpt."""
    with reading(target, lock_timeout) as backend:
        rows = load_rejects(backend, load_id)
    if rows is None:
        raise ConfigError(f"no load {load_id!r} in meta.load_file",
                          "Copy the load id from `loader run`'s output or `loader status`")
    if not rows:
        return f"load {load_id}: no rejected lines"
    out = [f"load {load_id}: {len(rows)} rejected line" + ("" if len(rows) == 1 else "s")]
    for source_file, line, reason, excerpt in rows:
        out.append(f"{source_file}:{line}: {reason}\n    {excerpt}")
    return "\n".join(out)


def format_status(target: Target, sections: list[Section]) -> str:
    parts = [target.describe()]
    for section in sections:
        parts.append(f"\n== {section.title}\n{format_section(section)}")
    return "\n".join(parts)


def format_section(section: Section, width: int = 60) -> str:
    if section.note:
        return f"  ({section.note})"
    text = format_table(section.columns, section.rows, width)
    if section.more:
        text += f"\n  ... and {section.more} more"
    return text


def format_table(cols: list[str], rows: list[tuple], width: int = 60) -> str:
    if not rows:
        return "  (none)"
    cells = [[_cell(v, width) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  " + "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *map(line, cells)])


def _cell(value, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."
