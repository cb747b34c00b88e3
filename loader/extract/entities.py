"""What an extract reads: the five entities, their endpoints, and the profiles
(pipeline.yml `extract:`) that choose entities and the API's include[] options.

Every entity but courses is read per course. Submissions are the only entity
the REST API can filter by change time (`submitted_since`, `graded_since`), so
they alone have a cursor per course: the latest submitted_at/graded_at a
complete extract saw. The others have no change filter in the API and are read
whole each time (the load then skips what did not change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from ..errors import ConfigError

ENTITIES = ("users", "courses", "enrollments", "assignments", "submissions")
# Per course: the endpoint and the fixed query of each entity but courses.
COURSE_ENDPOINTS = {
    "users": ("/api/v1/courses/{id}/users", []),
    "enrollments": ("/api/v1/courses/{id}/enrollments", []),
    "assignments": ("/api/v1/courses/{id}/assignments", []),
    "submissions": ("/api/v1/courses/{id}/students/submissions", [("student_ids[]", "all")]),
}
CURSOR_ENTITY = "submissions"
CURSOR_FILTERS = ("submitted_since", "graded_since")
CURSOR_FIELDS = ("submitted_at", "graded_at")
# A record changed in the cursor's own second is read again rather than missed.
CURSOR_OVERLAP = timedelta(seconds=1)


@dataclass(frozen=True)
class Profile:
    name: str
    entities: tuple[str, ...] = ENTITIES
    include: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def params(self, entity: str) -> list[tuple[str, str]]:
        return [("include[]", v) for v in self.include.get(entity, ())]


DEFAULT_PROFILE = Profile("all")


def read_profile(config: Path, name: str | None) -> Profile:
    """Profile `name` of config's `extract: profiles:` (None: its default_profile, or
    every entity without include[] when the file has no extract section)."""
    try:
        doc = yaml.safe_load(config.read_text()) if config.is_file() else {}
    except yaml.YAMLError:
        raise ConfigError(f"{config}: not valid YAML", "Fix the file") from None
    section = (doc or {}).get("extract") or {}
    profiles = section.get("profiles") or {}
    name = name or section.get("default_profile")
    if name is None:
        return DEFAULT_PROFILE
    if name not in profiles:
        raise ConfigError(f"{config}: no extract profile {name!r}",
                          f"Known profiles: {', '.join(profiles) or '(none)'}")
    return _profile(name, profiles[name] or {}, f"{config}: extract profile {name!r}")


def _profile(name: str, entry: dict, where: str) -> Profile:
    entities = tuple(entry.get("entities") or ENTITIES)
    unknown = sorted(set(entities) - set(ENTITIES))
    if unknown:
        raise ConfigError(f"{where}: unknown entity {unknown[0]!r}",
                          f"Known entities: {', '.join(ENTITIES)}")
    include = entry.get("include") or {}
    if not isinstance(include, dict) or not all(
            k in ENTITIES and isinstance(v, list) and all(isinstance(i, str) for i in v)
            for k, v in include.items()):
        raise ConfigError(f"{where}: include must map entity names to lists of include[] "
                          "values", "For example include: {submissions: [submission_comments]}")
    return Profile(name, entities, {k: tuple(v) for k, v in include.items()})


def parse_time(value) -> datetime | None:
    """A Canvas timestamp (ISO-8601, Z or offset) as aware UTC; None if absent or not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_change(records: list, current: datetime | None) -> datetime | None:
    """The latest submitted_at/graded_at among records, or current if later."""
    for record in records:
        for name in CURSOR_FIELDS:
            t = parse_time(record.get(name)) if isinstance(record, dict) else None
            if t is not None and (current is None or t > current):
                current = t
    return current


def since_queries(cursor: datetime | None) -> list[list[tuple[str, str]]]:
    """The submissions queries a course needs: one without a filter (no cursor), or
    one per change filter from the cursor (less the overlap)."""
    if cursor is None:
        return [[]]
    since = format_time(cursor - CURSOR_OVERLAP)
    return [[(name, since)] for name in CURSOR_FILTERS]
