"""Records the official vastai 1.9.1 CLI's market metrics requests into tests/fixtures/vast-cli-captures/.

Run by hand (`.venv/bin/python tests/integration/record_metrics_captures.py`) when the CLI version changes;
the tests only replay the files. Each reply is what the emulator answers at a fixed simulated instant
(or Vast's `needs_machine` answer); the CLI sends its request to a loopback server that plays that reply
back and records the bytes on the wire, written in the format of the other captures (key redacted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
from vast_loopback import Reply, ScriptedServer

from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import Emulator

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vast-cli-captures"
KEY = "capture-key-0123456789"
AT = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
START_S, END_S = 1795780800, 1795867200  # 2026-11-27 12:00 .. 2026-11-28 12:00 UTC
NEEDS_MACHINE = {"success": True, "gpus": [], "needs_machine": True}
CASES: tuple[tuple[str, tuple[str, ...], str, dict[str, str] | None], ...] = (
    ("gpu-metrics-current", ("metrics", "gpu", "--verified", "true", "--num-gpus", "8", "--raw"),
     "/api/v0/metrics/gpu/current/", {"verified": "yes", "hosting_type": "all", "num_gpus": "8"}),
    ("gpu-metrics-history", ("metrics", "gpu-trends", "H100_SXM", "--verified", "true", "--num-gpus", "8",
                             "--start", str(START_S), "--end", str(END_S), "--step", "3600", "--raw"),
     "/api/v0/metrics/gpu/history/", {"gpu_name": "H100 SXM", "verified": "yes", "hosting_type": "all",
                                      "num_gpus": "8", "start": str(START_S), "end": str(END_S), "step": "3600"}),
    ("gpu-metrics-needs-machine", ("metrics", "gpu", "--raw"), "", None),
)  # fmt: skip


def _reply(path: str, params: dict[str, str] | None) -> object:
    if params is None:
        return NEEDS_MACHINE
    with Emulator(clock=FakeClock(AT), seed=0, rate_limits=False) as emu:
        answer = httpx.get(emu.url + path, params=params, headers={"Authorization": f"Bearer {emu.api_key}"})
        answer.raise_for_status()
        return answer.json()


def record(name: str, args: tuple[str, ...], path: str, params: dict[str, str] | None) -> None:
    body = _reply(path, params)
    server = ScriptedServer(default=Reply(body=body)).start()
    argv = ["vastai", "--url", server.url, "--api-key", KEY, *args]
    with tempfile.TemporaryDirectory() as home:  # the CLI keeps a config and a cache under HOME
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/config", "XDG_CACHE_HOME": f"{home}/cache",
               "TZ": "UTC", "NO_COLOR": "1", "CI": "1", "VASTAI_NO_UPDATE_CHECK": "1"}
        began = time.monotonic()
        done = subprocess.run([str(Path(sys.executable).parent / "vastai"), *argv[1:]], capture_output=True,
                              text=True, env=env, timeout=60, check=False)
    server.stop()
    requests = []
    for seq, seen in enumerate(server.seen):
        raw_body = seen.body.decode() if seen.body else None
        requests.append({
            "seq": seq, "t_offset_s": 0.0, "method": seen.method, "path": seen.path,
            "request_target": f"{seen.path}?{seen.raw_query}" if seen.raw_query else seen.path,
            "raw_query": seen.raw_query, "query": dict(parse_qsl(seen.raw_query, keep_blank_values=True)),
            "headers": {k: ("Bearer <key>" if k == "Authorization" else v) for k, v in seen.headers.items()},
            "raw_body": raw_body, "json_body": json.loads(raw_body) if raw_body else None,
            "response_status": 200, "response_headers": {}, "response_body": body,
        })
    capture = {
        "command": name, "argv": ["vastai", "--url", "http://127.0.0.1:PORT", "--api-key", "<key>", *args],
        "stdin": "", "env_overrides": {}, "server_scenario": "default",
        "note": "recorded by tests/integration/record_metrics_captures.py (reply: the emulator's at "
                f"{AT.isoformat()})" if params else "recorded by tests/integration/record_metrics_captures.py",
        "exit_code": done.returncode, "wall_time_s": round(time.monotonic() - began, 3),
        "stdout": done.stdout, "stderr": done.stderr, "requests": requests,
    }
    (CAPTURES / f"{name}.json").write_text(json.dumps(capture, indent=1) + "\n")


if __name__ == "__main__":
    for case in CASES:
        record(*case)
        print("recorded", case[0])
