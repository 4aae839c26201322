"""The API key never crosses the network in clear text: plain http:// is for loopback only, TLS is always verified.

No test here opens a connection: the client is built and judged before any transport could be used, and the
transports given fail the test if they are ever called.
"""

from __future__ import annotations

import dataclasses
import re
import ssl
from pathlib import Path

import httpx
import pytest

from hostagent.cli import main
from hostagent.commands.doctor_checks import FAIL, check_api, run_checks
from hostagent.config import Config, load_config_text
from hostagent.errors import ConfigError, VastInsecureURL, VastPermanent
from hostagent.vast.client import VastClient

KEY = "k3y-plain-http-test"
INSECURE = "http://192.0.2.2:18880"
SOURCE = Path("/etc/hostagent/config.toml")


class NeverCalled(httpx.BaseTransport):
    """An httpx transport that fails the test if a request ever reaches it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pytest.fail(f"a request was about to be sent to {request.url}")


def config_with(api_url: str) -> Config:
    return load_config_text(f'[vast]\napi_url = "{api_url}"\n', SOURCE, environ={})


@pytest.mark.parametrize("url", [INSECURE, "http://console.vast.ai", "HTTP://example.com/", "http://[2001:db8::1]:80"])
def test_a_plain_http_api_url_to_another_host_is_a_config_error_naming_https(url: str) -> None:
    """Plain http:// to anything but loopback is refused at load, at vast.api_url, with the fix."""
    with pytest.raises(ConfigError) as caught:
        config_with(url)
    (problem,) = caught.value.problems
    assert problem.startswith("config.toml: vast.api_url: ")
    assert "https://" in problem
    assert "clear text" in problem


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:18880", "http://127.3.4.5:1", "http://[::1]:8080", "http://localhost:18880",
            "http://LOCALHOST", "https://console.vast.ai", "https://192.0.2.2:443"],
)
def test_plain_http_to_loopback_and_any_https_url_are_accepted(url: str) -> None:
    """The emulator on loopback may use http://; https:// goes anywhere."""
    assert config_with(url).vast.api_url == url


def test_check_config_exits_78_on_a_plain_http_api_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check-config` names vast.api_url and the fix, and exits 78 (EX_CONFIG)."""
    path = tmp_path / "config.toml"
    path.write_text(f'[vast]\napi_url = "{INSECURE}"\n')
    assert main(["--config", str(path), "check-config"]) == 78
    err = capsys.readouterr().err
    assert "config.toml: vast.api_url:" in err
    assert "use https://" in err


@pytest.mark.parametrize("url", [INSECURE, "http://10.0.0.1", "ftp://127.0.0.1/", "http://evil.example#@127.0.0.1"])
def test_the_client_refuses_a_clear_text_url_before_any_transport_is_used(url: str) -> None:
    """Built with an insecure base URL, the client raises a typed permanent error and sends nothing."""
    with pytest.raises(VastInsecureURL) as caught:
        VastClient(url, KEY, transport=NeverCalled())
    assert isinstance(caught.value, VastPermanent)
    assert "https://" in str(caught.value)
    assert KEY not in str(caught.value)


def test_the_client_accepts_plain_http_to_loopback() -> None:
    """The emulator's http://127.0.0.1 URL builds a client (nothing is sent at construction)."""
    with VastClient("http://127.0.0.1:9", KEY, transport=NeverCalled()) as client:
        assert client.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("env", [{}, {"PYTHONHTTPSVERIFY": "0", "CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": ""}])
def test_tls_verification_is_on_for_https_whatever_the_environment(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The https client checks the certificate and the host name; no environment variable turns that off."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with VastClient("https://console.vast.ai", KEY) as client:
        context = client.tls_context
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


def test_no_source_file_turns_tls_verification_off() -> None:
    """No `verify=False`, CERT_NONE or check_hostname = False anywhere in hostagent."""
    root = Path(__file__).resolve().parents[2] / "hostagent"
    pattern = re.compile(r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context")
    offenders = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_doctor_fails_the_api_check_on_a_plain_http_url_without_sending_anything() -> None:
    """Even handed a Config that skipped validation, doctor's api check fails and names https://."""
    config = dataclasses.replace(Config(), vast=dataclasses.replace(Config().vast, api_url=INSECURE))
    (check,) = check_api(config, KEY, transport=NeverCalled())
    assert check.status == FAIL
    assert check.fix is not None
    assert "https://" in check.fix


def test_doctor_fails_the_config_check_on_a_plain_http_url(tmp_path: Path) -> None:
    """`hostagent doctor` exits non-zero, its config check naming vast.api_url."""
    path = tmp_path / "config.toml"
    path.write_text(f'[vast]\napi_url = "{INSECURE}"\n')
    checks = run_checks(str(path), environ={})
    assert [c.status for c in checks] == [FAIL]
    assert "vast.api_url" in (checks[0].fix or "")
