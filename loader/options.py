"""What a load is asked to do (LoadOptions), checked once, whoever asks.

`loader load` fills it from its options, `loader run` from a pipeline.yml
source; the checks are the same and their messages name the setting as the
user wrote it (--updated-field on the command line, updated_field in
pipeline.yml).
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from datetime import timedelta

from .data_contract import compile_contract, load_contract
from .errors import LoaderError
from .identifiers import check_field_name, check_source_name, parse_table_name

# The record shapes a source can declare (loader/read/envelopes.py reads them).
SHAPE_NAMES = ("auto", "plain", "cd2", "debezium")
# How a source's records reach raw (loader/backends/apply.py): latest version
# wins; immutable events, an id already present is skipped; the complete
# current set, ids absent from it are deleted.
STRATEGY_NAMES = ("upsert", "append", "snapshot")

# How each setting is written, and how a value is given to it, per origin.
SPELLINGS = {
    "cli": {"id_field": "--id-field", "updated_field": "--updated-field",
            "incremental": "--incremental", "max_rejects": "--max-rejects", "shape": "--shape",
            "strategy": "--strategy", "snapshot_min_ratio": "--allow-shrink",
            "contract": "--contract", "give": " "},
    "pipeline": {"id_field": "id_field", "updated_field": "updated_field",
                 "incremental": "incremental", "max_rejects": "max_rejects", "shape": "shape",
                 "strategy": "strategy", "snapshot_min_ratio": "snapshot_min_ratio",
                 "contract": "contract", "give": ": "},
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
    strategy: str = "upsert"  # upsert | append | snapshot (backends/apply.py)
    # snapshot: fail when the file holds fewer ids than this share of raw's live rows
    snapshot_min_ratio: float = 0.5
    # A JSON Schema every record must meet (a mapping), or the path of a .json/.yml
    # file holding one; read and compiled here (data_contract.py); None for none.
    contract: dict | str | None = None
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
        self._check_strategy(words)
        self.contract = load_contract(self.contract, words["contract"])
        # Not a field: the compiled check, made again by dataclasses.replace.
        self.contract_validator = compile_contract(self.contract, words["contract"])
        self.table = f"{schema}.{name}"
        self.source_name = check_source_name(self.source_name or name)

    def _check_strategy(self, words: dict) -> None:
        if self.strategy not in STRATEGY_NAMES:
            raise LoaderError(f"{words['strategy']} must be one of {', '.join(STRATEGY_NAMES)}, "
                              f"not {self.strategy!r}")
        ratio = self.snapshot_min_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise LoaderError(f"{words['snapshot_min_ratio']} must be a share between 0 and 1, "
                              f"not {ratio!r}", "e.g. 0.5: a snapshot may not lose more than "
                              "half of the live rows")

    @property
    def schema_and_name(self) -> tuple[str, str]:
        schema, name = self.table.split(".")
        return schema, name
