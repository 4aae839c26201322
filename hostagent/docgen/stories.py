"""The docs' stories: a sequence of commands on one host (hostagent/docgen/host.py), each sample one part of it.

A story runs once per generator run and yields every sample it holds, so docs/owner-control.md's three blocks
cost one host. Between commands only what the shown commands and the story's prose say happens: the clock
moves, the emulator's renters or Vast's own signals change, the owner edits config.toml.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from hostagent.docgen.host import Host

MACHINE = "4242"


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
