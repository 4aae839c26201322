#!/usr/bin/env bash
# All set-up, then the whole test suite: lint, types, tests. Needs only python3 (3.10+) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "== ruff"; .venv/bin/ruff check hostagent tests bench
echo "== mypy"; .venv/bin/mypy
if [ -x scripts/check-systemd.sh ]; then echo "== systemd unit"; scripts/check-systemd.sh; fi
echo "== pytest"; .venv/bin/python -m pytest -q "$@"
