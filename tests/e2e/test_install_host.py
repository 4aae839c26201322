"""scripts/install-host.sh into a temporary root (`--root`, DESTDIR-style), as CI runs it.

One real install per module (a venv from this checkout, pip's cache warm: ~10-15 s on 2 cores); the tests then
read what it laid out, run it again, verify the installed unit with systemd-analyze, and let an operator of
the `hostagent-ops` group read the state the service wrote. Owners are checked where the test runs as root
(CI); elsewhere the script sets none and says so in docs/install.md.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostagent.config.load import load_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-host.sh"
KEY = "k3y-install-host-0123456789"
AS_ROOT = os.geteuid() == 0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
REQUIRED = os.environ.get("HOSTAGENT_REQUIRE_SYSTEMD") == "1"
DROPIN = "etc/systemd/system/hostagent.service.d/10-install-host.conf"


def install(root: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    """The script as an owner runs it, the key (if any) on stdin; the venv is made from this Python."""
    stdin_args = ("--key-stdin",) if key is not None else ()
    return subprocess.run(
        ["bash", str(SCRIPT), "--root", str(root), "--python", sys.executable, *stdin_args, *args],
        input=key + "\n" if key is not None else "", capture_output=True, text=True, timeout=300, check=False,
    )


def ids(root: Path, file: str, name: str) -> tuple[int, int]:
    """(third, fourth) fields of NAME's line in the root's etc/passwd or etc/group (uid/gid, or gid/members)."""
    for line in (root / "etc" / file).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3]) if fields[3].isdigit() else -1
    raise AssertionError(f"{name} not in {file}")


def files(root: Path) -> dict[str, tuple[int, int, int, float]]:
    """Every path outside the venv's library: (mode, uid, gid, mtime) without following links."""
    found = {}
    for path in sorted(root.rglob("*")):
        if "opt/hostagent/lib" not in str(path):
            info = path.lstat()
            found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid, info.st_mtime)
    return found


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    """A root with one real install in it (not pytest's tmp_path: an operator must be able to reach it)."""
    root = Path(tempfile.mkdtemp(prefix="hostagent-root-"))
    os.chmod(root, 0o755)  # noqa: S103 -- the operator's process must traverse it, as it would /
    try:
        yield root, install(root, key=KEY)
    finally:
        shutil.rmtree(root)


def test_a_dry_run_prints_every_step_and_writes_nothing(tmp_path: Path) -> None:
    """Each step is a `would` line; the root stays empty and no key is read."""
    done = install(tmp_path, "--dry-run", key=KEY)
    assert done.returncode == 0, done.stderr
    for step in ("group hostagent-ops", "system user hostagent", "/opt/hostagent: venv", "/usr/local/bin/hostagent",
                 "/etc/hostagent/config.toml", "/etc/hostagent/vast_api_key", "/etc/systemd/system/hostagent.service",
                 "10-install-host.conf", "/var/lib/hostagent"):
        assert any(line.startswith("  would") and step in line for line in done.stdout.splitlines()), step
    assert "dry run: 10 step(s) would change; nothing was written" in done.stdout
    assert list(tmp_path.iterdir()) == []
    assert KEY not in done.stdout + done.stderr


def test_a_real_run_lays_out_every_file_with_its_mode_and_owner(
    installed: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Accounts in the root's etc files, the venv, the link, config 0644, key 0600, unit, drop-in, state 0750."""
    root, done = installed
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: 10 change(s)" in done.stdout
    assert KEY not in done.stdout + done.stderr
    uid, user_gid = ids(root, "passwd", "hostagent")
    ops_gid, _ = ids(root, "group", "hostagent-ops")
    assert uid < 1000
    assert ids(root, "group", "hostagent")[0] == user_gid
    assert "/usr/sbin/nologin" in (root / "etc/passwd").read_text()
    version = subprocess.run([str(root / "opt/hostagent/bin/hostagent"), "--version"],
                             capture_output=True, text=True, check=True, timeout=60)
    assert version.stdout.startswith("hostagent ")
    assert os.readlink(root / "usr/local/bin/hostagent") == "/opt/hostagent/bin/hostagent"
    expected = {
        "etc/hostagent": (0o755, 0, 0), "etc/hostagent/config.toml": (0o644, 0, 0),
        "etc/hostagent/vast_api_key": (0o600, 0, 0), "etc/systemd/system/hostagent.service": (0o644, 0, 0),
        DROPIN: (0o644, 0, 0), "var/lib/hostagent": (0o750, uid, ops_gid),
    }
    for path, (mode, owner, group) in expected.items():
        info = (root / path).stat()
        assert stat.S_IMODE(info.st_mode) == mode, path
        if AS_ROOT:
            assert (info.st_uid, info.st_gid) == (owner, group), path
    assert (root / "etc/hostagent/vast_api_key").read_text() == KEY + "\n"
    shipped = (REPO / "systemd/hostagent.service").read_bytes()
    assert (root / "etc/systemd/system/hostagent.service").read_bytes() == shipped
    dropin = (root / DROPIN).read_text()
    for line in ("DynamicUser=no", "User=hostagent", "Group=hostagent-ops", "StateDirectoryMode=0750", "UMask=0027"):
        assert line in dropin.splitlines()


def test_the_config_skeleton_is_the_example_in_observe_mode_finding_the_machine_by_hostname(
    installed: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The example host's id and hostname are commented out; the rest loads as the example does."""
    root, _ = installed
    config = load_config(root / "etc/hostagent/config.toml", environ={})
    assert config.agent.mode == "observe"
    assert config.machine.id is None
    assert config.machine.hostname is None


def test_a_second_run_changes_nothing_and_says_so(installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Same source, same key: every step `ok`, no file touched, no pip run."""
    root, _ = installed
    before = files(root)
    again = install(root, key=KEY)
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith("nothing to change: already installed")
    assert "  change" not in again.stdout
    assert "pip install" not in again.stdout
    assert files(root) == before


def test_changed_source_is_the_one_step_a_dry_run_would_redo(
    installed: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """The venv is reinstalled only when the source's content changed: one edited file is enough, a copy is not."""
    root, _ = installed
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "tests",
                                                                 "__pycache__", ".*_cache"))
    same = install(root, "--dry-run", "--from", str(source))
    assert same.stdout.rstrip().endswith("dry run: 0 step(s) would change; nothing was written"), same.stdout
    with (source / "hostagent" / "__init__.py").open("a") as module:
        module.write("# changed\n")
    changed = install(root, "--dry-run", "--from", str(source))
    assert [line for line in changed.stdout.splitlines() if line.startswith("  would")] == [
        f"  would    /opt/hostagent: venv with hostagent from {source}"]


def test_an_edited_config_is_kept_and_a_new_key_replaces_the_old(
    installed: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The owner's config is never overwritten; a different key is a change, still 0600 and never printed."""
    root, _ = installed
    config = root / "etc/hostagent/config.toml"
    config.write_text(config.read_text().replace('mode = "observe"', 'mode = "enforce"'))
    done = install(root, key="k3y-the-new-one")
    assert done.returncode == 0, done.stderr
    assert "replacing the old key" in done.stdout
    assert "done: 1 change(s)" in done.stdout
    assert 'mode = "enforce"' in config.read_text()
    key = root / "etc/hostagent/vast_api_key"
    assert key.read_text() == "k3y-the-new-one\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "k3y-the-new-one" not in done.stdout + done.stderr
    assert not list((root / "etc/hostagent").glob(".vast_api_key.*"))
    assert install(root, key="k3y-the-new-one").stdout.rstrip().endswith("nothing to change: already installed")


def test_a_store_written_under_the_shipped_unit_is_made_readable_by_the_operators(
    installed: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """A state.db left 0600 by the DynamicUser unit becomes 0640; the run after that changes nothing."""
    root, _ = installed
    db = root / "var/lib/hostagent/state.db"
    db.touch(mode=0o600)
    try:
        done = install(root)
        assert "/var/lib/hostagent/state.db 0600 -> 0640 (read by hostagent-ops)" in done.stdout
        assert stat.S_IMODE(db.stat().st_mode) == 0o640
        assert install(root).stdout.rstrip().endswith("nothing to change: already installed")
    finally:
        db.unlink()


@pytest.mark.skipif(SYSTEMD_ANALYZE is None and not REQUIRED, reason="systemd-analyze missing (Debian 'systemd')")
def test_systemd_analyze_verifies_the_installed_unit_with_its_drop_in(
    installed: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """verify prints nothing for the unit and drop-in as installed (the entry point the root's); it does read the
    drop-in (a planted typo shows), and the exposure stays at most 2.0 with it."""
    root, _ = installed
    units = root / "etc/systemd/system"
    unit = (units / "hostagent.service").read_text()
    (tmp_path / "hostagent.service").write_text(
        unit.replace("/opt/hostagent/bin/hostagent", str(root / "opt/hostagent/bin/hostagent")))
    shutil.copytree(units / "hostagent.service.d", tmp_path / "hostagent.service.d")

    def analyze(*args: str) -> str:
        done = subprocess.run([str(SYSTEMD_ANALYZE), *args, str(tmp_path / "hostagent.service")],
                              capture_output=True, text=True, check=False, timeout=60)
        return done.stdout + done.stderr + ("" if done.returncode == 0 else f"exit {done.returncode}")

    assert analyze("verify", "--man=no") == ""
    security = analyze("security", "--offline=yes", "--threshold=20")
    assert "Overall exposure level for hostagent.service" in security
    assert "group-readable" in security  # the drop-in's UMask=0027 was read
    with (tmp_path / "hostagent.service.d" / "10-install-host.conf").open("a") as dropin:
        dropin.write("ProtectHomes=yes\n")
    assert "Unknown key 'ProtectHomes'" in analyze("verify", "--man=no")


@pytest.mark.skipif(not AS_ROOT, reason="the service's and the operator's groups need root to switch to")
def test_an_operator_in_hostagent_ops_reads_the_journal_without_sudo_and_others_get_77(
    installed: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The store written under the drop-in's Group=hostagent-ops and UMask=0027 is 0640: the group reads it
    without sudo; anyone else gets exit 77. The commands run as root without the capabilities that ignore file
    modes (see other_user.py), so the modes decide and the checkout may live anywhere."""
    root, _ = installed
    uid, _ = ids(root, "passwd", "hostagent")
    ops_gid, _ = ids(root, "group", "hostagent-ops")
    state = root / "var/lib/hostagent"
    config = root / "etc/hostagent/ops.toml"
    config.write_text(f'[agent]\nstate_dir = "{state}"\n[machine]\nid = 4242\n')
    write = ("import os; from datetime import datetime, timezone; from pathlib import Path; "
             "from hostagent.store import StateStore; os.umask(0o027); "
             f"s = StateStore.open(Path({str(state)!r})); "
             "s.journal(datetime.now(timezone.utc), 'decision', 'listed by the service', 'test'); s.close()")
    subprocess.run(["setpriv", f"--regid={ops_gid}", "--clear-groups", sys.executable, "-c", write],
                   check=True, timeout=60, cwd=root)
    for path in state.iterdir():  # the service's user owns what it writes (as root here, handed over)
        os.chown(path, uid, ops_gid)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()} == {"state.db": 0o640}

    def journal(*groups: str) -> subprocess.CompletedProcess[str]:
        who = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *groups]
        return subprocess.run([*who, sys.executable, "-m", "hostagent", "--config", str(config), "journal"],
                              capture_output=True, text=True, check=False, timeout=60, cwd=root,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)})

    operator = journal(f"--groups={ops_gid}")
    assert operator.returncode == 0, operator.stderr
    assert "listed by the service" in operator.stdout
    read = ("from pathlib import Path; from hostagent.store.reader import StateReader; "
            f"print(StateReader(Path({str(state)!r})).journal_tail(1)[0]['what'])")  # what `status` reads with
    status_reader = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", f"--groups={ops_gid}", sys.executable, "-c",
         read], capture_output=True, text=True, check=False, timeout=60, cwd=root)
    assert status_reader.stdout.strip() == "listed by the service", status_reader.stderr
    stranger = journal("--clear-groups")
    assert stranger.returncode == 77, stranger.stderr
    assert "the service's state is readable by the group" in stranger.stderr  # the group's name is the host's
    assert "sudo usermod -aG" in stranger.stderr
    assert f"sudo hostagent --config {config} journal" in stranger.stderr
