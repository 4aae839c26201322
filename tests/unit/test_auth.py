"""Where the API key comes from, and which key files are refused (with the fix named, never the key)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostagent.config.model import VastConfig
from hostagent.errors import SecretError
from hostagent.vast.auth import load_api_key
from hostagent.vast.client import VastClient

KEY = "key-0123456789abcdef"


def key_file(path: Path, text: str = KEY + "\n", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_systemd_credential_wins_over_the_config_file_and_the_environment(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    key_file(creds / "vast_api_key", "from-credential-1\n", 0o400)
    cfg = VastConfig(api_key_file=key_file(tmp_path / "k", "from-file-12345"))
    env = {"CREDENTIALS_DIRECTORY": str(creds), "VAST_API_KEY": "from-env-12345"}
    assert load_api_key(cfg, env) == "from-credential-1"


def test_without_a_credential_the_config_file_wins_over_the_environment(tmp_path: Path) -> None:
    cfg = VastConfig(api_key_file=key_file(tmp_path / "k", "from-file-12345"))
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "empty"), "VAST_API_KEY": "from-env-12345"}
    assert load_api_key(cfg, env) == "from-file-12345"


def test_the_environment_is_the_last_source(tmp_path: Path) -> None:
    assert load_api_key(VastConfig(), {"VAST_API_KEY": " from-env-12345 "}) == "from-env-12345"


def test_no_source_at_all_names_the_three_ways() -> None:
    with pytest.raises(SecretError, match=r"api_key_file.*LoadCredential.*VAST_API_KEY"):
        load_api_key(VastConfig(), {})


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o601])
def test_a_key_file_with_any_group_or_other_bit_is_refused_with_chmod_named(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path / "k", mode=mode)
    with pytest.raises(SecretError) as caught:
        load_api_key(VastConfig(api_key_file=path), {})
    assert f"chmod 600 {path}" in str(caught.value)
    assert KEY not in str(caught.value)


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    real = key_file(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(SecretError, match="is a symbolic link"):
        load_api_key(VastConfig(api_key_file=link), {})


def test_a_key_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(SecretError, match="not a regular file"):
        load_api_key(VastConfig(api_key_file=fifo), {})
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(SecretError, match="not a regular file"):
        load_api_key(VastConfig(api_key_file=tmp_path / "dir"), {})


def test_a_key_file_owned_by_someone_else_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root the file is given away; a user who may not give files away is told it runs as another uid."""
    path = key_file(tmp_path / "k")
    if os.geteuid() == 0:
        os.chown(path, 12345, 12345)
    else:
        monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 1)
    with pytest.raises(SecretError, match="must be owned by root or uid"):
        load_api_key(VastConfig(api_key_file=path), {})


def test_a_missing_configured_key_file_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="not found"):
        load_api_key(VastConfig(api_key_file=tmp_path / "nope"), {"VAST_API_KEY": "from-env-12345"})


@pytest.mark.parametrize("text", ["", "\n  \n", "two words", "\x00abc"])
def test_an_empty_or_malformed_key_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(SecretError):
        load_api_key(VastConfig(api_key_file=key_file(tmp_path / "k", text)), {})
    with pytest.raises(SecretError):
        load_api_key(VastConfig(), {"VAST_API_KEY": text})


def test_the_client_refuses_an_empty_key_and_hides_the_key_in_its_repr() -> None:
    with pytest.raises(SecretError):
        VastClient("http://127.0.0.1:9", "")
    with VastClient("http://127.0.0.1:9", KEY) as client:
        assert KEY not in repr(client)
        assert "hidden" in repr(client)


def test_a_loaded_key_is_masked_in_logs(tmp_path: Path) -> None:
    from hostagent.masking import mask_text

    load_api_key(VastConfig(api_key_file=key_file(tmp_path / "k", "masked-key-7777777")), {})
    assert "masked-key-7777777" not in mask_text("oops masked-key-7777777 leaked")


def _credential(tmp_path: Path, mode: int) -> dict[str, str]:
    creds = tmp_path / "creds"
    creds.mkdir()
    key_file(creds / "vast_api_key", "from-credential-1\n", mode)
    return {"CREDENTIALS_DIRECTORY": str(creds)}


@pytest.mark.parametrize("mode", [0o400, 0o440, 0o600, 0o640])
def test_a_systemd_credential_may_be_group_readable_as_systemd_leaves_it_without_ramfs(
    tmp_path: Path, mode: int
) -> None:
    """Without ramfs systemd leaves the credential root-owned 0440 with an ACL for the service user."""
    assert load_api_key(VastConfig(), _credential(tmp_path, mode)) == "from-credential-1"


@pytest.mark.parametrize("mode", [0o404, 0o444, 0o460, 0o401, 0o410])
def test_a_systemd_credential_with_other_bits_or_group_write_is_still_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(SecretError, match=r"too open.*LoadCredential=vast_api_key") as caught:
        load_api_key(VastConfig(), _credential(tmp_path, mode))
    assert "from-credential-1" not in str(caught.value)


def test_a_symlinked_systemd_credential_is_refused(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "vast_api_key").symlink_to(key_file(tmp_path / "real", mode=0o400))
    with pytest.raises(SecretError, match="is a symbolic link"):
        load_api_key(VastConfig(), {"CREDENTIALS_DIRECTORY": str(creds)})


def test_group_read_stays_refused_for_api_key_file_even_beside_a_credential_dir(tmp_path: Path) -> None:
    """The relaxed rule is for $CREDENTIALS_DIRECTORY only; api_key_file keeps ssh's rules."""
    cfg = VastConfig(api_key_file=key_file(tmp_path / "k", mode=0o440))
    with pytest.raises(SecretError, match="chmod 600"):
        load_api_key(cfg, {"CREDENTIALS_DIRECTORY": str(tmp_path / "empty")})
