"""Secret masking, shared by logging, the state store and the Vast client's key loading.

What is masked (replaced by `***`):
- the value of any key whose name looks secret (api_key, x-api-key, authorization, token, password,
  secret, credential, cookie, ...; case-insensitive, in nested dicts and lists too);
- every literal registered with `add_secret()` (the client registers the API key once it loaded it),
  anywhere in any string;
- `Bearer <token>` / `Basic <token>`, `Authorization: <value>` and `api_key=<value>` patterns in any string.

`redact(value)` applies the same rules to any JSON-like value; the state store uses it so the key
never reaches the journal or the state file either. It sits below every layer (the store and the Vast
adapters use it, and so does `hostagent.runtime.logs`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from structlog.typing import EventDict, WrappedLogger

MASK = "***"
# A literal shorter than this would mask ordinary words; a real key is far longer.
MIN_SECRET_LEN = 6

_SECRET_NAME = re.compile(
    r"(apikey|accesskey|privatekey|secretkey|signingkey|authorization|^auth$|token|password|passwd|"
    r"passphrase|secret|credential|cookie|sessionid)"
)
_PATTERNS = (
    # The header with its scheme first, so "Authorization: Bearer x" becomes "Authorization: ***".
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?!\*\*\*)(?:(?:bearer|basic|token)\s+)?[^'\"\s,;}]+"),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{4,}"), r"\1\2" + MASK),
    (
        re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|token|password|secret)['\"]?\s*[=:]\s*['\"]?)"
                   r"(?!\*\*\*)[^&'\"\s,;}]+"),
        r"\1" + MASK,
    ),
)



class _Registry:
    """The registered literals; replaced whole under a lock so readers never need one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


_registry = _Registry()


def add_secret(value: str) -> None:
    """Register a literal (the API key) to be masked in every log line and state record from now on."""
    if len(value) < MIN_SECRET_LEN:
        return
    with _registry.lock:
        if value not in _registry.secrets:
            _registry.secrets = tuple(sorted((*_registry.secrets, value), key=len, reverse=True))


def clear_secrets() -> None:
    """Forget every registered literal (tests use it to start clean)."""
    with _registry.lock:
        _registry.secrets = ()


def is_secret_name(name: object) -> bool:
    """True for a key whose value must never be shown (`api_key`, `Authorization`, `X-Api-Key`, ...)."""
    if not isinstance(name, str):
        return False
    return _SECRET_NAME.search(re.sub(r"[^a-z0-9]", "", name.lower())) is not None


def mask_text(text: str) -> str:
    """`text` with registered literals and Bearer/Authorization/api_key=... patterns replaced by `***`."""
    for secret in _registry.secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: object) -> Any:
    """A copy of a JSON-like value with secret-named keys and secret strings masked.

    Dicts and lists are walked; strings are masked; other scalars are returned as they are; any
    other object is returned as it is unless its `str()` holds a registered literal, in which case
    the masked string replaces it.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_name(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if _registry.secrets:
        text = str(value)
        masked = mask_text(text)
        if masked != text:
            return masked
    return value


def mask_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `redact` every value. Place it after format_exc_info / dict_tracebacks."""
    return {k: (MASK if is_secret_name(k) else redact(v)) for k, v in event_dict.items()}


def scrub_rendered(_logger: WrappedLogger, _method: str, rendered: Any) -> Any:
    """Last step after the renderer: the rendered line itself is masked once more."""
    return mask_text(rendered) if isinstance(rendered, str) else rendered
