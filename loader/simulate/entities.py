"""The five Canvas entities, their first ids and the id counter every batch draws from."""

from __future__ import annotations

ENTITIES = ("users", "courses", "enrollments", "assignments", "submissions")
UPDATED_AT_ENTITIES = ("enrollments", "assignments")

FIRST_IDS = {
    "users": 1001,
    "courses": 101,
    "enrollments": 10001,
    "assignments": 5001,
    "submissions": 100001,
}


class Ids:
    """Hands out increasing ids per entity; the next free ones go into every manifest."""

    def __init__(self, next_ids: dict[str, int]):
        self.next = dict(next_ids)

    def take(self, entity: str) -> int:
        value = self.next[entity]
        self.next[entity] += 1
        return value
