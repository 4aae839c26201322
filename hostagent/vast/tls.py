"""The API key only over TLS (or to loopback), and TLS always verified: the two checks `Transport` makes
before it builds its httpx client. Nothing here opens a connection."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx

from hostagent.config.network import clear_text_problem
from hostagent.errors import VastInsecureURL


def refuse_clear_text(base_url: str, scrub: Callable[[str], str]) -> None:
    """Raise VastInsecureURL unless requests to `base_url` go over TLS or stay on loopback.

    Judged on httpx's own parse of the URL (the host it would connect to), before any connection."""
    try:
        url = httpx.URL(base_url)
        problem = clear_text_problem(url.scheme, url.host) if url.host else "no host in the URL"
    except httpx.InvalidURL as exc:
        problem = f"not a valid URL ({exc})"
    if problem is not None:
        raise VastInsecureURL(scrub(f"refusing the Vast API URL {base_url!r}: {problem}"))


def verified_tls_context() -> ssl.SSLContext:
    """httpx's default context (certifi's CAs, or $SSL_CERT_FILE / $SSL_CERT_DIR), made here so that it is
    explicit and can be checked: certificate and host name are verified, and no config key or environment
    variable turns that off."""
    return httpx.create_ssl_context()  # verify=True, its default: the test suite asserts CERT_REQUIRED + host names
