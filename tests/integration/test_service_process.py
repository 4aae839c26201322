"""`hostagent run` as a real process: READY/WATCHDOG/STOPPING, SIGHUP, SIGTERM, the lock, exit codes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from agent_env import CONFIG, REPO

from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault
from hostagent.testing.toml_text import without_windows

WAIT_S = 30.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False) as emulator:
        yield emulator


def _config(tmp_path: Path, emu: Emulator, *, mode: str = "enforce") -> Path:
    shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
    text = CONFIG.format(url=emu.url, mode=mode).replace("tick_s = 30.0", "tick_s = 1.0")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _env(emu: Emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    return {**env, "VAST_API_KEY": emu.api_key, **extra}


def _agent(config: Path, env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "hostagent", "--config", str(config), "run"]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(sock: socket.socket, needle: str) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        seen.append(sock.recv(4096).decode())
        if needle in seen[-1]:
            return seen
    raise AssertionError(f"{needle} never came; got {seen}")


def _wait_log(log: Path, needle: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if needle in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle} not in the log:\n{log.read_text()}")


def test_the_service_notifies_systemd_reloads_safely_refuses_a_second_agent_and_stops_on_sigterm(
    tmp_path: Path, emu: Emulator
) -> None:
    config = _config(tmp_path, emu)
    sock_dir = Path(tempfile.mkdtemp(prefix="ha-"))  # AF_UNIX paths must stay short
    log = tmp_path / "agent.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, log.open("wb") as log_file:
        sock.bind(str(sock_dir / "notify"))
        env = _env(emu, NOTIFY_SOCKET=str(sock_dir / "notify"), WATCHDOG_USEC="4000000")
        agent = _agent(config, env, log_file)
        try:
            _wait_for(sock, "READY=1")
            _wait_for(sock, "WATCHDOG=1")

            second = subprocess.run(
                [sys.executable, "-m", "hostagent", "--config", str(config), "run"],
                env=_env(emu), capture_output=True, timeout=WAIT_S, check=False,
            )
            assert second.returncode == 1
            assert b"already runs" in second.stderr

            good = config.read_text()
            config.write_text(good + "\n[agent]\ntick_s = -1\n")
            agent.send_signal(signal.SIGHUP)
            _wait_log(log, "config_reload_rejected")
            assert agent.poll() is None, "an invalid config on reload keeps the agent running"
            config.write_text(good)

            _wait_log(log, "list_machine")
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=WAIT_S) == 0
            assert "STOPPING=1" in "".join(_wait_for(sock, "STOPPING=1"))
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            shutil.rmtree(sock_dir, ignore_errors=True)
    assert emu.state.machines[DEMO_MACHINE_ID].listed
    assert emu.api_key not in log.read_text()


def test_sigterm_during_a_vast_call_lets_the_call_finish_records_it_and_exits_0(tmp_path: Path, emu: Emulator) -> None:
    """Fault 14: the listing write is in flight (Vast answers after 2 s) when SIGTERM arrives."""
    config = _config(tmp_path, emu)
    emu.inject(Fault("delay", method="PUT", path_contains="create_asks", delay_s=2.0))
    log = tmp_path / "agent.log"
    with log.open("wb") as log_file:
        agent = _agent(config, _env(emu), log_file)
        try:
            deadline = time.monotonic() + WAIT_S
            while not any("create_asks" in r.path for r in emu.requests):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            agent.send_signal(signal.SIGTERM)  # the PUT has arrived and waits for its reply
            assert agent.wait(timeout=WAIT_S) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    assert emu.state.machines[DEMO_MACHINE_ID].listed
    store = StateStore.open(tmp_path / "state")
    try:
        assert store.open_intents() == [], "the write was finished and recorded, not abandoned"
        (listed,) = store.journal_entries(kind="list_machine")
        assert listed.ok
    finally:
        store.close()


def test_run_once_lists_the_machine_and_exits_0(tmp_path: Path, emu: Emulator) -> None:
    config = _config(tmp_path, emu)
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once"],
        env=_env(emu), capture_output=True, timeout=WAIT_S * 2, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    machine = emu.state.machines[DEMO_MACHINE_ID]
    assert machine.listed
    assert machine.listed_gpu_cost == 2.00


def test_run_once_with_the_shipped_demo_config_lists_at_the_rules_price_and_explains_it(
    tmp_path: Path, emu: Emulator
) -> None:
    """Issue 4's closing check: config/demo.toml (its Vast URL and state directory moved, its maintenance windows
    left out) against the emulator."""
    shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
    text = without_windows((REPO / "config" / "demo.toml").read_text())
    text = text.replace('"http://127.0.0.1:8765"', f'"{emu.url}"').replace('"/tmp/hostagent-demo"', '"state"')
    config = tmp_path / "demo.toml"
    config.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once"],
        env=_env(emu), capture_output=True, timeout=WAIT_S * 2, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    machine = emu.state.machines[DEMO_MACHINE_ID]
    assert machine.listed
    store = StateStore.open(tmp_path / "state")
    try:
        (listed,) = store.journal_entries(kind="list_machine")
    finally:
        store.close()
    for step in ("base:", "schedule:", "market:", "idle_decay:", "min_bid:", "guard:"):
        assert step in listed.why
    published = float(listed.why.split("guard: publish $")[1].split()[0])
    assert machine.listed_gpu_cost == pytest.approx(published)


def test_a_bad_config_or_an_unsafe_key_file_exits_78(tmp_path: Path, emu: Emulator) -> None:
    config = _config(tmp_path, emu)
    config.write_text(config.read_text().replace("hot_for_s = 300.0", "hot_for_s = -5"))
    bad = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once"],
        env=_env(emu), capture_output=True, timeout=WAIT_S, check=False,
    )
    assert bad.returncode == 78
    assert b"health.hot_for_s" in bad.stderr

    key = tmp_path / "key"
    key.write_text(emu.api_key + "\n")
    key.chmod(0o644)
    config = _config(tmp_path, emu)
    config.write_text(config.read_text().replace("[vast]\n", f'[vast]\napi_key_file = "{key}"\n'))
    unsafe = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once"],
        env={k: v for k, v in _env(emu).items() if k != "VAST_API_KEY"},
        capture_output=True, timeout=WAIT_S, check=False,
    )
    assert unsafe.returncode == 78
    assert emu.api_key.encode() not in unsafe.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_running_service_serves_a_metrics_page_that_prometheus_can_parse(tmp_path: Path, emu: Emulator) -> None:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    port = _free_port()
    config = _config(tmp_path, emu)
    metrics = f'[metrics]\nenabled = true\naddress = "127.0.0.1:{port}"'
    config.write_text(config.read_text().replace("[metrics]\nenabled = false", metrics))
    log = tmp_path / "agent.log"
    with log.open("wb") as log_file:
        agent = _agent(config, _env(emu), log_file)
        try:
            _wait_log(log, '"reconciled"')
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                page = reply.read().decode()
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=WAIT_S) == 0
    samples = [s for family in text_string_to_metric_families(page) for s in family.samples]
    temps = [s for s in samples if s.name == "DCGM_FI_DEV_GPU_TEMP"]
    assert sorted(s.labels["gpu"] for s in temps) == [str(i) for i in range(8)]
    (listed,) = [s for s in samples if s.name == "hostagent_machine_listed"]
    assert listed.value == 1.0
    (price,) = [s for s in samples if s.name == "hostagent_price_usd_per_gpu_hour"]
    assert 1.0 <= price.value <= 4.0  # inside the config's guard rails for H100 SXM
    assert any(s.name == "hostagent_actions_total" and s.value >= 1 for s in samples)


def test_a_taken_metrics_port_fails_the_start_before_ready_with_exit_73_naming_the_address(
    tmp_path: Path, emu: Emulator
) -> None:
    """`run` whose metrics.address another process holds exits 73 before READY=1, naming the address and the fix."""
    config = _config(tmp_path, emu)
    sock_dir = Path(tempfile.mkdtemp(prefix="ha-"))  # AF_UNIX paths must stay short
    with socket.socket() as holder, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        config.write_text(config.read_text().replace(
            "[metrics]\nenabled = false", f'[metrics]\nenabled = true\naddress = "{address}"'))
        notify.bind(str(sock_dir / "notify"))
        done = subprocess.run(
            [sys.executable, "-m", "hostagent", "--config", str(config), "run"],
            env=_env(emu, NOTIFY_SOCKET=str(sock_dir / "notify")), capture_output=True, text=True,
            timeout=WAIT_S, check=False,
        )
        notify.setblocking(False)
        messages = []
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
    shutil.rmtree(sock_dir)
    assert done.returncode == 73
    assert f"metrics.address {address} cannot be bound" in done.stderr
    assert "set another [metrics] address" in done.stderr
    assert not any("READY=1" in message for message in messages)
