# Sourced by scripts/demo.sh and scripts/test.sh (from the repository root): the venv in .venv with hostagent
# installed editable, set up once. A stamp in the venv (pyproject.toml's hash, the Python version and the
# extras) skips pip when nothing changed, so a second run starts in seconds; --reinstall forces it.
# The first install shows pip's progress (one line per package) instead of ~30 s of silence.

# ensure_venv EXTRAS REINSTALL: EXTRAS is "" or "[test]"; REINSTALL is 1 to install even when the stamp matches.
ensure_venv() {
    local extras=$1 reinstall=$2 py=${PYTHON:-python3} stamp want
    if [ ! -x .venv/bin/python ]; then
        echo "== creating .venv with $("$py" --version 2>&1)"
        "$py" -m venv .venv
    fi
    stamp=.venv/hostagent-install.stamp
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python --version 2>&1) extras=${extras:-none}"
    # A venv made for the tests has everything the demo needs: "[test]" satisfies "".
    if [ "$reinstall" != 1 ] && [ -f "$stamp" ] && { [ "$(cat "$stamp")" = "$want" ] ||
        { [ -z "$extras" ] && [ "$(cat "$stamp")" = "${want% extras=none} extras=[test]" ]; }; }; then
        echo "== .venv is up to date (pyproject.toml unchanged; --reinstall forces a reinstall)"
        return 0
    fi
    echo "== installing hostagent${extras} and its dependencies into .venv (the first time takes a minute)"
    rm -f "$stamp"
    pip_step --upgrade pip
    pip_step -e ".${extras}"
    echo "$want" > "$stamp"
}

# pip_step ARGS...: one pip install; its chatter goes to .venv/install.log (shown whole when it fails), and one
# line per package it collects or installs shows here while it runs.
pip_step() {
    local pid rc
    .venv/bin/python -m pip install --disable-pip-version-check "$@" > .venv/install.log 2>&1 &
    pid=$!
    tail -s 0.1 --pid="$pid" -n +1 -f .venv/install.log |
        grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed)' |
        sed -u -e 's/^/   /' -e 's/^\(.\{110\}\).*/\1.../' || true
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" != 0 ]; then
        cat .venv/install.log >&2
        echo "== pip install $* failed (exit $rc); the log above is kept in .venv/install.log" >&2
        exit 1
    fi
}

# print_next ARGS...: the agreed "Next:" block (the first-hour test parses it): each line two spaces and the
# absolute path of the venv's hostagent, runnable from the repository root, then how to activate the venv.
print_next() {
    local bin
    bin="$(pwd)/.venv/bin"
    echo "Next:"
    for words in "$@"; do
        echo "  $bin/hostagent $words"
    done
    echo "Or put hostagent on the PATH first: source .venv/bin/activate"
}
