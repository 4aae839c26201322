"""`check-config` checks the API key as `run` will: a key file `run` would refuse fails here (78) with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostagent.cli import main


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This shell has neither a systemd credential nor $VAST_API_KEY."""
    monkeypatch.delenv("VAST_API_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


def _config(tmp_path: Path, key_file: Path | None) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[vast]\napi_key_file = "{key_file}"\n' if key_file else "")
    return path


def _key(tmp_path: Path, text: str, mode: int) -> Path:
    key = tmp_path / "vast_api_key"
    key.write_text(text)
    key.chmod(mode)
    return key


@pytest.mark.usefixtures("no_key_env")
def test_a_group_readable_key_file_fails_with_the_chmod_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 0644 key file, which `run` refuses, makes check-config exit 78 naming `chmod 600`."""
    key = _key(tmp_path, "k-123\n", 0o644)
    assert main(["--config", str(_config(tmp_path, key)), "check-config"]) == 78
    err = capsys.readouterr().err
    assert "permissions 0644 are too open" in err
    assert f"chmod 600 {key}" in err


@pytest.mark.usefixtures("no_key_env")
def test_a_missing_key_file_fails_with_how_to_create_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A key file that does not exist makes check-config exit 78 saying to create it."""
    assert main(["--config", str(_config(tmp_path, tmp_path / "absent")), "check-config"]) == 78
    assert "not found; create it with the API key" in capsys.readouterr().err


@pytest.mark.usefixtures("no_key_env")
def test_an_empty_key_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 0600 key file holding nothing makes check-config exit 78."""
    key = _key(tmp_path, "\n", 0o600)
    assert main(["--config", str(_config(tmp_path, key)), "check-config"]) == 78
    assert "the API key is empty" in capsys.readouterr().err


@pytest.mark.usefixtures("no_key_env")
def test_a_private_key_file_passes_and_points_to_doctor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 0600 key file passes; the output says doctor is what asks Vast whether the key is accepted."""
    key = _key(tmp_path, "k-123\n", 0o600)
    assert main(["--config", str(_config(tmp_path, key)), "check-config"]) == 0
    out = capsys.readouterr().out
    assert f"key OK: key file {key}" in out
    assert "hostagent doctor" in out
    assert "k-123" not in out


@pytest.mark.usefixtures("no_key_env")
def test_a_key_only_the_unit_has_is_named_as_not_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no key file and no $VAST_API_KEY, check-config says the credential exists only under the unit."""
    assert main(["--config", str(_config(tmp_path, None)), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "key: not checked here" in out
    assert "LoadCredential=" in out
    assert "hostagent doctor" in out


def test_a_credential_too_open_for_run_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under the unit (ExecReload), a world-readable credential in $CREDENTIALS_DIRECTORY fails as `run` would."""
    creds = tmp_path / "creds"
    creds.mkdir()
    _key(creds, "k-123", 0o604).rename(creds / "vast_api_key")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert main(["--config", str(_config(tmp_path, None)), "check-config"]) == 78
    assert "are too open" in capsys.readouterr().err
