"""The owner's first hour, walked as a newcomer walks it, every step a real process.

A fresh clone; the README's two commands (`scripts/demo.sh`, `scripts/test.sh --setup-only`: the checks themselves
are this suite); the "Next:" command each prints; a host installed by `scripts/install-host.sh` into a temporary
root; then, with the installed program against `hostagent emulator` as Vast: check-config, doctor (fails on a
machine Vast does not know, passes once the config is fixed), plan, run --once in observe mode (nothing written),
then in enforce mode (listed), status, and `plan --compare` on a candidate config.

One test, in order: each step needs the one before, as it does for the owner. About a minute on 2 cores (a venv
for the clone and one for the installed host; pip's cache is warm after the suite's own install).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from hostagent.testing.toml_text import without_windows

REPO = Path(__file__).resolve().parents[2]
DEMO_KEY = "hostagent-demo-key"  # the emulator's default account key (hostagent.testing.emulator)
MACHINE_ID = 4242  # the emulator's demo machine, hostname demo-h100-01
MISSING_MACHINE_ID = 987654

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def sh(args: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None, stdin: str = "",
       timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
        timeout=timeout_s, check=False,
    )


def next_commands(output: str) -> list[str]:
    """The commands of the "Next:" block the scripts and the demo end with (an absolute path, two spaces in)."""
    lines = output.splitlines()
    assert "Next:" in lines, output[-2000:]
    after = lines[lines.index("Next:") + 1:]
    commands = []
    for line in after:
        if not line.startswith("  "):
            break
        commands.append(line.strip())
    assert commands, output[-2000:]
    return commands


def clean_env(**extra: str) -> dict[str, str]:
    """The newcomer's shell: no venv active, no key in the environment, our test venv off the PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "VAST_API_KEY", "PYTHONPATH")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(Path(sys.prefix)))]
    env["PATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of this repository's committed tree, as a newcomer gets it."""
    target = tmp_path / "hostagent"
    done = sh(["git", "clone", "-q", REPO, target], cwd=tmp_path)
    if done.returncode != 0:
        pytest.fail(f"git clone failed: {done.stderr}")
    return target


def start_emulator(program: Path, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(program), "emulator", "--port", "0"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=clean_env(),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", first)
    if found is None:
        proc.kill()
        pytest.fail(f"the emulator printed no URL: {first!r}")
    return proc, found.group(0)


def machine(url: str) -> dict[str, object]:
    """The machine as Vast shows it, read the way `vastai show machine` does (waiting out Vast's interval)."""
    for _ in range(10):
        reply = httpx.get(f"{url}/api/v0/machines/{MACHINE_ID}/", headers={"Authorization": f"Bearer {DEMO_KEY}"})
        if reply.status_code != 429:
            break
        time.sleep(1.5)
    reply.raise_for_status()
    [row] = reply.json()
    assert isinstance(row, dict)
    return row


def set_keys(config: Path, section: str, values: dict[str, str]) -> None:
    """Set `key = value` lines (TOML literals) in `[section]` of the installed config, as the owner edits it."""
    text = config.read_text()
    header = f"[{section}]"
    assert header in text, f"{header} not in the installed config"
    head, _, rest = text.partition(header + "\n")
    body, sep, tail = rest.partition("\n[")
    lines = [line for line in body.splitlines() if line.split("=")[0].strip().lstrip("# ") not in values]
    lines += [f"{key} = {value}" for key, value in values.items()]
    config.write_text(head + header + "\n" + "\n".join(lines) + "\n" + sep.lstrip("\n") + tail)


def test_a_newcomer_goes_from_a_fresh_clone_to_an_enforcing_host(clone: Path, tmp_path: Path) -> None:
    """Every step of the README's first hour succeeds, and each check fails where it should."""
    # 1. The first command: the demo. It ends with the exact next commands, which work without a venv active.
    demo = sh([clone / "scripts" / "demo.sh", "--days", "1"], cwd=clone, env=clean_env())
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    for command in next_commands(demo.stdout):
        done = sh(command.split(), cwd=clone, env=clean_env())
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    program = clone / ".venv" / "bin" / "hostagent"
    assert next_commands(demo.stdout)[0].startswith(f"{program} ")

    # 2. The second command's set-up (the checks it then runs are this suite): no reinstall, the same next step.
    setup = sh([clone / "scripts" / "test.sh", "--setup-only"], cwd=clone, env=clean_env())
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    [first, *_] = next_commands(setup.stdout)
    assert first.startswith(f"{program} ")
    assert sh(first.split(), cwd=clone, env=clean_env()).returncode == 0

    # 3. A host, installed by the one script into a temporary root; the key arrives on stdin.
    root = tmp_path / "root"
    root.mkdir()
    installed = sh(["bash", clone / "scripts" / "install-host.sh", "--root", root, "--python", sys.executable,
                    "--key-stdin"], cwd=clone, env=clean_env(), stdin=DEMO_KEY + "\n")
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    host_program = root / "opt" / "hostagent" / "bin" / "hostagent"
    config = root / "etc" / "hostagent" / "config.toml"
    assert host_program.is_file()
    assert config.is_file()

    emu, url = start_emulator(program, clone)
    try:
        # The owner's first config edits: Vast (here the emulator), fake GPUs, the state under the root, and a
        # machine id that Vast does not know. The key reaches the program as systemd would hand it over.
        shutil.copy(clone / "config" / "fake-gpus.toml", root / "etc" / "hostagent" / "fake-gpus.toml")
        config.write_text(without_windows(config.read_text()))  # the example's windows are not this owner's
        set_keys(config, "vast", {"api_url": f'"{url}"'})
        set_keys(config, "machine", {"id": str(MISSING_MACHINE_ID)})
        set_keys(config, "hardware", {"backend": '"fake"', "fake_file": '"fake-gpus.toml"'})
        set_keys(config, "agent", {"state_dir": f'"{root / "var" / "lib" / "hostagent"}"', "mode": '"observe"'})
        env = clean_env(CREDENTIALS_DIRECTORY=str(root / "etc" / "hostagent"))

        def hostagent(*args: str, config_path: Path = config) -> subprocess.CompletedProcess[str]:
            return sh([host_program, "--config", config_path, *args], cwd=tmp_path, env=env, timeout_s=120)

        checked = hostagent("check-config")
        assert checked.returncode == 0, checked.stdout + checked.stderr

        doctor = hostagent("doctor")
        assert doctor.returncode != 0, doctor.stdout
        assert str(MISSING_MACHINE_ID) in doctor.stdout + doctor.stderr
        assert str(MACHINE_ID) in doctor.stdout + doctor.stderr  # the fix names the account's machine

        set_keys(config, "machine", {"id": str(MACHINE_ID)})
        time.sleep(3.0)  # Vast's per-endpoint interval (the emulator's): an owner fixing the config takes longer
        doctor = hostagent("doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert re.search(rf"^ok\s+machine\s+machine {MACHINE_ID} ", doctor.stdout, re.MULTILINE), doctor.stdout
        assert "state_store_failed" not in doctor.stderr  # nothing recorded yet is no error

        planned = hostagent("plan", "--detailed-exitcode")
        assert planned.returncode == 2, planned.stdout + planned.stderr  # changes pending: it is not listed yet

        observed = hostagent("run", "--once")
        assert observed.returncode == 0, observed.stdout + observed.stderr
        assert not machine(url)["listed"]  # observe mode: decided and journaled, nothing sent

        set_keys(config, "agent", {"mode": '"enforce"'})
        enforced = hostagent("run", "--once")
        assert enforced.returncode == 0, enforced.stdout + enforced.stderr
        assert machine(url)["listed"]

        status = hostagent("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "LISTED" in status.stdout
        check = hostagent("status", "--check")
        assert check.returncode == 0, check.stdout + check.stderr

        # A rule tried before it is enforced: ten cents under the market's median instead of two, side by side.
        candidate = config.parent / "candidate.toml"
        current_text = config.read_text()
        assert "offset_usd_per_gpu_hour = -0.02" in current_text
        candidate.write_text(current_text.replace("offset_usd_per_gpu_hour = -0.02", "offset_usd_per_gpu_hour = -0.10"))
        compared = hostagent("plan", "--compare", str(candidate), "--detailed-exitcode")
        assert compared.returncode == 2, compared.stdout + compared.stderr  # the candidate decides differently
        assert "verdict: the candidate decides differently" in compared.stdout
        assert "offset -$0.10" in compared.stdout
        same = hostagent("plan", "--compare", str(config), "--detailed-exitcode")
        assert same.returncode == 0, same.stdout + same.stderr
    finally:
        emu.send_signal(signal.SIGTERM)
        try:
            emu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait(timeout=10)
        if emu.stdout is not None:
            emu.stdout.close()
