"""`loader status`: the operations view of a target, as text."""

from __future__ import annotations

from .audit import Section, status
from .backends import backend_for
from .profiles import Target


def collect(target: Target, max_rows: int = 20, lock_timeout: float = 10.0) -> list[Section]:
    """Connect, read the status sections (audit.status), close."""
    backend = backend_for(target)
    backend.connect(lock_timeout)
    try:
        return status(backend, max_rows)
    finally:
        backend.close()


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
