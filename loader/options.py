"""What a load is asked to do (LoadOptions), checked once, whoever asks.

`loader load` fills it from its options, `loader run` from a pipeline.yml
source; the checks are the same and their messages name the setting as the
user wrote it (--updated-field on the command line, updated_field in
pipeline.yml).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import InitVar, dataclass
from datetime import timedelta

from .data_contract import compile_contract, load_contract
from .errors import LoaderError
from .identifiers import check_field_name, check_source_name, parse_table_name

# The record shapes a source can declare (loader/read/envelopes.py reads them).
SHAPE_NAMES = ("auto", "plain", "cd2", "debezium")
# The file formats a source can declare (loader/read/formats.py detects them).
FORMAT_NAMES = ("auto", "jsonl", "json", "csv", "tsv", "xlsx", "xls", "ods")
# The types a CSV column can declare (loader/read/delimited.py converts them).
COLUMN_TYPES = ("text", "integer", "number", "boolean")
_JSON_PATH = re.compile(r"[^.\s]+(\.[^.\s]+)*")
# How a source's records reach raw (loader/backends/apply.py): latest version
# wins; immutable events, an id already present is skipped; the complete
# current set, ids absent from it are deleted.
STRATEGY_NAMES = ("upsert", "append", "snapshot")
SIMULATE_SHAPES = ("rest", "cd2")  # what `loader simulate --shape` writes

# How each setting is written, and how a value is given to it, per origin.
SPELLINGS = {
    "cli": {"id_field": "--id-field", "updated_field": "--updated-field",
            "incremental": "--incremental", "max_rejects": "--max-rejects", "shape": "--shape",
            "format": "--format", "delimiter": "--delimiter", "encoding": "--encoding",
            "sheet": "--sheet", "header_row": "--header-row", "json_path": "--json-path",
            "null_values": "--null-value", "types": "--type",
            "strategy": "--strategy", "snapshot_min_ratio": "--allow-shrink",
            "contract": "--contract", "give": " ",
            "types_example": "--type grade_level=integer (COLUMN=TYPE, repeatable)"},
    "pipeline": {"id_field": "id_field", "updated_field": "updated_field",
                 "incremental": "incremental", "max_rejects": "max_rejects", "shape": "shape",
                 "format": "format", "delimiter": "delimiter", "encoding": "encoding",
                 "sheet": "sheet", "header_row": "header_row", "json_path": "json_path",
                 "null_values": "null_values", "types": "types",
                 "strategy": "strategy", "snapshot_min_ratio": "snapshot_min_ratio",
                 "contract": "contract", "give": ": ",
                 "types_example": "types: {grade_level: integer}"},
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
    # The file's format and its reader's settings (read/formats.py, FileFormat).
    format: str = "auto"
    delimiter: str | None = None
    encoding: str = "utf-8"
    sheet: str | None = None
    header_row: int = 1
    json_path: str | None = None
    null_values: tuple[str, ...] = ("",)
    types: dict | None = None  # CSV column -> one of COLUMN_TYPES; other columns stay text
    strategy: str = "upsert"  # upsert | append | snapshot (backends/apply.py)
    # snapshot: fail when the file holds fewer ids than this share of raw's live rows
    snapshot_min_ratio: float = 0.5
    # A JSON Schema every record must meet (a mapping), or the path of a .json/.yml
    # file holding one; read and compiled here (data_contract.py); None for none.
    contract: dict | str | None = None
    payload_drift: bool = True  # profile the payload keys (read/profile.py, drift.py)
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
        self._check_format(words)
        self._check_strategy(words)
        self.contract = load_contract(self.contract, words["contract"])
        # Not a field: the compiled check, made again by dataclasses.replace.
        self.contract_validator = compile_contract(self.contract, words["contract"])
        self.table = f"{schema}.{name}"
        self.source_name = check_source_name(self.source_name or name)

    def _check_format(self, words: dict) -> None:
        """The format and its reader's settings (see FileFormat)."""
        if self.format not in FORMAT_NAMES:
            raise LoaderError(f"{words['format']} must be one of {', '.join(FORMAT_NAMES)}, "
                              f"not {self.format!r}")
        if self.delimiter is not None and (len(self.delimiter) != 1 or
                                           self.delimiter in '"\r\n'):
            raise LoaderError(f"{words['delimiter']} must be one character (not a quote or a "
                              f"newline), not {self.delimiter!r}",
                              f"e.g. {words['delimiter']}{words['give']}';'")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise LoaderError(f"{words['encoding']}: unknown encoding {self.encoding!r}",
                              "e.g. utf-8, cp1252, latin-1") from None
        if isinstance(self.header_row, bool) or not isinstance(self.header_row, int) \
                or self.header_row < 1:
            raise LoaderError(f"{words['header_row']} must be a row number from 1, "
                              f"not {self.header_row!r}")
        if self.json_path is not None and not _JSON_PATH.fullmatch(self.json_path):
            raise LoaderError(f"{words['json_path']} must be keys separated by dots, "
                              f"not {self.json_path!r}", f"e.g. {words['json_path']}"
                              f"{words['give']}data")
        if self.sheet is not None:
            self.sheet = str(self.sheet)
            if not self.sheet.strip():
                raise LoaderError(f"{words['sheet']} must name a sheet")
        nulls = self.null_values
        if isinstance(nulls, str) or not all(isinstance(v, str) for v in nulls):
            raise LoaderError(f"{words['null_values']} must be a list of texts, "
                              f"not {nulls!r}", f"e.g. {words['null_values']}"
                              f"{words['give']}['', 'NULL']")
        self.null_values = tuple(nulls)
        self.types = _column_types(self.types, words)

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


def _column_types(given, words: dict) -> dict | None:
    """types checked: a mapping column -> one of COLUMN_TYPES. The command line gives
    COLUMN=TYPE texts (--type, repeatable), split at the last '=' (a type has none, a
    column name may) and then checked as pipeline.yml's mapping is."""
    if not given:
        return None
    types = given
    if words is SPELLINGS["cli"] and isinstance(given, (list, tuple)):
        types = {}
        for text in given:
            column, equals, kind = str(text).rpartition("=")
            if not equals or not column:
                types = text
                break
            if column in types:
                raise LoaderError(f"{words['types']} declares column {column!r} twice")
            types[column] = kind
    if isinstance(types, dict):
        wrong = [(k, v) for k, v in types.items()
                 if not isinstance(k, str) or v not in COLUMN_TYPES]
        if not wrong:
            return types
        # The first wrong entry, as it was written.
        types = {wrong[0][0]: wrong[0][1]} if given is types else "=".join(wrong[0])
    raise LoaderError(f"{words['types']} must map column names to one of "
                      f"{', '.join(COLUMN_TYPES)}, not {types!r}",
                      f"e.g. {words['types_example']}")
