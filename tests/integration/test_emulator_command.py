"""`hostagent emulator` serves until SIGTERM, prints how to use it, and exits 0."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx


def test_the_command_prints_its_url_and_key_serves_and_stops_cleanly_on_sigterm() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "hostagent", "emulator", "--port", "0", "--seed", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(4)]
            url = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
            assert url, lines
            assert "hostagent-demo-key" in lines[1]
            assert f"VAST_URL={url.group(0)} VAST_API_KEY=hostagent-demo-key vastai show machines" in lines[3]
            auth = {"Authorization": "Bearer hostagent-demo-key"}
            reply = httpx.get(f"{url.group(0)}/api/v0/machines/4242/", headers=auth)
            assert reply.json()[0]["hostname"] == "demo-h100-01"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:  # a failed assertion must not leave the server running
                proc.kill()
