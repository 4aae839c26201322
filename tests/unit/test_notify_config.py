"""[notify] in the config, and where a destination's URL comes from (a secret, loaded like the API key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostagent.config.load import load_config_text
from hostagent.config.model import NotifyDestination
from hostagent.errors import ConfigError, SecretError
from hostagent.service.notify_send import AppriseSender, load_url, load_urls

URL = "json://127.0.0.1:9/hook/tok-3b5e7a9c1d2f4e6a8b0c"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    return caught.value.problems


def _url_file(path: Path, text: str = URL + "\n", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_notify_table_becomes_destinations_and_rules() -> None:
    """Each [[notify.destinations]] keeps its name, kinds and severity; the rules their values."""
    config = load_config_text(
        '[notify]\ndedup_window_s = 600\nmax_per_hour = 5\nquiet_hours = "22:00-06:30"\n'
        'quiet_timezone = "Europe/Berlin"\ndaily_earnings = true\n'
        '[[notify.destinations]]\nname = "tg"\nevents = ["unlisted", "health_fault"]\nmin_severity = "warning"\n'
    )
    notify = config.notify
    assert notify.destinations == (NotifyDestination("tg", None, ("unlisted", "health_fault"), "warning"),)
    assert (notify.dedup_window_s, notify.max_per_hour, notify.quiet_hours) == (600.0, 5, "22:00-06:30")
    assert notify.daily_earnings


def test_a_url_written_in_the_toml_is_refused_with_the_fix_and_without_the_url() -> None:
    """The URL carries a token: the config error says where it belongs and never repeats it."""
    problems = _problems(f'[[notify.destinations]]\nname = "tg"\nurl = "{URL}"\n')
    assert len(problems) == 1
    assert "notify.destinations[0].url" in problems[0]
    assert "url_file" in problems[0]
    assert "LoadCredential=notify_tg" in problems[0]
    assert "tok-" not in problems[0]


def test_every_notify_mistake_is_reported_at_once_by_its_path() -> None:
    """Bad name, unknown kind (with a suggestion), bad quiet hours, cap out of range."""
    problems = _problems(
        '[notify]\nquiet_hours = "23:00-7:00"\nmax_per_hour = 0\n'
        '[[notify.destinations]]\nname = "my phone"\n'
        '[[notify.destinations]]\nname = "tg"\nevents = ["unlsted"]\n'
    )
    text = "\n".join(problems)
    assert "notify.quiet_hours" in text
    assert "notify.max_per_hour: must be in [1, 3600]" in text
    assert "notify.destinations[0].name" in text
    assert 'did you mean "unlisted"' in text


def test_two_destinations_with_one_name_are_refused() -> None:
    """The name is the credential's and the metrics label's: it must be unique."""
    problems = _problems('[[notify.destinations]]\nname = "tg"\n[[notify.destinations]]\nname = "tg"\n')
    assert problems == ['<config>: notify.destinations[1].name: "tg" is used twice: names must be unique']


def test_equal_quiet_hours_are_refused() -> None:
    """A span with equal ends would hold every non-critical event for ever."""
    assert "equal" in _problems('[notify]\nquiet_hours = "07:00-07:00"\n')[0]


def test_the_systemd_credential_wins_over_url_file(tmp_path: Path) -> None:
    """$CREDENTIALS_DIRECTORY/notify_<name> first, as for the API key."""
    creds = tmp_path / "creds"
    creds.mkdir()
    _url_file(creds / "notify_tg", "json://127.0.0.1:9/from-credential-0123456789\n", 0o400)
    dest = NotifyDestination("tg", url_file=_url_file(tmp_path / "u"))
    assert load_url(dest, {"CREDENTIALS_DIRECTORY": str(creds)}).endswith("from-credential-0123456789")
    assert load_url(dest, {}) == URL


def test_a_group_readable_url_file_is_refused_naming_the_destination_and_the_fix(tmp_path: Path) -> None:
    """Mode 644: refused with `chmod 600`, the destination named, the URL never shown."""
    dest = NotifyDestination("tg", url_file=_url_file(tmp_path / "u", mode=0o644))
    with pytest.raises(SecretError) as caught:
        load_url(dest, {})
    assert 'destination "tg"' in str(caught.value)
    assert "chmod 600" in str(caught.value)
    assert "tok-" not in str(caught.value)


def test_a_bad_url_file_or_credential_is_named_as_a_notification_url_not_the_api_key(tmp_path: Path) -> None:
    """The fix speaks of this secret: a missing file is created "with the notification URL", and a too-open
    credential names LoadCredential=notify_<name>, never vast_api_key."""
    missing = NotifyDestination("tg", url_file=tmp_path / "absent.url")
    with pytest.raises(SecretError) as caught:
        load_url(missing, {})
    assert "create it with the notification URL" in str(caught.value)
    creds = tmp_path / "creds"
    creds.mkdir()
    _url_file(creds / "notify_tg", URL, 0o444)
    with pytest.raises(SecretError) as caught:
        load_url(NotifyDestination("tg"), {"CREDENTIALS_DIRECTORY": str(creds)})
    assert "LoadCredential=notify_tg:" in str(caught.value)
    assert "vast_api_key" not in str(caught.value)


def test_a_destination_without_any_url_names_both_ways_to_give_one(tmp_path: Path) -> None:
    """No credential, no url_file: the error names url_file and LoadCredential=notify_<name>."""
    from hostagent.config.model import NotifyConfig

    config = NotifyConfig(destinations=(NotifyDestination("a"), NotifyDestination("b", url_file=tmp_path / "no")))
    with pytest.raises(SecretError) as caught:
        load_urls(config, {})
    assert "LoadCredential=notify_a" in str(caught.value)
    assert 'destination "b"' in str(caught.value)
    assert "not found" in str(caught.value)


def test_a_url_apprise_does_not_know_is_refused_by_scheme_only() -> None:
    """An unknown scheme fails at start, naming the scheme and the destination, not the URL."""
    with pytest.raises(SecretError) as caught:
        AppriseSender({"tg": "nosuchservice://tok-3b5e7a9c1d2f4e6a8b0c"}, timeout_s=1.0)
    assert "'nosuchservice'" in str(caught.value)
    assert 'destination "tg"' in str(caught.value)
    assert "tok-" not in str(caught.value)


def test_doctor_checks_each_destination_url_without_sending(tmp_path: Path) -> None:
    """One line per destination: ok with the service's name, or fail with the fix; the URL never shown."""
    from hostagent.commands.notify_test import destination_checks
    from hostagent.config.model import Config, NotifyConfig

    good = NotifyDestination("hook", url_file=_url_file(tmp_path / "good"))
    bad = NotifyDestination("phone", url_file=_url_file(tmp_path / "bad", mode=0o640))
    checks = destination_checks(Config(notify=NotifyConfig(destinations=(good, bad))), {})
    assert [(c.name, c.status) for c in checks] == [("notify hook", "ok"), ("notify phone", "fail")]
    assert "URL loaded (JSON)" in checks[0].detail
    assert "chmod 600" in checks[1].detail
    assert "LoadCredential=notify_phone" in str(checks[1].fix)
    assert all("tok-" not in f"{c.detail} {c.fix}" for c in checks)
