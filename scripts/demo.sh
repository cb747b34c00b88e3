#!/usr/bin/env bash
# The whole pipeline on the embedded default (DuckDB): set up, generate Canvas
# data, load it into raw, dbt build stg/cur/mart, audit into meta, report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/loader run --demo "$@"
.venv/bin/loader status
