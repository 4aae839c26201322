#!/usr/bin/env bash
# All set-up, then the demo. Needs only python3 (3.10+) and PyPI. The first run installs into .venv (with
# progress); later runs skip pip when pyproject.toml is unchanged. Usage: scripts/demo.sh [--reinstall] [demo
# options, e.g. --days 2]. The demo ends with the exact next commands ("Next:").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
reinstall=0
args=()
for arg in "$@"; do
    if [ "$arg" = --reinstall ]; then reinstall=1; else args+=("$arg"); fi
done
ensure_venv "" "$reinstall"
exec .venv/bin/hostagent --config config/demo.toml demo ${args[@]+"${args[@]}"}
