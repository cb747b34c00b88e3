"""The reading layer: every way a file becomes records.

    RecordReader(path, id_field=..., updated_field=...)   iterate for Chunks
    open_input, file_sha256, file_fingerprint               the file itself
    input_for(path)                  a file, or a DAP job directory read as one
    parse_timestamp, RecordParser, Reject                   one line's verdict

A load reads its file only through RecordReader, whichever backend stages it.
"""

from .files import file_fingerprint, file_sha256, file_state, is_gzip, open_input
from .inputs import FileInput, JobDirectory, input_for
from .prefetch import prefetched
from .records import EXCERPT_CHARS, MAX_ID_LENGTH, RecordParser, Reject, parse_timestamp
from .stream import Chunk, RecordReader

__all__ = [
    "EXCERPT_CHARS", "MAX_ID_LENGTH", "Chunk", "FileInput", "JobDirectory", "RecordParser",
    "RecordReader", "Reject", "input_for",
    "file_fingerprint", "file_sha256", "file_state", "is_gzip", "open_input",
    "parse_timestamp", "prefetched",
]
