"""Specification of the config loader: TOML in, a frozen Config or one ConfigError naming every problem."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from pathlib import Path

import pytest

from hostagent.config import (
    DEFAULT_STATE_DIR,
    Config,
    DecayStep,
    DefaultJobConfig,
    PriceBounds,
    ScheduleRule,
    load_config,
    load_config_text,
    parse_config,
)
from hostagent.errors import ConfigError

SOURCE = Path("/etc/hostagent/config.toml")
NO_ENV: dict[str, str] = {}

FULL = """
[vast]
api_url = "https://console.vast.ai"
api_key_file = "secrets/key"
max_attempts = 3

[machine]
id = 4242

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"
docker_root = "/srv/docker"

[agent]
mode = "enforce"
state_dir = "state"
tick_s = 15

[pricing]
default_usd_per_gpu_hour = 0.5
timezone = "Europe/Berlin"

[pricing.models]
"H100 SXM" = 2.1
"RTX 4090" = 0.4

[[pricing.rules]]
name = "evenings"
days = ["mon", "fri"]
start = "18:00"
end = 23:30:00
multiplier = 1.2

[[pricing.rules]]
name = "nights"
price_usd_per_gpu_hour = 1.5

[pricing.idle_decay]
enabled = true
[[pricing.idle_decay.steps]]
after_h = 3
cut_pct = 4
[[pricing.idle_decay.steps]]
after_h = 9.5
cut_pct = 12

[pricing.guard.models."H100 SXM"]
floor_usd_per_gpu_hour = 1.0
ceiling_usd_per_gpu_hour = 4.0

[health]
critical_xids = [79, 48]

[[maintenance.windows]]
name = "first sunday"
duration_h = 4
recur = "monthly"
weekday = "sun"
nth = 1
timezone = "Europe/Berlin"
category = "software"

[[maintenance.windows]]
name = "psu"
duration_h = 2
start = "2027-01-05T03:30"

[default_job]
image = "vastai/kvm:ubuntu_cli_22.04"
args = ["--quiet"]
price_usd_per_gpu_hour = 0.12

[metrics]
address = "[::1]:9100"
"""


def problems_of(text: str, source: Path | str = SOURCE) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source, environ=NO_ENV)
    return caught.value.problems


def only_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_full_config_becomes_typed_frozen_objects() -> None:
    config = load_config_text(FULL, SOURCE, environ=NO_ENV)
    assert config.source == SOURCE
    assert config.vast.max_attempts == 3
    assert config.machine.id == 4242
    assert config.agent.mode == "enforce"
    assert config.agent.tick_s == 15.0
    assert isinstance(config.agent.tick_s, float)
    assert config.pricing.models == (("H100 SXM", 2.1), ("RTX 4090", 0.4))
    assert config.pricing.base_for("H100 SXM") == 2.1
    assert config.pricing.base_for("A100") == 0.5
    assert config.pricing.rules == (
        ScheduleRule("evenings", ("mon", "fri"), time(18, 0), time(23, 30), multiplier=1.2),
        ScheduleRule("nights", price_usd_per_gpu_hour=1.5),
    )
    assert config.pricing.idle_decay.steps == (DecayStep(3.0, 4.0), DecayStep(9.5, 12.0))
    assert config.pricing.guard.bounds_for("H100 SXM") == PriceBounds(1.0, 4.0)
    assert config.health.critical_xids == (79, 48)
    monthly, one_off = config.maintenance.windows
    assert (monthly.recur, monthly.weekday, monthly.nth, monthly.at) == ("monthly", "sun", 1, time(2, 0))
    assert one_off.start == datetime(2027, 1, 5, 3, 30)  # noqa: DTZ001 (naive local time in the window's zone)
    assert config.default_job == DefaultJobConfig("vastai/kvm:ubuntu_cli_22.04", ("--quiet",), 0.12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.agent.tick_s = 1.0  # type: ignore[misc]


def test_an_empty_file_means_every_default() -> None:
    config = load_config_text("", SOURCE, environ=NO_ENV)
    assert config == Config(source=SOURCE)
    assert config.default_job is None


def test_relative_paths_are_resolved_against_the_config_files_directory(tmp_path: Path) -> None:
    config = load_config_text(FULL, tmp_path / "etc" / "config.toml", environ=NO_ENV)
    assert config.hardware.fake_file == tmp_path / "etc" / "fake-gpus.toml"
    assert config.vast.api_key_file == tmp_path / "etc" / "secrets" / "key"
    assert config.agent.state_dir == tmp_path / "etc" / "state"
    assert config.hardware.docker_root == Path("/srv/docker")


def test_state_dir_absent_comes_from_systemds_state_directory() -> None:
    config = load_config_text("", SOURCE, environ={"STATE_DIRECTORY": "/var/lib/private/hostagent:/var/lib/other"})
    assert config.agent.state_dir == Path("/var/lib/private/hostagent")


def test_state_dir_absent_without_systemd_is_var_lib_hostagent() -> None:
    assert load_config_text("[agent]\n", SOURCE, environ=NO_ENV).agent.state_dir == DEFAULT_STATE_DIR


def test_state_dir_in_the_file_wins_over_state_directory() -> None:
    config = load_config_text('[agent]\nstate_dir = "/srv/ha"\n', SOURCE, environ={"STATE_DIRECTORY": "/x"})
    assert config.agent.state_dir == Path("/srv/ha")


def test_parse_config_takes_already_parsed_data() -> None:
    config = parse_config({"agent": {"mode": "enforce"}}, None, environ=NO_ENV)
    assert config.agent.mode == "enforce"
    assert config.source is None


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hostagent.toml"
    path.write_text('[machine]\nhostname = "h1"\n')
    assert load_config(path, environ=NO_ENV).machine.hostname == "h1"


def test_a_missing_file_is_named_with_the_way_to_choose_another(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert caught.value.problems == [f"{tmp_path / 'nope.toml'}: no such file (choose another with --config PATH)"]


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_bad_toml_names_the_line_and_shows_it() -> None:
    problem = only_problem('[agent]\nmode = "enforce"\ntick_s = \n')
    assert problem.startswith("config.toml: line 3: invalid TOML: ")
    assert "(at line 3, column 10)" in problem
    assert problem.endswith(": tick_s =")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[agent]\nmode = "\xff"\n')
    with pytest.raises(ConfigError, match=r"config.toml: line 2: not UTF-8"):
        load_config(path)


def test_an_unknown_key_suggests_the_close_one() -> None:
    assert only_problem("[pricing]\ndefualt_usd_per_gpu_hour = 1\n") == (
        'config.toml: pricing.defualt_usd_per_gpu_hour: unknown key (did you mean "default_usd_per_gpu_hour"?)'
    )


def test_an_unknown_table_suggests_the_close_one() -> None:
    assert only_problem("[helth]\n") == 'config.toml: helth: unknown key (did you mean "health"?)'


def test_a_key_in_the_wrong_table_says_where_it_belongs() -> None:
    assert only_problem("[vast]\ntick_s = 30\n") == "config.toml: vast.tick_s: unknown key (it belongs in [agent])"


def test_the_source_field_is_not_a_toml_key() -> None:
    assert only_problem('source = "x"\n').startswith("config.toml: source: unknown key")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[agent]\ntick_s = "abc"\n', 'agent.tick_s: expected a number, got "abc"'),
        ("[agent]\ntick_s = true\n", "agent.tick_s: expected a number, got true"),
        ("[agent]\ntick_s = nan\n", "agent.tick_s: expected a finite number, got nan"),
        ("[machine]\nid = 2.5\n", "machine.id: expected a whole number, got 2.5"),
        ("[machine]\nhostname = 7\n", "machine.hostname: expected a string, got 7"),
        ('[metrics]\nenabled = "yes"\n', 'metrics.enabled: expected true or false, got "yes"'),
        ('agent = "enforce"\n', 'agent: expected a table, got "enforce"'),
        ('[health]\ncritical_xids = "79"\n', 'health.critical_xids: expected an array, got "79"'),
        ("[health]\ncritical_xids = [79, 0]\n", "health.critical_xids[1]: must be > 0, got 0"),
        ("[pricing]\nmodels = [1]\n", "pricing.models: expected a table of names to values, got an array"),
        ('[hardware]\nfake_file = ""\n', 'hardware.fake_file: expected a path string, got ""'),
    ],
)
def test_a_wrong_type_is_named_with_the_value_given(text: str, expected: str) -> None:
    assert only_problem(text) == f"config.toml: {expected}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[pricing]\ndefault_usd_per_gpu_hour = 0\n", "pricing.default_usd_per_gpu_hour: must be > 0, got 0"),
        (
            '[pricing.models]\n"H100 SXM" = 210\n',
            'pricing.models."H100 SXM": $210/GPU/h is above $100/GPU/h: surely a typo',
        ),
        ("[pricing]\ncredit_discount_max = 40\n", "pricing.credit_discount_max: must be in [0, 1], got 40"),
        ("[pricing]\nmin_chunk = 0\n", "pricing.min_chunk: must be >= 1, got 0"),
        ("[pricing.market]\npercentile = 101\n", "pricing.market.percentile: must be in [0, 100], got 101"),
        ("[agent]\ntick_s = 0\n", "agent.tick_s: must be > 0, got 0"),
        ("[agent]\ntick_s = 600\n", "agent.reconcile_s: must be >= tick_s (600): a reconcile follows a reading"),
        ("[health]\nmax_temperature_c = 150\n", "health.max_temperature_c: must be in (0, 120], got 150"),
        (
            "[health]\nstale_after_s = 20\n",
            "health.stale_after_s: must be > agent.tick_s (30): readings come every tick",
        ),
        ("[earnings]\ndays_back = 0\n", "earnings.days_back: must be in [1, 366], got 0"),
        ("[pricing.guard]\nmax_change_pct = 0\n", "pricing.guard.max_change_pct: must be in (0, 100], got 0"),
        ('[machine]\nhostname = " "\n', "machine.hostname: must not be empty"),
    ],
)
def test_a_value_out_of_range_is_an_error(text: str, expected: str) -> None:
    assert only_problem(text) == f"config.toml: {expected}"


def test_a_floor_above_the_ceiling_is_an_error() -> None:
    text = "[pricing.guard]\nfloor_usd_per_gpu_hour = 5\nceiling_usd_per_gpu_hour = 4\n"
    assert only_problem(text) == (
        "config.toml: pricing.guard.ceiling_usd_per_gpu_hour: must be >= floor_usd_per_gpu_hour (5)"
    )


def test_a_per_model_floor_above_its_ceiling_is_named_by_model() -> None:
    text = '[pricing.guard.models."H100 SXM"]\nfloor_usd_per_gpu_hour = 3\nceiling_usd_per_gpu_hour = 2\n'
    assert only_problem(text) == (
        'config.toml: pricing.guard.models."H100 SXM".ceiling_usd_per_gpu_hour: must be >= floor_usd_per_gpu_hour (3)'
    )


def test_a_per_model_bound_must_give_both_ends() -> None:
    text = '[pricing.guard.models."RTX 4090"]\nfloor_usd_per_gpu_hour = 0.2\n'
    assert only_problem(text) == (
        'config.toml: pricing.guard.models."RTX 4090".ceiling_usd_per_gpu_hour: missing (required)'
    )


def test_a_fixed_min_bid_above_the_ceiling_can_never_be_honoured() -> None:
    text = "[pricing.min_bid]\nusd_per_gpu_hour = 12\n"
    assert only_problem(text) == (
        "config.toml: pricing.min_bid.usd_per_gpu_hour: 12 is above guard.ceiling_usd_per_gpu_hour ceiling (10)"
    )


@pytest.mark.parametrize("body", ["", "multiplier = 1.1\nprice_usd_per_gpu_hour = 2\n"])
def test_a_schedule_rule_sets_exactly_one_of_multiplier_or_price(body: str) -> None:
    text = f'[[pricing.rules]]\nname = "a"\n{body}[[pricing.rules]]\nname = "b"\nmultiplier = 1.1\n'
    assert only_problem(text) == (
        "config.toml: pricing.rules[0]: set exactly one of multiplier or price_usd_per_gpu_hour"
    )


def test_the_third_rules_bad_price_is_named_by_its_index() -> None:
    rules = "".join(f'[[pricing.rules]]\nname = "r{i}"\nmultiplier = 1.1\n' for i in range(2))
    text = rules + '[[pricing.rules]]\nname = "r2"\nprice_usd_per_gpu_hour = -1\n'
    assert only_problem(text) == "config.toml: pricing.rules[2].price_usd_per_gpu_hour: must be > 0, got -1"


def test_rule_names_are_unique() -> None:
    text = '[[pricing.rules]]\nname = "a"\nmultiplier = 1.1\n' * 2
    assert only_problem(text) == 'config.toml: pricing.rules[1].name: "a" is used twice: names must be unique'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('days = ["Mon"]', 'days[0]: must be one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got "Mon"'),
        ("days = []", "days: must name at least one day"),
        ('start = "7:00"', 'start: expected a time "HH:MM" (00:00 to 23:59), got "7:00"'),
        ('end = "24:00"', 'end: expected a time "HH:MM" (00:00 to 23:59), got "24:00"'),
    ],
)
def test_rule_days_and_times_are_checked(line: str, expected: str) -> None:
    problem = only_problem(f'[[pricing.rules]]\nname = "a"\nmultiplier = 1.1\n{line}\n')
    assert problem.startswith(f"config.toml: pricing.rules[0].{expected}")


def test_a_timezone_must_be_known_and_a_near_miss_is_suggested() -> None:
    assert only_problem('[pricing]\ntimezone = "Europe/Berln"\n') == (
        'config.toml: pricing.timezone: unknown time zone "Europe/Berln" (did you mean "Europe/Berlin"?): '
        'use an IANA name such as "Europe/Berlin" or "UTC"'
    )


def test_decay_steps_also_read_as_inline_tables_and_must_increase() -> None:
    text = "[pricing.idle_decay]\nsteps = [{after_h = 6, cut_pct = 5}, {after_h = 6, cut_pct = 10}]\n"
    assert only_problem(text) == (
        "config.toml: pricing.idle_decay.steps[1].after_h: must be later than the step before it (6 h)"
    )


def test_a_decay_cut_of_100_percent_or_more_is_an_error() -> None:
    text = "[pricing.idle_decay]\nsteps = [{after_h = 6, cut_pct = 100}]\n"
    assert only_problem(text) == "config.toml: pricing.idle_decay.steps[0].cut_pct: must be in (0, 100), got 100"


WINDOW = '[[maintenance.windows]]\nname = "w"\nduration_h = 4\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "maintenance.windows[0]: set exactly one of start (a one-off window) or recur"),
        ('recur = "daily"\nstart = "2027-01-01T02:00"', "maintenance.windows[0]: set exactly one of start"),
        ('recur = "weekly"', 'maintenance.windows[0].weekday: required when recur = "weekly"'),
        ('recur = "monthly"\nweekday = "sun"', 'maintenance.windows[0].nth: required when recur = "monthly"'),
        ('recur = "monthly"\nweekday = "sun"\nnth = 5', "maintenance.windows[0].nth: must be 1..4 or -1 (last)"),
        ('recur = "daily"\nweekday = "sun"', "maintenance.windows[0].weekday: only used with recur = weekly or"),
        ('recur = "weekly"\nweekday = "sun"\nnth = 1', "maintenance.windows[0].nth: only used with recur = monthly"),
        ('recur = "yearly"', 'maintenance.windows[0].recur: must be one of "daily", "weekly", "monthly"'),
        ('recur = "daily"\ncategory = "softwar"', 'maintenance.windows[0].category: must be one of "power"'),
        ('start = "next sunday"', "maintenance.windows[0].start: expected a local date and time like"),
        ("start = 2027-01-01T02:00:00Z", "maintenance.windows[0].start: give a local time without an offset"),
        ("start = 2027-01-01", "maintenance.windows[0].start: expected a local date and time like"),
    ],
)
def test_maintenance_windows_are_checked(body: str, expected: str) -> None:
    assert only_problem(f"{WINDOW}{body}\n").startswith(f"config.toml: {expected}")


def test_a_window_start_may_be_a_toml_local_datetime() -> None:
    config = load_config_text(f"{WINDOW}start = 2027-01-01T02:00:00\n", SOURCE, environ=NO_ENV)
    assert config.maintenance.windows[0].start == datetime(2027, 1, 1, 2, 0)  # noqa: DTZ001


def test_the_fake_backend_needs_its_file() -> None:
    assert only_problem('[hardware]\nbackend = "fake"\n').startswith(
        'config.toml: hardware.fake_file: required when backend = "fake"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[agent]\nmode = "enforc"\n', 'agent.mode: must be one of "observe", "enforce", got "enforc" (did you'),
        ('[hardware]\nbackend = "nvm"\n', 'hardware.backend: must be one of "nvml", "fake", got "nvm"'),
        ('[metrics]\naddress = "localhost"\n', 'metrics.address: expected "host:port" such as "127.0.0.1:9473"'),
        ('[metrics]\naddress = "127.0.0.1:70000"\n', "metrics.address: expected"),
        ('[vast]\napi_url = "console.vast.ai"\n', 'vast.api_url: expected an http:// or https:// URL, got "console'),
        ("[default_job]\nprice_usd_per_gpu_hour = 0.1\n", "default_job.image: missing (required)"),
    ],
)
def test_choices_addresses_and_required_keys_are_checked(text: str, expected: str) -> None:
    assert only_problem(text).startswith(f"config.toml: {expected}")


def test_three_mistakes_are_all_named_at_once() -> None:
    text = '[agent]\nmode = "enforc"\n[pricing]\ndefualt_usd_per_gpu_hour = 1\n[metrics]\naddress = "nowhere"\n'
    problems = problems_of(text, "/srv/hostagent.toml")
    assert [p.split(": ")[1] for p in problems] == [
        "agent.mode",
        "pricing.defualt_usd_per_gpu_hour",
        "metrics.address",
    ]
    assert all(p.startswith("hostagent.toml: ") for p in problems)


def test_the_error_message_lists_every_problem_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("[agent]\ntick_s = 0\nmode = 1\n", SOURCE, environ=NO_ENV)
    assert str(caught.value).splitlines() == caught.value.problems
    assert len(caught.value.problems) == 2


def test_the_min_bid_has_its_own_floor_and_ceiling_and_a_fixed_bid_must_lie_between_them() -> None:
    """[pricing.min_bid] floor/ceiling: defaults $0.01-$10, floor <= ceiling, a fixed bid inside them."""
    config = load_config_text("[pricing.min_bid]\nmode = \"power\"\n", SOURCE, environ=NO_ENV)
    assert (config.pricing.min_bid.floor_usd_per_gpu_hour, config.pricing.min_bid.ceiling_usd_per_gpu_hour) == (
        0.01, 10.0)
    assert "ceiling_usd_per_gpu_hour: must be >= floor_usd_per_gpu_hour (0.5)" in only_problem(
        "[pricing.min_bid]\nfloor_usd_per_gpu_hour = 0.5\nceiling_usd_per_gpu_hour = 0.2\n")
    assert "outside the min bid's own bounds [0.2, 10]" in only_problem(
        "[pricing.min_bid]\nusd_per_gpu_hour = 0.1\nfloor_usd_per_gpu_hour = 0.2\n")
