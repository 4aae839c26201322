"""Command samples for README.md and docs/, from real runs of the commands (`scripts/gen_docs.py` fills them in).

The samples of the task pages (owner-control, maintenance, vast-signals, plan-compare, notifications, install,
configuration, metrics, `status --check`, README's hold and notify-test) come from hostagent/docgen/stories.py
and setups.py: one host per story, on a simulated clock (hostagent/docgen/host.py says what is normalised);
`promtool test rules` runs when promtool is installed, and README.md's copy is kept when it is not.
The samples below are those of the demo's world:

Each sample is what the command printed, run on the demo's world: config/demo.toml, its 8 fake H100s and the
Vast emulator. They are made deterministic as follows, and only so:
- `demo` runs `hostagent demo` itself (a fixed simulated clock and seed); `status` is the status it prints at the
  end of its simulated time (a `status` run later would only add how long ago that was);
- `journal` runs `hostagent journal` on the demo's state; `earnings` renders the demo's state with the command's
  own code, "today" being the demo's last simulated day rather than the wall-clock day;
- `plan` runs `hostagent plan` (in observe mode) in this process against the emulator on the demo's fixed
  simulated clock (the clock of `hostagent.bootstrap.wall_clock`, which `plan` uses, is the simulation's);
  `run-once` runs `hostagent run --once` so too, then `hostagent journal` on what it wrote;
- `doctor` runs `hostagent doctor` against the emulator on the real clock; the measured clock offset is
  normalised, like every temporary path (`/tmp/hostagent-demo-XXXX`), the emulator's port (8765, the demo's) and
  the checkout's path (`~/hostagent`);
- `telemetry` and `check-config` run the commands; the reading's time is normalised;
- `emulator` starts `hostagent emulator` on a free port (shown as 8765, its default) and stops it with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from hostagent.docgen import setups, stories
from hostagent.docgen.host import simulated_wall_clock

REPO = Path(__file__).resolve().parents[2]
DEMO_TOML = REPO / "config" / "demo.toml"
DEMO_DAYS = 2  # enough for a hot GPU, the maintenance window and the relist; keeps the test under ~20 s
SHOWN_TMP = "/tmp/hostagent-demo-XXXX"  # noqa: S108  (a path shown in the docs, never opened)
THREE_MISTAKES = '[agent]\nmode = "enforc"\n[pricing]\ndefualt_usd_per_gpu_hour = 1\n[metrics]\naddress = "nowhere"\n'


class World:
    """The temporary directory every sample runs in, and what normalises its output."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.demo_dir = root / "demo"
        self.demo_out: str | None = None
        self.ports: list[int] = []
        self.promtool: subprocess.Popen[str] | None = None  # started first, read by its sample
        self.told: dict[str, str] = {}  # every sample of the stories run so far (hostagent/docgen/stories.py)

    def hostagent(self, *words: str, cwd: Path = REPO, env: dict[str, str] | None = None,
                  stderr: bool = True) -> str:
        done = subprocess.run([sys.executable, "-m", "hostagent", *words], cwd=cwd, capture_output=True, text=True,
                              timeout=120, check=False, env={**os.environ, **(env or {})})
        return self.normal(done.stdout + (done.stderr if stderr else ""))

    def normal(self, text: str) -> str:
        text = text.replace(str(self.root / "demo"), SHOWN_TMP).replace(str(self.root), SHOWN_TMP)
        text = text.replace(str(REPO), "~/hostagent")
        for port in self.ports:
            text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:8765")
        return text

    def demo(self) -> str:
        if self.demo_out is None:
            # stdout only: the timeline. stderr carries the agent's error-level log lines (the demo's GPU fault),
            # stamped with the wall clock, and would land after the timeline rather than where they happened.
            self.demo_out = self.hostagent("demo", "--days", str(DEMO_DAYS), "--state-dir", str(self.demo_dir),
                                           stderr=False)
        return self.demo_out


def _demo(world: World) -> str:
    return f"$ hostagent demo --days {DEMO_DAYS}\n" + world.demo()


def _status(world: World) -> str:
    out = world.demo()
    start = out.index("$ hostagent status")
    body = out[out.index("\n", start) + 1:out.index("\nThe demo's state is kept")].strip("\n")
    return "$ hostagent status\n" + body + "\n"


def _journal(world: World) -> str:
    world.demo()
    return "$ hostagent journal --limit 2\n" + world.hostagent(
        "--config", str(world.demo_dir / "demo.toml"), "journal", "--limit", "2")


def _earnings(world: World) -> str:
    from hostagent.bootstrap import open_store  # noqa: PLC0415
    from hostagent.commands.earnings import DAY_S, render, report  # noqa: PLC0415

    world.demo()
    with open_store(world.demo_dir / "state", read_only=True) as store:
        saved = store.load_status()
        assert saved is not None, "the demo saved no status"
        machine_id = store.get("machine_id")
        assert isinstance(machine_id, int), "the demo found no machine"
        doc = report(store, machine_id, int(saved[1].timestamp() // DAY_S), 4)
    return "$ hostagent earnings --days 4\n" + render(doc) + "\n"


def _telemetry(world: World) -> str:
    out = world.hostagent("--config", "config/demo.toml", "telemetry")
    return "$ hostagent --config config/demo.toml telemetry\n" + re.sub(
        r"taken \d{4}-\d\d-\d\d[ T][\d:]+(?: UTC|[+-]\d\d:\d\d|Z)?", "taken 2026-12-02 11:00:00 UTC", out)


def _check_config(world: World) -> str:
    bad = world.root / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "bad.toml").write_text(THREE_MISTAKES, encoding="utf-8")
    good = world.hostagent("--config", "config/demo.toml", "check-config")
    done = subprocess.run([sys.executable, "-m", "hostagent", "--config", "bad.toml", "check-config"], cwd=bad,
                          capture_output=True, text=True, timeout=60, check=False)
    return (f"$ hostagent --config config/demo.toml check-config\n{good}\n"
            f"$ hostagent --config bad.toml check-config; echo \"exit $?\"\n{done.stdout}{done.stderr}"
            f"exit {done.returncode}\n")


def _config_copy(source: Path, dest: Path, state_dir: Path, api_url: str) -> Path:
    from hostagent.commands.demo_story import write_config_copy  # noqa: PLC0415

    written = write_config_copy(source, state_dir, dest)
    assert written is not None
    text = re.sub(r"^api_url = .*$", f'api_url = "{api_url}"', written.read_text(encoding="utf-8"), count=1,
                  flags=re.MULTILINE)
    written.write_text(text, encoding="utf-8")
    return written


def _plan(world: World) -> str:
    from hostagent.cli import main  # noqa: PLC0415
    from hostagent.commands.demo_story import demo_config, demo_start  # noqa: PLC0415
    from hostagent.config import load_config  # noqa: PLC0415
    from hostagent.testing.scenario import Simulation  # noqa: PLC0415

    config = load_config(DEMO_TOML, environ={})
    workdir = world.root / "plan"
    with Simulation(config, workdir, start=demo_start(demo_config(config), 4)) as sim:
        path = _config_copy(DEMO_TOML, workdir / "demo.toml", sim.config.agent.state_dir, sim.emu.url)
        # As a new owner first runs it: in observe mode (the demo itself enforces).
        path.write_text(re.sub(r'^mode = "enforce"$', 'mode = "observe"', path.read_text(encoding="utf-8"),
                               count=1, flags=re.MULTILINE), encoding="utf-8")
        out = io.StringIO()
        with simulated_wall_clock(sim.clock, sim.emu.api_key), contextlib.redirect_stdout(out):
            code = main(["--config", str(path), "plan"])
        assert code == 0, f"plan exited {code}"
    return "$ hostagent plan\n" + world.normal(out.getvalue())


def _run_once(world: World) -> str:
    from hostagent.cli import main  # noqa: PLC0415
    from hostagent.commands.demo_story import demo_config, demo_start  # noqa: PLC0415
    from hostagent.config import load_config  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415
    from hostagent.testing.scenario import Simulation  # noqa: PLC0415

    config = load_config(DEMO_TOML, environ={})
    workdir = world.root / "run-once"
    with Simulation(config, workdir, start=demo_start(demo_config(config), 4)) as sim:
        # Its own state directory: the simulation's agent holds the lock on its own.
        path = _config_copy(DEMO_TOML, workdir / "demo.toml", workdir / "run-state", sim.emu.url)
        with simulated_wall_clock(sim.clock, sim.emu.api_key), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            code = main(["--config", str(path), "run", "--once"])
        configure_logging(level="error")
    journal = world.hostagent("--config", str(path), "journal")
    return f"$ hostagent run --once 2>/dev/null; echo \"exit $?\"\nexit {code}\n$ hostagent journal\n{journal}"


def _emulator(world: World) -> str:
    """`hostagent emulator` until it is ready, then Ctrl-C (SIGINT), as an operator would stop it."""
    with subprocess.Popen([sys.executable, "-m", "hostagent", "emulator", "--port", "0"], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:  # its lines as it prints them
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Stop with Ctrl-C."):
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    text = "".join(lines) + rest
    return "$ hostagent emulator\n" + re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:8765", text)


def _doctor(world: World) -> str:
    from hostagent.testing.emulator import Emulator  # noqa: PLC0415

    world.demo()
    with Emulator(rate_limits=False) as emu:
        world.ports.append(int(emu.url.rsplit(":", 1)[1]))
        path = _config_copy(DEMO_TOML, world.demo_dir / "doctor.toml", world.demo_dir / "state", emu.url)
        out = world.hostagent("--config", str(path), "doctor", env={"VAST_API_KEY": emu.api_key})
    out = re.sub(r"local clock (?:ahead of|behind) Vast by [\d.]+ s", "local clock ahead of Vast by 0.4 s", out)
    # Waiting its turn after the agent's calls depends on when they were made: a note, not a check.
    out = "".join(line for line in out.splitlines(keepends=True) if not line.startswith("hostagent doctor: waiting"))
    return "$ hostagent doctor\n" + out


def _told(story: Callable[[Path], dict[str, str]], name: str) -> Callable[[World], str]:
    """One sample of a story; the story runs once, on its own host, for all of its samples."""
    def make(world: World) -> str:
        if name not in world.told:
            world.told.update(story(world.root / story.__name__))
        return world.told[name]

    return make


STORIES: dict[str, Callable[[Path], dict[str, str]]] = {
    "owner-hold": stories.owner, "owner-pause": stories.owner, "owner-outside": stories.owner,
    "maint-add": stories.maintenance, "maint-refused": stories.maintenance, "maint-status": stories.maintenance,
    "signals-posted": stories.signals, "signals-status": stories.signals, "signals-events": stories.signals,
    "signals-json": stories.signals, "signals-plan": stories.signals, "signals-later": stories.signals,
    "plan-compare": stories.plan_compare, "plan-compare-same": stories.plan_compare,
    "notify-test": setups.notifications, "notify-received": setups.notifications,
    "install-dry-run": setups.install_dry_run, "readme-hold": stories.owner, "readme-notify": setups.notifications,
    "status-check": stories.maintenance, "config-key": setups.config_checks,
    "metrics-port-taken": setups.config_checks,
    "notify-down": setups.notifications, "notify-doctor": setups.notifications, "notify-demo": setups.notifications,
}

MAKERS: dict[str, Callable[[World], str]] = {
    **{name: _told(story, name) for name, story in STORIES.items()},
    "demo": _demo,
    "status": _status,
    "journal": _journal,
    "earnings": _earnings,
    "telemetry": _telemetry,
    "check-config": _check_config,
    "plan": _plan,
    "run-once": _run_once,
    "doctor": _doctor,
    "emulator": _emulator,
    "promtool": lambda world: setups.promtool(world.promtool),
}


def make_samples(names: set[str]) -> dict[str, str]:
    """Each named sample as the fenced block that goes between its markers."""
    unknown = names - MAKERS.keys()
    if unknown:
        raise SystemExit(f"gen_docs: no sample named {', '.join(sorted(unknown))} (known: {', '.join(MAKERS)})")
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="error")  # the simulation's own log lines are not part of any sample
    with tempfile.TemporaryDirectory(prefix="hostagent-docs-") as tmp:
        world = World(Path(tmp))
        if "promtool" in names:
            world.promtool = setups.start_promtool()
        return {name: "```\n" + MAKERS[name](world).rstrip("\n") + "\n```\n" for name in sorted(names)}
