#!/usr/bin/env bash
# All set-up, then the whole test suite: lint, types, the systemd unit checks, tests. Needs only python3
# (3.10+) and PyPI, and no root. Usage: scripts/test.sh [--reinstall] [--setup-only] [pytest options].
# --setup-only: the venv and the install only, then the next commands ("Next:"). pip runs only when
# pyproject.toml changed since the last install (a stamp in .venv), or with --reinstall.
# The systemd checks need systemd-analyze (Debian package `systemd`): they run where it is installed and are
# skipped, saying so, where it is not, unless HOSTAGENT_REQUIRE_SYSTEMD=1 (set by .ci/run, which installs it),
# which makes its absence a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
reinstall=0
setup_only=0
args=()
for arg in "$@"; do
    case "$arg" in
        --reinstall) reinstall=1 ;;
        --setup-only) setup_only=1 ;;
        *) args+=("$arg") ;;
    esac
done
ensure_venv "[test]" "$reinstall"
if [ "$setup_only" = 1 ]; then
    print_next "--config $(pwd)/config/demo.toml demo"
    exit 0
fi
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
# Two workers, a whole file each (its module fixtures run once); HOSTAGENT_TEST_WORKERS=0 runs in this process.
workers=${HOSTAGENT_TEST_WORKERS:-2}
echo "== pytest ($workers workers)"
if [ "$workers" = 0 ]; then
    .venv/bin/python -m pytest -q ${args[@]+"${args[@]}"}
else
    .venv/bin/python -m pytest -q -n "$workers" --dist loadfile ${args[@]+"${args[@]}"}
fi
print_next "--config $(pwd)/config/demo.toml demo"
