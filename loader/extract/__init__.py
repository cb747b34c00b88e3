"""`loader extract`: the five Canvas entities from the REST API into a batch
directory `loader run` reads (batch-NNNN/canvas_<entity>.jsonl).

    client.py       httpx: paging by Link headers, throttling, retries
    entities.py     endpoints, include[] profiles (pipeline.yml), the submissions cursor
    writer.py       temporary names, atomic rename of the complete batch
    cursors.py      meta.extract_cursor and the job_run row
    orchestrate.py  one extract, in order
"""

from .client import ClientSettings, Stats
from .entities import ENTITIES, Profile, read_profile
from .errors import ExtractError
from .orchestrate import ExtractRequest, ExtractResult, Scope, extract

__all__ = ["ENTITIES", "ClientSettings", "ExtractError", "ExtractRequest", "ExtractResult",
           "Profile", "Scope", "Stats", "extract", "read_profile"]
