"""Where the Vast API key comes from, and the checks a key file must pass (as ssh checks its keys).

Order: `$CREDENTIALS_DIRECTORY/vast_api_key` (systemd LoadCredential=), then `[vast] api_key_file`,
then `$VAST_API_KEY` (interactive use). Never argv. A key file is opened with O_NOFOLLOW and refused
when it is a symbolic link, not a regular file, owned by someone other than root or the current user,
or has any group/other permission bit. Every error names the fix and never the key.

The systemd credential is the one exception on group bits: systemd writes it 0400 owned by the service
user, but where it cannot use ramfs for $CREDENTIALS_DIRECTORY it may leave it root-owned 0440 with an
ACL granting the service user read access (the ACL mask shows as the group bits). So a credential may
be group-readable; group write/execute and every "other" bit are still refused (systemd never sets them,
so they mean something else put the file there), as are links and non-regular files.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from hostagent.config.model import VastConfig
from hostagent.errors import SecretError
from hostagent.masking import add_secret

CREDENTIAL_NAME = "vast_api_key"
ENV_VAR = "VAST_API_KEY"
_MAX_KEY_FILE_BYTES = 4096
# In $CREDENTIALS_DIRECTORY only group read (0o040) is allowed beyond the owner's bits: see the docstring.
_CREDENTIAL_FORBIDDEN_BITS = 0o037


def load_api_key(cfg: VastConfig, environ: Mapping[str, str] = os.environ) -> str:
    """The API key, from the first source present. Raises SecretError (fix named, key never shown)."""
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        cred = Path(cred_dir) / CREDENTIAL_NAME
        if os.path.lexists(cred):
            return _registered(read_key_file(cred, credential=True))
    if cfg.api_key_file is not None:
        return _registered(read_key_file(cfg.api_key_file))
    value = environ.get(ENV_VAR)
    if value is not None:
        return _registered(_check_key(value.strip(), f"${ENV_VAR}", f"set {ENV_VAR} to your Vast API key"))
    raise SecretError(
        "no Vast API key: set `api_key_file` in [vast] (a file with mode 600), use systemd "
        f"LoadCredential={CREDENTIAL_NAME}:/path/to/key, or export {ENV_VAR}"
    )


def read_key_file(path: Path, *, credential: bool = False, what: str = "API key") -> str:
    """Read one key file safely; see the module docstring for what is refused.

    `credential`: the file is systemd's credential in $CREDENTIALS_DIRECTORY (group read allowed).
    `what` names the secret in errors (the notifier reads its destination URLs with the same checks).
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SecretError(_open_problem(path, exc, what)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{path}: not a regular file; put the key in a plain file with mode 600")
        if info.st_uid not in (0, os.geteuid()):
            raise SecretError(
                f"{path}: owned by uid {info.st_uid}, must be owned by root or uid {os.geteuid()}: "
                f"run `chown {os.geteuid()} {path}`"
            )
        _check_mode(path, stat.S_IMODE(info.st_mode), credential)
        raw = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise SecretError(f"{path}: too large for the {what}; the file must hold only the {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{path}: not UTF-8 text; the file must hold only the {what}") from None
    return _check_key(text.strip(), str(path), f"write the {what} into {path} (one line)", what)


def _check_mode(path: Path, mode: int, credential: bool) -> None:
    if credential:
        if mode & _CREDENTIAL_FORBIDDEN_BITS:
            raise SecretError(
                f"{path}: permissions {mode:04o} are too open (others may read it, or the group may write it); "
                "systemd never writes a credential so: check what else writes into $CREDENTIALS_DIRECTORY and "
                f"load it only with LoadCredential={path.name}:/path/to/file (source file mode 600)"
            )
    elif mode & 0o077:
        raise SecretError(
            f"{path}: permissions {mode:04o} are too open (group or others may read it): run `chmod 600 {path}`"
        )


def _open_problem(path: Path, exc: OSError, what: str = "API key") -> str:
    if exc.errno == errno.ELOOP:
        return f"{path}: is a symbolic link; point the config at the real file (mode 600), not a link"
    if exc.errno == errno.ENOENT:
        return f"{path}: not found; create it with the {what} and run `chmod 600 {path}`"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied; the agent's user must be able to read it (owner, mode 600)"
    return f"{path}: cannot open ({os.strerror(exc.errno or 0)})"


def _check_key(key: str, source: str, fix: str, what: str = "API key") -> str:
    if not key:
        raise SecretError(f"{source}: the {what} is empty; {fix}")
    if any(ch.isspace() for ch in key) or not key.isprintable() or not key.isascii():
        raise SecretError(f"{source}: the {what} must be one line of printable characters without spaces; {fix}")
    return key


def register_secret(key: str) -> None:
    """Tell the log masker about the key, so no log line, traceback or journal entry can show it."""
    add_secret(key)


def _registered(key: str) -> str:
    register_secret(key)
    return key
