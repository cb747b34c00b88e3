"""The `loader` command line: parse options, call one library function, print.

One module per group of commands; each registers on the group in `common`.
"""

from . import extract_cmd, inspect_cmds, load_cmds, versions_cmds  # noqa: F401 - register the commands
from .common import cli

__all__ = ["cli"]
