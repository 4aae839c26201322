#!/usr/bin/env bash
# All set-up, then the whole test suite: lint, types, tests. Needs only python3 (3.10+) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# pip's own chatter goes to a log, shown only when the install fails.
install() { .venv/bin/python -m pip install --quiet "$@" > .venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }; }
install --upgrade pip
install -e '.[test]'
echo "== ruff"; .venv/bin/ruff check hostagent tests bench
echo "== mypy"; .venv/bin/mypy
echo "== import layers"; .venv/bin/lint-imports --no-cache
if [ -x scripts/check-systemd.sh ]; then echo "== systemd unit"; scripts/check-systemd.sh; fi
echo "== pytest"; .venv/bin/python -m pytest -q "$@"
