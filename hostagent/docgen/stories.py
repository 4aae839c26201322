"""The docs' stories: a sequence of commands on one host (hostagent/docgen/host.py), each sample one part of it.

A story runs once per generator run and yields every sample it holds, so docs/owner-control.md's three blocks
cost one host. Between commands only what the shown commands and the story's prose say happens: the clock
moves, the emulator's renters or Vast's own signals change, the owner edits config.toml.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from hostagent.docgen.host import SHOWN_DIR, STORY_START, Host

MACHINE = "4242"
SHOWN_ROOT = "/tmp/hostroot"  # noqa: S108  (paths shown in the docs, never opened)
SHOWN_KEY = "/tmp/vast_api_key.txt"  # noqa: S108


def owner(root: Path) -> dict[str, str]:
    """docs/owner-control.md: hold and release, pause and resume, a change made outside hostagent."""
    host = Host(root)
    try:
        host.once()
        host.advance(60)
        readme = (host.run('hostagent hold --reason "disk swap" --until 3h', "hold", "--reason", "disk swap",
                           "--until", "3h")
                  + host.run("hostagent status | grep '^owner'", "status", grep="^owner")
                  + host.run("hostagent release", "release"))
        host.advance(60)
        hold = (host.run('hostagent hold --reason "disk swap" --until 3h', "hold", "--reason", "disk swap",
                         "--until", "3h")
                + host.once()
                + host.run("hostagent status | head -6", "status", lines=(1, 6))
                + host.run("hostagent journal --kind event --limit 2", "journal", "--kind", "event", "--limit", "2")
                + host.run("hostagent release", "release"))
        host.once()
        host.advance(600)
        pause = host.run('hostagent pause --reason "testing prices by hand"', "pause", "--reason",
                         "testing prices by hand")
        host.edit('"H100 SXM" = 2.00', '"H100 SXM" = 2.40')
        host.edit("enabled = true\npercentile", "enabled = false\npercentile")
        pause += ("$ editor config.toml      # [pricing.models] \"H100 SXM\" = 2.40; [pricing.market] enabled = false\n"
                  + host.once()
                  + host.run("hostagent status | sed -n 4p", "status", lines=(4, 4))
                  + host.run("hostagent journal --kind would_send --limit 1", "journal", "--kind", "would_send",
                             "--limit", "1")
                  + host.run("hostagent resume", "resume"))
        host.once()
        host.advance(600)
        outside = host.vastai("unlist", "machine", MACHINE)
        outside += (host.once()
                    + host.run("hostagent status | sed -n 4,6p", "status", lines=(4, 6))
                    + host.run("hostagent journal --kind event --limit 1", "journal", "--kind", "event", "--limit", "1")
                    + host.run("hostagent release", "release"))
    finally:
        host.close()
    return {"readme-hold": readme, "owner-hold": hold, "owner-pause": pause, "owner-outside": outside}


def maintenance(root: Path) -> dict[str, str]:
    """docs/maintenance.md: an operator's window from `maint add` to Vast, refusals, a cancel, and status."""
    host = Host(root)
    berlin = ("--tz", "Europe/Berlin")
    try:
        host.once()
        host.advance(120)
        add = (host.run('hostagent maint add --start "2026-12-10 14:00" --duration-h 2.5 --category disk '
                        '--tz Europe/Berlin --reason "replace the NVMe scratch disk" --yes', "maint", "add",
                        "--start", "2026-12-10 14:00", "--duration-h", "2.5", "--category", "disk", *berlin,
                        "--reason", "replace the NVMe scratch disk", "--yes")
               + host.run("hostagent maint list", "maint", "list")
               + host.once()
               + host.run("hostagent maint list", "maint", "list")
               + host.run("hostagent journal --kind operator", "journal", "--kind", "operator")
               + host.run("hostagent journal --kind schedule_maint", "journal", "--kind", "schedule_maint"))
        host.advance(600)
        more = (host.run('hostagent maint add --start "2026-12-17 09:00" --duration-h 1 --category power '
                         '--tz Europe/Berlin --reason "UPS battery swap" --yes', "maint", "add", "--start",
                         "2026-12-17 09:00", "--duration-h", "1", "--category", "power", *berlin, "--reason",
                         "UPS battery swap", "--yes")
                + host.run('hostagent maint add --start "2026-12-10 16:30" --duration-h 1 --tz Europe/Berlin --yes',
                           "maint", "add", "--start", "2026-12-10 16:30", "--duration-h", "1", *berlin, "--yes",
                           exit_code=True)
                + host.run('hostagent maint add --start "2025-12-10 16:30" --duration-h 1 --yes', "maint", "add",
                           "--start", "2025-12-10 16:30", "--duration-h", "1", "--yes", exit_code=True)
                + host.run("hostagent maint cancel --yes", "maint", "cancel", "--yes")
                + host.once()
                + host.run("hostagent maint list", "maint", "list")
                + host.run("hostagent journal --kind cancel_maint", "journal", "--kind", "cancel_maint"))
        host.advance(600)
        host.run("maint add", "maint", "add", "--start", "2026-12-20 10:00", "--duration-h", "4", "--category",
                 "gpu", *berlin, "--reason", "reseat GPU 3", "--yes")
        status = host.run("hostagent status | grep '^maint '", "status", grep="^maint ")
        check = host.run('hostagent status --check; echo "exit $?"', "status", "--check", exit_code=True)
        host.advance(7200)
        check += host.run('hostagent status --check; echo "exit $?"', "status", "--check", exit_code=True)
        doc = json.loads(host.run("", "status", "--json").split("\n", 1)[1])
        status += ("$ hostagent status --json | jq .operator_maintenance\n"
                   + json.dumps(doc["operator_maintenance"], indent=2, ensure_ascii=False) + "\n")
    finally:
        host.close()
    check = check.replace("[exit ", "exit ").replace("]\n", "\n")
    return {"maint-add": add, "maint-refused": more, "maint-status": status, "status-check": check}


def _post(host: Host, path: str, body: dict[str, object]) -> str:
    """What `curl -s -X POST URL -d BODY` prints: the emulator's answer (a loopback address)."""
    request = urllib.request.Request(host.url + path, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  (the emulator on loopback)
        return str(answer.read().decode("utf-8")).strip()


def signals(root: Path) -> dict[str, str]:
    """docs/vast-signals.md: a renter report, Vast's offline/deverified/error flags, then Vast's own window."""
    host = Host(root)
    try:
        host.once()
        report = {"machine_id": int(MACHINE), "problem": "Network Issue", "message": "docker pulls crawl"}
        flags = {"machine_id": int(MACHINE), "offline": True, "verification": "deverified",
                 "error_description": "GPU 3 not detected"}
        posted = _post(host, "/_emulator/report", report) + "\n" + _post(host, "/_emulator/signals", flags) + "\n"
        host.advance(400)
        host.once()
        status = host.run("hostagent status | grep -A4 '^vast '", "status", grep="^vast  -A4")
        events = host.run("hostagent journal --kind event", "journal", "--kind", "event")
        doc = json.loads(host.run("", "status", "--json").split("\n", 1)[1])
        shown = "$ hostagent status --json | jq .agent.vast_signals\n" + json.dumps(
            doc["agent"]["vast_signals"], indent=2, ensure_ascii=False) + "\n"
        host.edit("[health]\n", "[health]\nunlist_when_vast_offline = true\n")
        plan = host.run("hostagent plan | grep -e '\\[vast.offline\\]' -e '\\[listing\\]'", "plan")
        plan = "".join(line for line in plan.splitlines(keepends=True)
                       if line.startswith("$") or line.lstrip().startswith(("[vast.offline]", "[listing]")))
        host.once()  # sends the unlist (cause vast)
        _post(host, "/_emulator/signals", {"machine_id": int(MACHINE), "offline": False})
        _post(host, "/_emulator/maintenance", {"machine_id": int(MACHINE), "start_time": 1796000000,
                                               "duration_hours": 2, "category": "power"})
        host.advance(60)  # within the relist cool-down: the two signal events alone
        later = host.once()
        later += host.run("hostagent journal --kind event --limit 2", "journal", "--kind", "event", "--limit", "2")
    finally:
        host.close()
    return {"signals-posted": posted, "signals-status": status,
            "signals-events": events, "signals-json": shown, "signals-plan": plan,
            "signals-later": later}


def plan_compare(root: Path) -> dict[str, str]:
    """docs/plan-compare.md: a candidate config with a higher price and min bid, then one that changes nothing."""
    host = Host(root)
    try:
        host.edit("enabled = true\npercentile", "enabled = false\npercentile")  # the base price alone
        host.edit('mode = "power"', 'mode = "fixed"\nusd_per_gpu_hour = 0.50')
        host.once()
        host.advance(60)
        current = host.config.read_text(encoding="utf-8")
        (root / "same.toml").write_text(current, encoding="utf-8")
        candidate = current.replace('"H100 SXM" = 2.00', '"H100 SXM" = 2.40').replace("= 0.50", "= 0.60")
        (root / "candidate.toml").write_text(candidate, encoding="utf-8")
        differs = host.run("hostagent --config config.toml plan --compare candidate.toml", "plan", "--compare",
                           "candidate.toml")
        host.advance(60)  # not the same second: `plan` waits out Vast's per-endpoint interval and says so
        same = host.run('hostagent --config config.toml plan --compare same.toml --detailed-exitcode; echo "exit $?"',
                        "plan", "--compare", "same.toml", "--detailed-exitcode", exit_code=True)
    finally:
        host.close()
    return {"plan-compare": differs, "plan-compare-same": same.replace("[exit 0]", "exit 0")}


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
    import subprocess  # noqa: PLC0415

    from hostagent.docgen.host import REPO  # noqa: PLC0415

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
