#!/usr/bin/env bash
# Create .venv and install the project with pinned versions (constraints.txt).
# Idempotent: a second run only checks. Needs python3 (3.10+) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${CANVAS_EXTRAS:-dev,postgres,sqlserver}
stamp=.venv/.installed-$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)-${EXTRAS//,/_}
if [ -f "$stamp" ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# dbt-core >= 1.12.1 pulls a parser sdist whose build downloads from GitHub;
# the constraints pin dbt-core 1.12.0 and the parser is taken as a wheel only.
.venv/bin/python -m pip install -q -c constraints.txt \
    --only-binary=dbt-core-experimental-parser -e ".[${EXTRAS}]"
rm -f .venv/.installed-*
touch "$stamp"
[ -f profiles.yml ] || cp profiles.example.yml profiles.yml
echo "setup: .venv ready ($(.venv/bin/dbt --version 2>/dev/null | grep -m1 -o 'installed: [0-9.]*'))"
