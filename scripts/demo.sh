#!/usr/bin/env bash
# All set-up, then the demo. Needs only python3 (3.10+) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# pip's own chatter goes to a log, shown only when the install fails.
install() { .venv/bin/python -m pip install --quiet "$@" > .venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }; }
install --upgrade pip
install -e .
exec .venv/bin/hostagent --config config/demo.toml demo "$@"
