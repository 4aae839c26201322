#!/usr/bin/env bash
# All set-up, then the whole test suite: lint, types, the systemd unit checks, tests. Needs only python3
# (3.10+) and PyPI, and no root. The systemd checks need systemd-analyze (Debian package `systemd`): they
# run where it is installed and are skipped, saying so, where it is not, unless HOSTAGENT_REQUIRE_SYSTEMD=1
# (set by .ci/run, which installs it), which makes its absence a failure.
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
if command -v systemd-analyze >/dev/null 2>&1; then
    echo "== systemd unit"; scripts/check-systemd.sh
elif [ "${HOSTAGENT_REQUIRE_SYSTEMD:-0}" = 1 ]; then
    echo "== systemd unit: FAIL: systemd-analyze is missing and HOSTAGENT_REQUIRE_SYSTEMD=1" >&2
    exit 1
else
    echo "== systemd unit: SKIPPED: systemd-analyze is not installed (Debian package 'systemd'; .ci/run installs it)"
fi
echo "== pytest"; .venv/bin/python -m pytest -q "$@"
