"""Which network addresses are safe for what: the API key's URL and the metrics endpoint's bind address.

Shared by the config checks (check-config, doctor) and the Vast client, so both judge a URL the same way.
Standard library only: the config layer imports it.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

# Said wherever a plain http:// URL is refused, so the fix reads the same in check-config, doctor and run.
HTTPS_FIX = "use https:// (plain http:// is allowed only to loopback: 127.0.0.0/8, ::1, localhost)"


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name "localhost": traffic that never leaves this host."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


def clear_text_problem(scheme: str, host: str) -> str | None:
    """Why a request to scheme://host would expose the API key, or None when it would not."""
    scheme = scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http":
        if is_loopback_host(host):
            return None
        return f"plain http:// to {host} would send the API key in clear text: {HTTPS_FIX}"
    return f"scheme {scheme!r} is not https://: {HTTPS_FIX}"


def api_url_problem(value: str) -> str | None:
    """The `vast.api_url` check: an http(s) URL with a host, and never clear text off this host."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if host is None or parts.scheme.lower() not in ("http", "https"):
        return f"expected an http:// or https:// URL, got {json.dumps(value)}"
    return clear_text_problem(parts.scheme, host)


def metrics_exposure(address: str) -> str | None:
    """Why serving metrics on `address` ("host:port") reaches beyond this host, or None when it does not."""
    host = address.rpartition(":")[0]
    if not host or is_loopback_host(host):
        return None
    return (
        f"{address} serves /metrics without authentication beyond this host: bind 127.0.0.1 and scrape "
        "through a reverse proxy with TLS and authentication, or firewall the port to the scraper"
    )
