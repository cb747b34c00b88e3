#!/usr/bin/env bash
# Set up, lint the SQL, run the test suite on DuckDB and PostgreSQL (a
# throwaway server the tests start). Arguments go to pytest, e.g.
# scripts/test.sh -k load, or -k duckdb for one engine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The PostgreSQL tests start their own throwaway server from the installed
# binaries (tests/pgserver.py); install them where they are missing.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && [ -z "${PG_BINDIR:-}" ]; then
    echo "== installing PostgreSQL server binaries (apt-get install postgresql)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi
# pyodbc (the sqlserver extra) needs unixODBC's libodbc.so.2 to import; the
# SQL Server tests without a server (T-SQL check, connection strings) need it.
# (grep without -q: an early exit would fail `ldconfig -p` under pipefail.)
if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep libodbc.so.2 >/dev/null; then
    echo "== installing unixODBC (apt-get install unixodbc)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unixodbc
fi
# The report test (tests/test_cli_report.py) opens the page in headless Chromium.
if ! command -v chromium >/dev/null && [ -z "${CHROMIUM:-}" ]; then
    echo "== installing Chromium (apt-get install chromium)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
echo "== sqlfluff"
# The dbt templater lints models and snapshots; it skips macros/ (a macro file
# is no model), so the macros' SQL is linted as compiled, with the same
# lowercase rules, by scripts/check_tsql.py (tests/test_tsql.py, below).
.venv/bin/sqlfluff lint models snapshots --processes 2
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
