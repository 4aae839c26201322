"""The docs' setups around one command: notify-test and its receiver, doctor's destination lines, the demo
agent's messages, the install script's dry run, check-config's key file and `run` on a taken metrics port
(the longer stories of one host are in hostagent/docgen/stories.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from hostagent.docgen.host import REPO, SHOWN_DIR, STORY_START, Host

SHOWN_ROOT = "/tmp/hostroot"  # noqa: S108  (paths shown in the docs, never opened)
SHOWN_KEY = "/tmp/vast_api_key.txt"  # noqa: S108


NOTIFY_TOML = """[agent]
state_dir = "{state}"

[notify]
quiet_hours = "23:00-07:00"
quiet_timezone = "Europe/Berlin"

[[notify.destinations]]
name = "owner-hook"
url_file = "etc/notify-hook.url"
events = ["all"]
min_severity = "info"
"""
LOG_TIME = re.compile(r'"timestamp": "[^"]*"')


def notifications(root: Path) -> dict[str, str]:
    """docs/notifications.md: notify-test against a loopback receiver (hostagent/testing/receiver.py)."""
    from hostagent.testing.receiver import NotificationReceiver  # noqa: PLC0415

    host = Host(root)
    receiver = NotificationReceiver().start()
    try:
        demo = host.config.read_text(encoding="utf-8")
        host.config.write_text(NOTIFY_TOML.format(state=root / "state"), encoding="utf-8")
        (root / "etc").mkdir()
        url_file = root / "etc" / "notify-hook.url"
        url_file.write_text(receiver.url("s3cr3t-token-0123456789") + "\n", encoding="utf-8")
        url_file.chmod(0o644)
        loose = host.run("hostagent --config config.toml notify-test", "notify-test", exit_code=True)
        test = ("$ cat config.toml\n" + host.normal(host.config.read_text(encoding="utf-8")) + "\n"
                + host.run("hostagent --config config.toml check-config", "check-config") + "\n" + loose)
        url_file.chmod(0o600)
        sent = ("$ chmod 600 etc/notify-hook.url\n"
                + host.run("hostagent --config config.toml notify-test --destination owner-hook", "notify-test",
                           "--destination", "owner-hook"))
        test += sent
        got = "".join(f"{m.title}\n" + "".join(f"  {line}\n" for line in m.body.splitlines())
                      for m in receiver.messages)
        received = "$ # what the receiver got (title, then body)\n" + host.normal(got)
        receiver.stop()
        down = host.run("hostagent --config config.toml notify-test", "notify-test", exit_code=True)
        down = LOG_TIME.sub('"timestamp": "2026-11-29T01:00:00.000000Z"', down)
        # doctor on the demo's machine, with this destination and one whose URL apprise does not know
        (root / "etc" / "phone.url").write_text("nosuch://example/phone\n", encoding="utf-8")
        (root / "etc" / "phone.url").chmod(0o600)
        notify = NOTIFY_TOML.split("\n\n", 1)[1].replace('url_file = "etc/', f'url_file = "{root}/etc/')
        phone = f'\n[[notify.destinations]]\nname = "phone"\nurl_file = "{root}/etc/phone.url"\n'
        host.config.write_text(demo + notify + phone, encoding="utf-8")
        doctor = host.run("hostagent doctor | grep notify", "doctor", check=False, grep="notify")
    finally:
        receiver.stop()
        host.close()
    return {"readme-notify": loose.replace("[exit 78]\n", "") + sent, "notify-test": test,
            "notify-received": received, "notify-down": down, "notify-doctor": doctor,
            "notify-demo": _lost_gpu_messages(root / "demo")}


def _lost_gpu_messages(root: Path) -> str:
    """What a destination gets from the demo machine's running agent (the real service on the simulated clock,
    as `hostagent demo` runs it) when GPU 5 is lost for an hour, then comes back."""
    from hostagent.config import load_config  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415
    from hostagent.testing.receiver import NotificationReceiver  # noqa: PLC0415
    from hostagent.testing.scenario import Simulation  # noqa: PLC0415

    host = Host(root)  # its config.toml, pointed at this directory
    host.close()
    with NotificationReceiver() as receiver:
        url_file = root / "notify-hook.url"
        url_file.write_text(receiver.url("s3cr3t-token-0123456789") + "\n", encoding="utf-8")
        url_file.chmod(0o600)
        host.config.write_text(host.config.read_text(encoding="utf-8") + '\n[[notify.destinations]]\n'
                               f'name = "owner-hook"\nurl_file = "{url_file}"\n', encoding="utf-8")
        configure_logging(level="critical")  # the fault's error-level log line is not part of the sample
        with Simulation(load_config(host.config, environ={}), root / "sim", start=STORY_START) as sim:
            sim.run_for(minutes=10)
            sim.set_gpu(5, health="lost")
            sim.run_for(hours=1)
            sim.set_gpu(5, health=None)
            sim.run_for(minutes=30)
        got = "".join(f"{m.title}\n" + "".join(f"  {line}\n" for line in m.body.splitlines())
                      for m in receiver.messages)
    return "$ # what the receiver got (title, then body)\n" + host.normal(got)


def install_dry_run(root: Path) -> dict[str, str]:
    """docs/install.md: `scripts/install-host.sh --dry-run` into a temporary root (it writes nothing)."""
    (root / "hostroot").mkdir(parents=True)
    key = root / "vast_api_key.txt"
    key.write_text("not-a-real-key\n", encoding="utf-8")
    key.chmod(0o600)
    done = subprocess.run([str(REPO / "scripts" / "install-host.sh"), "--root", str(root / "hostroot"), "--dry-run",
                           "--key-file", str(key)], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    shown = (done.stdout + done.stderr).replace(str(root / "hostroot"), SHOWN_ROOT).replace(
        str(key), SHOWN_KEY).replace(str(REPO), "~/hostagent")
    return {"install-dry-run": f"$ scripts/install-host.sh --root {SHOWN_ROOT} --dry-run --key-file {SHOWN_KEY}\n"
            + shown}


def config_checks(root: Path) -> dict[str, str]:
    """docs/configuration.md's key-file check and docs/metrics.md's taken port: `check-config` and `run`."""
    import socket  # noqa: PLC0415

    host = Host(root)
    demo = host.config.read_text(encoding="utf-8")  # the demo's, on the emulator and this state directory
    try:
        key = root / "vast_api_key"
        key.write_text("not-a-real-key\n", encoding="utf-8")
        key.chmod(0o644)
        host.config.write_text(f'[vast]\napi_key_file = "{key}"\n', encoding="utf-8")
        shown = f"hostagent --config {SHOWN_DIR}/config.toml check-config; echo \"exit $?\""
        checked = host.run(shown, "check-config", exit_code=True) + "\n"
        key.chmod(0o600)
        checked += f"$ chmod 600 {SHOWN_DIR}/vast_api_key\n" + host.run(shown, "check-config", exit_code=True)
        host.config.write_text(demo, encoding="utf-8")
        host.once()  # the agent has run here before (a first start would log creating its state store)
        with socket.socket() as holder:  # another process's port, as the sample says: here, this one holds it
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            host.config.write_text(demo.replace("enabled = false\naddress = \"127.0.0.1:9473\"",
                                                f'enabled = true\naddress = "127.0.0.1:{port}"'), encoding="utf-8")
            taken = host.run('hostagent --config port.toml run; echo "exit $?"', "run", exit_code=True)
        taken = taken.replace(f"127.0.0.1:{port}", "127.0.0.1:19473")
    finally:
        host.close()
    exits = {"config-key": checked, "metrics-port-taken": taken}
    return {name: re.sub(r"\[exit (\d+)\]", r"exit \1", text) for name, text in exits.items()}


PROMTOOL_RULES = "config/prometheus/hostagent-rules.test.yml"


def start_promtool() -> subprocess.Popen[str] | None:
    """`promtool test rules` started at once (about 3 s of CPU), so it runs beside the in-process samples."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    return subprocess.Popen([promtool, "test", "rules", PROMTOOL_RULES], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def promtool(started: subprocess.Popen[str] | None) -> str:
    """`promtool test rules` when promtool is installed; without it, the copy committed in README.md stays (it
    cannot be made here, and a machine without Prometheus must not fail the docs' check)."""
    proc = started or start_promtool()
    if proc is None:
        block = re.search(r"<!-- sample: promtool -->\n```\n(.*?)```\n<!-- /sample -->",
                          (REPO / "README.md").read_text(encoding="utf-8"), re.DOTALL)
        assert block is not None, "README.md has no promtool sample to keep"
        return block.group(1)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"promtool test rules failed:\n{out}"
    return f"$ promtool test rules {PROMTOOL_RULES}\n" + out
