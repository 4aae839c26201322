"""Destination URLs (secrets, loaded like the API key) and the apprise sender.

apprise is the library: one URL scheme each for Telegram (`tgram://`), Slack, Discord, ntfy, e-mail
(`mailto://`) and plain webhooks (`json://`), maintained and widely used. It is configured so it touches
nothing but the destination: persistent storage in memory only (no files), no plugin directories scanned,
no attachments, no retries of its own (the notifier retries with backoff), and each attempt bounded by
`notify.timeout_s` (its connect and read timeouts).

A URL comes from the systemd credential `$CREDENTIALS_DIRECTORY/notify_<name>`, else the destination's
`url_file`, with the API key's checks (hostagent.vast.auth.read_key_file: mode 600, no link, owner). Each
URL is registered with the masker at once, so it never reaches a log, the journal, the state file or
`status`; everything else names the destination by its `name`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hostagent.config.model import NotifyConfig, NotifyDestination
from hostagent.errors import SecretError
from hostagent.masking import add_secret
from hostagent.vast.auth import read_key_file

CREDENTIAL_PREFIX = "notify_"
_WHAT = "notification URL"


def credential_name(destination: NotifyDestination) -> str:
    return f"{CREDENTIAL_PREFIX}{destination.name}"


def load_url(destination: NotifyDestination, environ: Mapping[str, str] = os.environ) -> str:
    """One destination's URL, registered with the masker. Raises SecretError naming the fix (never the URL)."""
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    where = f'[notify] destination "{destination.name}"'
    try:
        if cred_dir and os.path.lexists(Path(cred_dir) / credential_name(destination)):
            url = read_key_file(Path(cred_dir) / credential_name(destination), credential=True, what=_WHAT)
        elif destination.url_file is not None:
            url = read_key_file(destination.url_file, what=_WHAT)
        else:
            raise SecretError(
                f"no URL: set url_file (a file with mode 600 holding the apprise URL) or use systemd "
                f"LoadCredential={credential_name(destination)}:/path/to/url"
            )
    except SecretError as exc:
        raise SecretError(f"{where}: {exc}") from None
    add_secret(url)
    _register_parts(url)
    return url


def load_urls(config: NotifyConfig, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Every destination's URL by name. Raises SecretError listing every destination that failed."""
    urls: dict[str, str] = {}
    problems: list[str] = []
    for destination in config.destinations:
        try:
            urls[destination.name] = load_url(destination, environ)
        except SecretError as exc:
            problems.append(str(exc))
    if problems:
        raise SecretError("; ".join(problems))
    return urls


def _register_parts(url: str) -> None:
    """The token inside a URL can reach a message alone (an error quoting a path): mask its parts too."""
    _, _, rest = url.partition("://")
    for part in rest.replace("?", "/").replace("&", "/").replace("@", "/").split("/"):
        _, _, value = part.partition("=")
        for piece in (part, value):
            if len(piece) >= 16:  # a token, not a host name or a short word
                add_secret(piece)


def _import_apprise() -> Any:
    """apprise with its service plugins loaded, imported only when notifications are configured. On Python
    3.11/3.12 a plugin helper imports the deprecated stdlib `imghdr`; that warning is about apprise's code, not
    ours, and would fail every test run (filterwarnings = error), so exactly that one is silenced, here, once,
    while apprise loads its plugins (it would do so lazily at the first URL otherwise)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)
        import apprise  # noqa: PLC0415
        from apprise.manager_plugins import NotificationManager  # noqa: PLC0415

        manager: Any = NotificationManager  # untyped in apprise
        manager().load_modules()  # a singleton: the plugins every Apprise object uses

    return apprise


class AppriseSender:
    """Sends through apprise, one plugin per destination (built once: its own request throttle is kept)."""

    def __init__(self, urls: Mapping[str, str], *, timeout_s: float) -> None:
        self._apprise = apprise = _import_apprise()
        asset = apprise.AppriseAsset(storage_mode="memory", async_mode=False, secure_logging=True)
        asset.pgp_autogen = False
        asset.pem_autogen = False
        asset.default_service_retry = 0
        self._plugins: dict[str, Any] = {}
        problems: list[str] = []
        for name, url in urls.items():
            plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
            if plugin is None:
                scheme = url.partition("://")[0] if "://" in url else "(none)"
                problems.append(f'[notify] destination "{name}": apprise does not accept this URL (scheme '
                                f'{scheme!r}); see https://github.com/caronc/apprise/wiki for the URL of each service')
                continue
            # Half of the attempt's time to connect, the rest to read the reply: one attempt stays bounded.
            plugin.socket_connect_timeout = timeout_s / 2
            plugin.socket_read_timeout = timeout_s / 2
            self._plugins[name] = plugin
        if problems:
            raise SecretError("; ".join(problems))

    def service(self, destination: str) -> str:
        """The service's name as apprise calls it ("Telegram", "JSON"), never the URL."""
        plugin = self._plugins.get(destination)
        return str(plugin.service_name) if plugin is not None else "unknown"

    def send(self, destination: str, title: str, body: str, severity: str) -> str | None:
        plugin = self._plugins.get(destination)
        if plugin is None:
            return f"no such destination: {destination}"
        kind = {"warning": self._apprise.NotifyType.WARNING, "critical": self._apprise.NotifyType.FAILURE}.get(
            severity, self._apprise.NotifyType.INFO
        )
        if plugin.notify(body=body, title=title, notify_type=kind):
            return None
        # apprise logs why (a warning through the masked log chain); the notifier logs the retry.
        return f"{plugin.service_name} did not accept the message"
