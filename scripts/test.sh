#!/usr/bin/env bash
# Set up, lint the SQL, run the test suite (DuckDB, plus the engines this
# machine can run). Arguments go to pytest, e.g. scripts/test.sh -k load.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== sqlfluff"
.venv/bin/sqlfluff lint models macros snapshots --processes 2
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
