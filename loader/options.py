"""What a load is asked to do (LoadOptions), checked once, whoever asks.

`loader load` fills it from its options, `loader run` from a pipeline.yml
source; the checks are the same and their messages name the setting as the
user wrote it (--updated-field on the command line, updated_field in
pipeline.yml).
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from datetime import timedelta

from .errors import LoaderError
from .identifiers import check_field_name, check_source_name, parse_table_name

# The record shapes a source can declare (loader/read/envelopes.py reads them).
SHAPE_NAMES = ("auto", "plain", "cd2", "debezium")

# How each setting is written, and how a value is given to it, per origin.
SPELLINGS = {
    "cli": {"id_field": "--id-field", "updated_field": "--updated-field",
            "incremental": "--incremental", "max_rejects": "--max-rejects", "shape": "--shape",
            "give": " "},
    "pipeline": {"id_field": "id_field", "updated_field": "updated_field",
                 "incremental": "incremental", "max_rejects": "max_rejects", "shape": "shape",
                 "give": ": "},
}


@dataclass
class LoadOptions:
    table: str
    id_field: str = "id"
    source_name: str | None = None
    updated_field: str | None = None
    incremental: bool = False
    max_rejects: int = 100
    force: bool = False
    lock_timeout: float = 60.0
    batch_size: int = 50_000
    max_future: timedelta = timedelta(days=366)
    shape: str = "auto"  # plain | cd2 | debezium | auto (read/envelopes.py)
    history: bool = True  # keep replaced and deleted versions (raw.<table>__history)
    spelling: InitVar[str] = "cli"

    def __post_init__(self, spelling: str) -> None:
        """Checked and normalized: the table schema-qualified, the source named."""
        words = SPELLINGS[spelling]
        schema, name = parse_table_name(self.table)
        check_field_name(self.id_field, words["id_field"])
        if self.updated_field:
            check_field_name(self.updated_field, words["updated_field"])
        if self.incremental and not self.updated_field:
            raise LoaderError(
                f"{words['incremental']} needs {words['updated_field']}",
                "Name the record's change timestamp, "
                f"e.g. {words['updated_field']}{words['give']}updated_at",
            )
        if self.shape not in SHAPE_NAMES:
            raise LoaderError(f"{words['shape']} must be one of {', '.join(SHAPE_NAMES)}, "
                              f"not {self.shape!r}")
        if self.max_rejects < 0:
            raise LoaderError(f"{words['max_rejects']} must be 0 or more")
        self.table = f"{schema}.{name}"
        self.source_name = check_source_name(self.source_name or name)

    @property
    def schema_and_name(self) -> tuple[str, str]:
        schema, name = self.table.split(".")
        return schema, name
