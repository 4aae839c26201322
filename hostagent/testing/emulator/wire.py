"""Replies as the handler sends them, and Vast's error bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

JSON = "application/json"  # exactly this: the CLI's `search offers` rejects anything else


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    payload: object = None  # the JSON value behind `body`, when there is one (for `wrong_types`)


class ApiError(Exception):
    """Answered as Vast does: `{"success": false, "error": code, "msg": msg}` with `status`."""

    def __init__(self, status: int, error: str, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.error = error
        self.msg = msg


def json_reply(payload: object, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(), payload=payload)


def error_reply(status: int, error: str, msg: str) -> Reply:
    return json_reply({"success": False, "error": error, "msg": msg}, status)


def text_reply(text: str, status: int, content_type: str = "text/plain") -> Reply:
    return Reply(status=status, body=text.encode(), content_type=content_type)


ERROR_CODES = {400: "invalid_args", 401: "auth_error", 403: "not_authorized", 404: "not_found",
               422: "invalid_args", 429: "rate_limited"}


def status_error(status: int) -> Reply:
    """Vast's error body for a bare status code (used by faults)."""
    if status == 429:
        return text_reply("API requests too frequent", 429)
    code = ERROR_CODES.get(status, "server_error")
    return error_reply(status, code, f"emulated error {status}")
