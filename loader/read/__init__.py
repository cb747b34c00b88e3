"""The reading layer: every way a file becomes records.

    RecordReader(path, id_field=..., updated_field=..., fmt=FileFormat(...))
                                                            iterate for Chunks: JSON Lines,
                                                            CSV/TSV, JSON arrays, spreadsheets
    open_input, file_sha256, file_fingerprint               the file itself
    input_for(path)                  a file, or a DAP job directory read as one
    parse_timestamp, RecordParser, Reject                   one line's verdict

A load reads its file only through RecordReader, whichever backend stages it.
"""

from .files import (STDIN, STDIN_NAME, file_fingerprint, file_sha256, file_state, is_gzip,
                    open_input, spooled_stdin)
from .formats import FileFormat
from .inputs import FileInput, JobDirectory, StdinInput, input_for
from .prefetch import prefetched
from .records import EXCERPT_CHARS, MAX_ID_LENGTH, RecordParser, Reject, parse_timestamp
from .stream import Chunk, RecordReader

__all__ = [
    "EXCERPT_CHARS", "MAX_ID_LENGTH", "STDIN", "STDIN_NAME", "Chunk", "FileFormat", "FileInput",
    "JobDirectory", "RecordParser", "RecordReader", "Reject", "StdinInput", "file_fingerprint",
    "file_sha256", "file_state", "input_for", "is_gzip", "open_input", "parse_timestamp",
    "prefetched", "spooled_stdin",
]
