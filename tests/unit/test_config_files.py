"""The shipped config files stay complete and valid, and `hostagent check-config` reports on a config."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hostagent.cli import main
from hostagent.config import Config, load_config
from hostagent.config.convert import schema_paths

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
EXAMPLE = CONFIG_DIR / "hostagent.example.toml"
DEMO = CONFIG_DIR / "demo.toml"
THREE_MISTAKES = '[agent]\nmode = "enforc"\n[pricing]\ndefualt_usd_per_gpu_hour = 1\n[metrics]\naddress = "nowhere"\n'


def toml_paths(value: object, prefix: str = "") -> set[str]:
    """The key paths present in parsed TOML, spelled as `schema_paths` spells them (`a.b[].c`)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | toml_paths(item, path)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for item in value:
            paths |= toml_paths(item, f"{prefix}[]")
    return paths


def switched_on(text: str) -> str:
    """The example with its switched-off lines ("#~ ") switched on, as an owner who wants them edits it."""
    return re.sub(r"^#~ ", "", text, flags=re.MULTILINE)


def test_the_example_sets_every_key_the_config_reads() -> None:
    """A field added to the model without a line in the example (live, or switched off with "#~ ") fails here."""
    present = toml_paths(tomllib.loads(switched_on(EXAMPLE.read_text())))
    # Tables keyed by GPU model: any model name stands for the `*`.
    present |= {re.sub(r'^(pricing(\.guard)?\.models)\.[^.]+', r"\1.*", p) for p in present}
    skip = frozenset({(Config, "source")})
    missing = [path for path in schema_paths(Config, skip=skip) if path not in present]
    assert missing == []


def test_every_key_in_the_example_has_a_comment_just_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    uncommented = [
        line
        for before, line in itertools.pairwise(lines)
        if re.match(r'^\s*("[^"]+"|\w+)\s*=', line) and not before.lstrip().startswith("#")
    ]
    assert uncommented == []


def test_the_example_is_a_valid_config() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.source == EXAMPLE
    assert len(config.pricing.rules) == 2
    assert len(config.maintenance.windows) == 2
    assert config.default_job is not None


def test_the_example_as_shipped_needs_no_file_a_fresh_install_lacks(tmp_path: Path) -> None:
    """The install skeleton is the example: it sends no notifications until the owner switches a destination on
    (whose URL file would not exist yet, and `run` refuses a destination it cannot read); switched on, it is valid."""
    assert load_config(EXAMPLE, environ={}).notify.destinations == ()
    example = tmp_path / "with-destinations.toml"
    example.write_text(switched_on(EXAMPLE.read_text()))
    [destination] = load_config(example, environ={}).notify.destinations
    assert destination.name == "telegram"


def test_the_demo_config_is_the_agreed_demo_machine() -> None:
    config = load_config(DEMO, environ={"STATE_DIRECTORY": "/elsewhere"})
    assert config.hardware.backend == "fake"
    assert config.hardware.fake_file == CONFIG_DIR / "fake-gpus.toml"
    assert config.hardware.fake_file.is_file()  # shipped by the hardware layer beside demo.toml
    assert config.machine.id is None
    assert config.machine.hostname == "demo-h100-01"
    assert config.vast.api_url == "http://127.0.0.1:8765"
    assert config.vast.api_key_file is None
    assert config.agent.mode == "enforce"
    assert config.agent.state_dir == Path("/tmp/hostagent-demo")
    assert config.pricing.base_for("H100 SXM") == 2.00
    assert config.pricing.market.enabled
    assert config.pricing.market.min_peers == 3
    assert config.pricing.idle_decay.enabled
    assert config.pricing.min_bid.mode == "power"
    (window,) = config.maintenance.windows
    assert (window.recur, window.weekday, window.nth, window.timezone) == ("monthly", "sun", 1, "Europe/Berlin")
    assert (window.category, window.duration_h) == ("software", 4.0)
    assert config.default_job is not None
    assert config.default_job.image.startswith("vastai/")
    assert (config.cleanup.every_h, config.earnings.every_h) == (24.0, 6.0)


def test_check_config_says_ok_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(DEMO), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == f"config OK: {DEMO} (mode enforce, backend fake, 1 rule, 1 window)"
    assert err == ""


def test_check_config_names_all_three_mistakes_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(THREE_MISTAKES)
    assert main(["check-config", "--config", str(path)]) == 78
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split(": ")[1] for line in lines[:3]] == [
        "agent.mode",
        "pricing.defualt_usd_per_gpu_hour",
        "metrics.address",
    ]
    assert lines[3:] == ["config invalid: 3 problems"]


def test_check_config_on_a_missing_file_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "absent.toml"), "check-config"]) == 78
    assert "no such file (choose another with --config PATH)" in capsys.readouterr().err


def test_python_dash_m_hostagent_check_config_exits_78_on_three_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(THREE_MISTAKES)
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 4
    assert 'agent.mode: must be one of "observe", "enforce", got "enforc"' in done.stderr


def test_the_installed_hostagent_console_script_checks_the_demo_config() -> None:
    script = Path(sys.executable).parent / "hostagent"
    if not script.exists():
        pytest.skip(f"hostagent is not installed beside {sys.executable} (pip install -e . puts it there)")
    done = subprocess.run([str(script), "--config", str(DEMO), "check-config"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.startswith("config OK: "), done.stderr) == (0, True, "")
