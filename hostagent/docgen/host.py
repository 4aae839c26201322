"""One host for the docs' stories: the demo's config and fake GPUs against an emulator on a simulated clock.

Every command runs in this process through `hostagent.cli.main` (or, for `vastai` and the install script, as a
process), with `hostagent.bootstrap.wall_clock` swapped for the host's FakeClock, so the times it prints are the
story's. What still differs from run to run is normalised: temporary paths, the emulator's port, this process's
pid, the user and host running the generator (shown as root@vm).
"""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_TOML = REPO / "config" / "demo.toml"
# A Sunday night in late November 2026, before the demo config's first maintenance window (2026-12-06).
STORY_START = datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc)
SHOWN_DIR = "/tmp/hostdoc"  # noqa: S108  (a path shown in the docs, never opened)
SHOWN_PID = "6407"


@contextlib.contextmanager
def simulated_wall_clock(clock: object, api_key: str) -> Iterator[None]:
    """The commands' own parts on the simulation's clock and with the emulator's key, in this process only."""
    from hostagent import bootstrap  # noqa: PLC0415

    saved_clock, saved_key = bootstrap.wall_clock, os.environ.get("VAST_API_KEY")
    bootstrap.wall_clock = lambda given=None: given or clock  # type: ignore[assignment, return-value]
    os.environ["VAST_API_KEY"] = api_key
    try:
        yield
    finally:
        bootstrap.wall_clock = saved_clock
        if saved_key is None:
            os.environ.pop("VAST_API_KEY", None)
        else:
            os.environ["VAST_API_KEY"] = saved_key


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """`cd DIR` for one command (contextlib.chdir is Python 3.11+; the project supports 3.10)."""
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


class Host:
    """The demo machine (4242, 8 fake H100s) in enforce mode, its state directory and the emulator."""

    def __init__(self, root: Path) -> None:
        from hostagent.testing.clock import FakeClock  # noqa: PLC0415
        from hostagent.testing.emulator import Emulator  # noqa: PLC0415

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.clock = FakeClock(STORY_START)
        self.emu = Emulator(clock=self.clock, rate_limits=False)
        self.url = self.emu.start()
        shutil.copy(REPO / "config" / "fake-gpus.toml", root / "fake-gpus.toml")
        text = DEMO_TOML.read_text(encoding="utf-8")
        text = re.sub(r"^api_url = .*$", f'api_url = "{self.url}"', text, count=1, flags=re.MULTILINE)
        text = re.sub(r"^state_dir = .*$", f'state_dir = "{root / "state"}"', text, count=1, flags=re.MULTILINE)
        self.config = root / "config.toml"
        self.config.write_text(text, encoding="utf-8")

    def close(self) -> None:
        self.emu.stop()

    def normal(self, text: str) -> str:
        text = text.replace(str(self.root), SHOWN_DIR).replace(str(REPO), "~/hostagent")
        text = text.replace(self.url, "http://127.0.0.1:8765")
        text = re.sub(rf"\bpid {os.getpid()}\b", f"pid {SHOWN_PID}", text)
        from hostagent.bootstrap import os_host_name  # noqa: PLC0415  (the one gethostname() call)

        host = os_host_name()
        text = text.replace(f"hostagent {host}: ", "hostagent vm: ")  # a message's title
        for user in {pwd.getpwuid(os.geteuid()).pw_name, getpass.getuser()}:  # owner.py's and bootstrap's way
            text = text.replace(f"{user}@{host}", "root@vm")
            text = re.sub(rf"\bby {re.escape(user)}\b", "by root", text)
        return text

    @contextlib.contextmanager
    def _clock(self) -> Iterator[None]:
        os.environ.pop("SUDO_USER", None)  # "alice via sudo" would name the person who ran the generator
        with simulated_wall_clock(self.clock, self.emu.api_key):
            yield

    def run(self, shown: str, *words: str, exit_code: bool = False, check: bool = True, stderr: bool = True,
            lines: tuple[int, int] | None = None, grep: str | None = None) -> str:
        """`hostagent WORDS` with --config, as `$ SHOWN` and what it printed (stdout, then stderr); `lines`
        (first, last; from 1) and `grep` keep what `sed -n` or `grep` in SHOWN would. A non-zero exit fails
        the generator unless `exit_code` (shown as `[exit N]`) or not `check` (a pipe: grep's exit counts)."""
        from hostagent.cli import main  # noqa: PLC0415
        from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

        out, err = io.StringIO(), io.StringIO()
        with self._clock(), _inside(self.root), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            code = main(["--config", self.config.name, *words])
        configure_logging(level="error")
        if check and not exit_code and code != 0:
            raise AssertionError(f"hostagent {' '.join(words)} exited {code}: {out.getvalue()}{err.getvalue()}")
        text = out.getvalue() + (err.getvalue() if stderr else "")
        if lines is not None:
            text = "".join(text.splitlines(keepends=True)[lines[0] - 1:lines[1]])
        if grep is not None:  # a plain string, or ^ for the start of a line; -A N follows each hit by N lines
            pattern, _, after = grep.partition(" -A")
            kept, follow = [], 0
            for line in text.splitlines(keepends=True):
                hit = line.startswith(pattern[1:]) if pattern.startswith("^") else pattern in line
                if hit or follow > 0:
                    kept.append(line)
                follow = int(after or 0) if hit else follow - 1
            text = "".join(kept)
        tail = f"[exit {code}]\n" if exit_code else ""
        return f"$ {shown}\n" + self.normal(text) + tail

    def once(self) -> str:
        """`hostagent run --once`, its log lines (JSON on stderr, stamped with the real time) left out."""
        return self.run("hostagent run --once 2>/dev/null", "run", "--once", stderr=False)

    def vastai(self, *words: str) -> str:
        """The official `vastai` CLI (a test dependency, installed beside this Python) against the emulator."""
        home = self.root / "vastai-home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST", "XDG_"))}
        env.update({"VAST_URL": self.url, "VAST_API_KEY": self.emu.api_key, "HOME": str(home),
                    "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"), "CI": "1",
                    "VASTAI_NO_UPDATE_CHECK": "1", "TZ": "UTC", "NO_COLOR": "1"})
        done = subprocess.run([str(Path(sys.executable).parent / "vastai"), *words], input="y\n", text=True,
                              capture_output=True, env=env, timeout=60, check=True)
        return f"$ vastai {' '.join(words)}\n" + self.normal(done.stdout)

    def advance(self, seconds: float) -> None:
        """Time passes for the host and for Vast (the emulator's renters run on the same clock)."""
        self.emu.advance(seconds)

    def edit(self, old: str, new: str) -> None:
        """The owner edits config.toml (the next command reads it)."""
        text = self.config.read_text(encoding="utf-8")
        if old not in text:
            raise AssertionError(f"config.toml has no {old!r}")
        self.config.write_text(text.replace(old, new, 1), encoding="utf-8")
