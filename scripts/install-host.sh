#!/usr/bin/env bash
# Install hostagent on a GPU host as a systemd service, in one command; run it again to upgrade: it changes
# only what differs and says so, and a second run with nothing new changes nothing.
#
#   sudo scripts/install-host.sh [--dry-run] [--root DIR] [--key-file FILE | --key-stdin]
#                                [--from SRC] [--python PY] [--pip-option OPT]...
#
# What it lays out (docs/install.md explains each; paths under --root when given):
#   groups hostagent-ops (operators: read `hostagent status` without sudo) and hostagent, system user hostagent
#   /opt/hostagent                 a venv with the program (from SRC: this checkout by default, or a wheel);
#                                  reinstalled only when SRC's content or the Python version changed
#   /usr/local/bin/hostagent       a link to the venv's entry point
#   /etc/hostagent/config.toml     a skeleton from config/hostagent.example.toml, never overwritten
#   /etc/hostagent/vast_api_key    the key, root 0600, from --key-file or stdin; systemd hands it to the service
#                                  as the credential vast_api_key (it never reaches argv or the screen)
#   /etc/systemd/system/hostagent.service, and hostagent.service.d/10-install-host.conf: the shipped unit run
#                                  as the static user hostagent, group hostagent-ops, its state 0750/0640
#   /var/lib/hostagent             the state directory, hostagent:hostagent-ops 0750
# then `systemctl daemon-reload` and `systemctl enable hostagent`, on the real root only (never under --root,
# never in a dry run). It never starts the service: edit the config, `hostagent doctor`, then start it.
#
# --dry-run   print every step that would change something, and change nothing
# --root DIR  install into DIR as into / (a DESTDIR-style prefix: tests, image builds): users and groups go
#             into DIR/etc/passwd and DIR/etc/group (`useradd --prefix`), systemctl is not called, and owners
#             are set only when running as root. The venv's scripts name DIR/opt/hostagent/bin/python.
# --from SRC  the program to install: a source tree (default: the checkout holding this script) or a wheel
# --python PY the interpreter the venv is made from (default python3; hostagent needs 3.10+)
# --pip-option OPT   passed to `pip install` (repeatable), e.g. --pip-option=--no-index --pip-option=--find-links=DIR
# Exit status: 0 installed (or nothing to do), 1 a step failed, 2 usage error.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=/ DRY=0 KEY_FILE="" KEY_STDIN=0 SRC="$HERE" PYTHON=python3
PIP_OPTS=()
USER_NAME=hostagent OPS_GROUP=hostagent-ops
usage() { sed -n '5,6p' "$0" | sed 's/^# //' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        --key-file) KEY_FILE=${2:?--key-file needs a file}; shift ;;
        --key-file=*) KEY_FILE=${1#--key-file=} ;;
        --key-stdin) KEY_STDIN=1 ;;
        --from) SRC=${2:?--from needs a source tree or wheel}; shift ;;
        --from=*) SRC=${1#--from=} ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift ;;
        --python=*) PYTHON=${1#--python=} ;;
        --pip-option) PIP_OPTS+=("${2:?--pip-option needs a value}"); shift ;;
        --pip-option=*) PIP_OPTS+=("${1#--pip-option=}") ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-host: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[ -n "$KEY_FILE" ] && [ "$KEY_STDIN" = 1 ] && { echo "install-host: --key-file or --key-stdin, not both" >&2; exit 2; }
ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || { echo "install-host: --root: no such directory" >&2; exit 2; }
P=${ROOT%/}  # the prefix every path gets: "" on the real root
AS_ROOT=$([ "$(id -u)" = 0 ] && echo 1 || echo 0)
if [ "$P" = "" ] && [ "$AS_ROOT" = 0 ] && [ "$DRY" = 0 ]; then
    echo "install-host: run it as root (sudo), or try it with --dry-run or --root DIR" >&2; exit 1
fi
[ -e "$SRC" ] || { echo "install-host: --from $SRC: no such file or directory" >&2; exit 2; }

CHANGES=0
say() { printf '%s\n' "$*"; }
unchanged() { say "  ok       $*"; }
# One step that changes something: printed, counted, and run unless this is a dry run.
change() {
    local what=$1; shift
    CHANGES=$((CHANGES + 1))
    if [ "$DRY" = 1 ]; then say "  would    $what"; return 0; fi
    say "  change   $what"
    "$@"
}

# ---- users and groups ---------------------------------------------------------------------------------------
prefix_args=()
[ "$P" != "" ] && prefix_args=(--prefix "$ROOT")
field() {  # field FILE NAME N: the Nth field of NAME's line in the prefix's etc/FILE (getent on the real root)
    if [ "$P" = "" ]; then { getent "$1" "$2" || true; } | cut -d: -f"$3"; else
        [ -f "$P/etc/$1" ] && awk -F: -v n="$2" -v f="$3" '$1 == n { print $f }' "$P/etc/$1" || true; fi
}
prefix_etc() { mkdir -p "$P/etc" && touch "$P/etc/passwd" "$P/etc/group"; }

# Not root under --root: groupadd/useradd refuse (they lock the files as root), so the prefix's files get the
# lines they would write: the highest free system id below 1000, no password.
free_id() { local id=999; while awk -F: -v i="$id" '$3 == i { f = 1 } END { exit !f }' "$P/etc/$1"; do
    id=$((id - 1)); done; echo "$id"; }
add_group() {
    if [ "$AS_ROOT" = 1 ]; then groupadd --system "${prefix_args[@]}" "$1"
    else printf '%s:x:%s:\n' "$1" "$(free_id group)" >>"$P/etc/group"; fi
}
add_user() {  # with its own group of the same name, made first unless it exists already (useradd would refuse)
    [ -n "$(field group "$1" 3)" ] || add_group "$1"
    if [ "$AS_ROOT" = 1 ]; then
        useradd --system --gid "$1" --home-dir /var/lib/hostagent --no-create-home \
            --shell /usr/sbin/nologin --comment "hostagent service" "${prefix_args[@]}" "$1"
    else
        printf '%s:!:%s:%s:hostagent service:/var/lib/hostagent:/usr/sbin/nologin\n' \
            "$1" "$(free_id passwd)" "$(field group "$1" 3)" >>"$P/etc/passwd"
    fi
}

say "install-host: into ${ROOT}$([ "$DRY" = 1 ] && echo ' (dry run: nothing is written)')"
say "accounts"
if [ "$P" != "" ] && [ ! -f "$P/etc/group" ] && [ "$DRY" = 0 ]; then prefix_etc; fi
if [ -n "$(field group "$OPS_GROUP" 3)" ]; then unchanged "group $OPS_GROUP"; else
    change "group $OPS_GROUP (operators: \`hostagent status\` without sudo)" add_group "$OPS_GROUP"
fi
if [ -n "$(field passwd "$USER_NAME" 3)" ]; then unchanged "user $USER_NAME"; else
    change "system user $USER_NAME and its group (no login, home /var/lib/hostagent)" add_user "$USER_NAME"
fi
# Owners by number: under --root the names live in the prefix's files, not the host's.
owner() {  # owner USER GROUP: "uid:gid" for chown, or "" when not root (owners then stay ours)
    [ "$AS_ROOT" = 1 ] || return 0
    local uid gid
    if [ "$1" = root ]; then uid=0; else uid=$(field passwd "$1" 3); fi
    if [ "$2" = root ]; then gid=0; else gid=$(field group "$2" 3); fi
    printf '%s:%s' "${uid:-?}" "${gid:-?}"
}
set_owner() { local o; o=$(owner "$2" "$3"); [ -z "$o" ] || chown "$o" "$1"; }

# ---- the program --------------------------------------------------------------------------------------------
say "program"
VENV="$P/opt/hostagent"
# The source tree as pip gets it: without the checkout's venv, build output, caches, tests and VCS data, in a
# fixed order with fixed owners and times, so the same content gives the same bytes (and digest).
source_tar() {
    tar -C "$SRC" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude=./.git \
        --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ \
        --exclude='*.pyc' --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
        --exclude=./tests --exclude=./bench --exclude=./.ci -cf - .
}
source_digest() {  # what decides a reinstall: the source's content and the interpreter's version
    { "$PYTHON" -c 'import sys; print(sys.version)'
      if [ -d "$SRC" ]; then source_tar; else cat -- "$SRC"; fi; } | sha256sum | cut -d' ' -f1
}
install_program() {
    local version; version=$("$PYTHON" -c 'import sys; print(sys.version)')
    if [ ! -x "$VENV/bin/python" ] || [ "$("$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" != "$version" ]
    then "$PYTHON" -m venv --clear "$VENV"  # none yet, or one of another Python: made afresh
    fi
    local from=$SRC tmp=""
    if [ -d "$SRC" ]; then  # built from a copy: pip's in-tree build would write into the checkout
        tmp=$(mktemp -d) && from="$tmp/src" && mkdir "$from" && source_tar | tar -C "$from" -xf -
    fi
    say "           pip install (about 15-30 s the first time; pip's own output follows only on errors)"
    local ok=1
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        "${PIP_OPTS[@]}" "$from" || ok=0
    [ -z "$tmp" ] || rm -rf "$tmp"
    [ "$ok" = 1 ] || { echo "install-host: pip install $SRC failed" >&2; return 1; }
    printf '%s\n' "$DIGEST" >"$VENV/.installed-from"
}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
    || { echo "install-host: $PYTHON is missing or older than 3.10 (use --python)" >&2; exit 1; }
DIGEST=$(source_digest)
if [ -x "$VENV/bin/hostagent" ] && [ "$(cat "$VENV/.installed-from" 2>/dev/null)" = "$DIGEST" ]; then
    unchanged "/opt/hostagent (venv, $("$VENV/bin/hostagent" --version 2>/dev/null || echo installed), same source)"
else
    change "/opt/hostagent: venv with hostagent from $SRC" install_program
fi
LINK="$P/usr/local/bin/hostagent"
if [ "$(readlink "$LINK" 2>/dev/null)" = /opt/hostagent/bin/hostagent ]; then unchanged "/usr/local/bin/hostagent"
elif [ -e "$LINK" ] || [ -L "$LINK" ]; then say "  skip     /usr/local/bin/hostagent exists and is not ours: left alone"
else change "/usr/local/bin/hostagent -> /opt/hostagent/bin/hostagent" \
    sh -c 'mkdir -p "$(dirname "$1")" && ln -s /opt/hostagent/bin/hostagent "$1"' sh "$LINK"
fi

# ---- config and key -----------------------------------------------------------------------------------------
say "config and key"
ETC="$P/etc/hostagent"
if [ -d "$ETC" ]; then unchanged "/etc/hostagent"; else
    change "/etc/hostagent (0755 root)" sh -c 'install -d -m 0755 "$1"' sh "$ETC"
fi
skeleton() {  # the example, with the example host's id and hostname commented out (found by this host's name)
    { printf '%s\n' "# Written by scripts/install-host.sh from config/hostagent.example.toml: edit it, then" \
          "# \`hostagent check-config\` and \`hostagent doctor\` (which lists this account's machines)." "#"
      sed -e 's/^id = 12345$/# id = 12345/' -e 's/^hostname = "gpu-host-01"$/# hostname = "gpu-host-01"/' \
          "$HERE/config/hostagent.example.toml"; } >"$ETC/config.toml.new"
    chmod 0644 "$ETC/config.toml.new" && set_owner "$ETC/config.toml.new" root root
    mv "$ETC/config.toml.new" "$ETC/config.toml"
}
if [ -e "$ETC/config.toml" ]; then unchanged "/etc/hostagent/config.toml (yours: never overwritten)"; else
    change "/etc/hostagent/config.toml (0644, skeleton from the example: observe mode)" skeleton
fi
KEY="$ETC/vast_api_key"
# The key is held in a shell variable and written with printf, a builtin: it is in no process's argv, never
# on the screen (the terminal does not echo it), and in no file but the key file (0600 from its creation).
read_key() {
    if [ -n "$KEY_FILE" ]; then NEW_KEY=$(cat -- "$KEY_FILE")
    elif [ -t 0 ]; then
        printf 'Paste the Vast API key, then Enter (it is not shown): ' >&2
        stty -echo; IFS= read -r NEW_KEY || true; stty echo; printf '\n' >&2
    else NEW_KEY=$(cat); fi
    NEW_KEY=${NEW_KEY%$'\r'}
    [ -n "${NEW_KEY//[[:space:]]/}" ] || { echo "install-host: the key given is empty" >&2; return 1; }
}
place_key() {  # beside the key (one file system: the rename is atomic)
    local tmp; tmp=$(umask 077 && mktemp "$ETC/.vast_api_key.XXXXXX")
    printf '%s\n' "$NEW_KEY" >"$tmp" && set_owner "$tmp" root root && chmod 0600 "$tmp" && mv "$tmp" "$KEY"
}
NEW_KEY=""
if [ -n "$KEY_FILE" ] || [ "$KEY_STDIN" = 1 ]; then
    [ "$DRY" = 1 ] || read_key || exit 1  # a dry run reads no key
    if [ "$DRY" = 0 ] && [ -f "$KEY" ] && [ "$(cat "$KEY")" = "$NEW_KEY" ]; then
        unchanged "/etc/hostagent/vast_api_key (the same key)"
    else
        change "/etc/hostagent/vast_api_key (0600 root$([ -e "$KEY" ] && echo ', replacing the old key'))" place_key
    fi
elif [ -e "$KEY" ]; then unchanged "/etc/hostagent/vast_api_key (kept)"
else say "  missing  /etc/hostagent/vast_api_key: the service cannot start without it;" \
    "run again with --key-file FILE or --key-stdin"
fi
if [ -e "$KEY" ] && [ "$DRY" = 0 ]; then  # an old key file with loose modes: made 0600 root as the unit needs
    mode=$(stat -c %a "$KEY")
    [ "$mode" = 600 ] || change "/etc/hostagent/vast_api_key mode $mode -> 600" chmod 0600 "$KEY"
    if [ "$AS_ROOT" = 1 ] && [ "$(stat -c %u:%g "$KEY")" != 0:0 ]; then
        change "/etc/hostagent/vast_api_key owner -> root" chown 0:0 "$KEY"
    fi
fi

# ---- the unit -----------------------------------------------------------------------------------------------
say "systemd unit"
UNITS="$P/etc/systemd/system"
DROPIN_TEXT="# Written by scripts/install-host.sh (docs/install.md): the shipped unit, run as a static user so
# that members of $OPS_GROUP read the state (hostagent status, journal, earnings) without sudo.
[Service]
DynamicUser=no
User=$USER_NAME
Group=$OPS_GROUP
StateDirectoryMode=0750
UMask=0027"
put_file() {  # put_file DEST MODE < content
    mkdir -p "$(dirname "$1")" && cat >"$1.new" && chmod "$2" "$1.new" && set_owner "$1.new" root root && mv "$1.new" "$1"
}
UNIT_CHANGED=0
if cmp -s "$HERE/systemd/hostagent.service" "$UNITS/hostagent.service"; then unchanged "hostagent.service"; else
    UNIT_CHANGED=1
    change "/etc/systemd/system/hostagent.service (0644, from systemd/hostagent.service)" \
        put_file "$UNITS/hostagent.service" 0644 <"$HERE/systemd/hostagent.service"
fi
DROPIN="$UNITS/hostagent.service.d/10-install-host.conf"
if [ "$(cat "$DROPIN" 2>/dev/null)" = "$DROPIN_TEXT" ]; then unchanged "hostagent.service.d/10-install-host.conf"
else
    UNIT_CHANGED=1
    change "/etc/systemd/system/hostagent.service.d/10-install-host.conf (user $USER_NAME, group $OPS_GROUP)" \
        put_file "$DROPIN" 0644 <<<"$DROPIN_TEXT"
fi
STATE="$P/var/lib/hostagent"
if [ -L "$STATE" ]; then say "  ok       /var/lib/hostagent is DynamicUser's link: systemd moves it back at the next start"
elif [ -d "$STATE" ] && [ "$(stat -c %a "$STATE")" = 750 ] && { [ "$AS_ROOT" = 0 ] || \
        [ "$(stat -c %u:%g "$STATE")" = "$(owner "$USER_NAME" "$OPS_GROUP")" ]; }; then
    unchanged "/var/lib/hostagent (0750 $USER_NAME:$OPS_GROUP)"
else
    make_state() { mkdir -p "$STATE" && chmod 0750 "$STATE" && set_owner "$STATE" "$USER_NAME" "$OPS_GROUP"; }
    change "/var/lib/hostagent (0750 $USER_NAME:$OPS_GROUP)" make_state
fi
# A store the agent wrote before (0600 under the shipped unit's UMask=0077): group-readable, as it now creates it.
if [ ! -L "$STATE" ]; then
    for f in "$STATE"/state.db "$STATE"/state.db-wal "$STATE"/state.db-shm; do
        [ -f "$f" ] && [ "$(stat -c %a "$f")" = 600 ] && change "${f#"$P"} 0600 -> 0640 (read by $OPS_GROUP)" chmod 0640 "$f"
    done
fi

if [ "$P" = "" ] && [ "$DRY" = 0 ] && [ -d /run/systemd/system ]; then
    [ "$UNIT_CHANGED" = 0 ] || { say "  run      systemctl daemon-reload"; systemctl daemon-reload; }
    if systemctl is-enabled --quiet hostagent 2>/dev/null; then unchanged "hostagent enabled"
    else change "systemctl enable hostagent" systemctl enable --quiet hostagent; fi
    if [ "$CHANGES" -gt 0 ] && systemctl is-active --quiet hostagent; then
        say "  note     hostagent is running the old program/unit: \`systemctl restart hostagent\` to switch"
    fi
elif [ "$P" != "" ]; then say "  skip     systemctl (not the real root)"
fi

if [ "$DRY" = 1 ]; then say "dry run: $CHANGES step(s) would change; nothing was written"
elif [ "$CHANGES" = 0 ]; then say "nothing to change: already installed"
else say "done: $CHANGES change(s)"
fi
[ "$DRY" = 1 ] || [ "$CHANGES" = 0 ] || cat <<EOF
next:
  editor /etc/hostagent/config.toml      # your prices; mode = "observe" until plan shows what you want
  hostagent --config /etc/hostagent/config.toml check-config
  sudo hostagent --config /etc/hostagent/config.toml doctor
  systemctl start hostagent && hostagent status
  operators: sudo usermod -aG $OPS_GROUP NAME   # then \`hostagent status\` works for NAME without sudo
EOF
