"""The checks behind `hostagent doctor`: each returns `Check(name, status, detail, fix)`.

Every check is read-only: NVML and GPU count, device access, config, key file, API reachability and the key's
scopes (one read call per scope), the state directory, the metrics endpoint kept on loopback and free (or held by
the running agent), and the clock against Vast's HTTP `Date` header. A check that cannot run because an earlier
one failed says so instead of guessing.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from hostagent import bootstrap
from hostagent.config.load import load_config
from hostagent.config.model import Config
from hostagent.config.network import HTTPS_FIX, metrics_exposure
from hostagent.core.model import MachineState
from hostagent.errors import (
    ConfigError,
    HostagentError,
    SecretError,
    StateError,
    VastAuthError,
    VastError,
    VastInsecureURL,
    VastNotFound,
    VastRateLimited,
    VastWrongMachine,
)
from hostagent.hardware.nvml_fields import DEVICE_ACCESS_HINT
from hostagent.ports import Marketplace
from hostagent.runtime.metrics_server import bind_error, serves_hostagent
from hostagent.service.apigate import ApiDeferred, ApiGate
from hostagent.service.identity import IdentityGuard, IdentityStore, forget_hint
from hostagent.service.machines import NoState, find_machine, known_machine_id
from hostagent.service.ratelimits import OperatorLedger
from hostagent.vast.auth import CREDENTIAL_NAME, ENV_VAR
from hostagent.vast.client import peer_query
from hostagent.vast.probe import Transport, date_header

OK, WARN, FAIL = "ok", "warn", "fail"
SKEW_WARN_S = 5.0  # Date has 1 s resolution; a few seconds are harmless
SKEW_FAIL_S = 60.0  # schedules, maintenance notices and earnings days would be off
MACHINES_LISTED = 10  # a fleet account may hold hundreds: the first ones, then a count
NTP_FIX = "enable time sync: `timedatectl set-ntp true` (systemd-timesyncd) or install chrony"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


def check_config(path: str | None, environ: Mapping[str, str]) -> tuple[Check, Config | None]:
    try:
        config = load_config(path, environ=environ)
    except ConfigError as exc:
        shown = path or "/etc/hostagent/config.toml"
        return Check("config", FAIL, f"{shown}: {len(exc.problems)} problem(s)",
                     "fix each of these, then `hostagent check-config`:\n" + "\n".join(exc.problems)), None
    return Check("config", OK, f"{config.source} valid ({config.agent.mode} mode)"), config


def check_gpus(config: Config) -> Check:
    try:
        hardware, clock = bootstrap.hardware(config)
    except HostagentError as exc:
        return Check("gpus", FAIL, str(exc), "fix [hardware] in the config")
    try:
        snapshot = hardware.read(clock.now())
    finally:
        hardware.close()
    backend = f"{snapshot.backend} backend"
    if not snapshot.backend_ok:
        return Check("gpus", FAIL, f"{backend}: no usable reading", snapshot.hint or "check `nvidia-smi`")
    names = sorted({g.name or "?" for g in snapshot.gpus})
    detail = f"{backend}: {len(snapshot.gpus)} GPU(s) ({', '.join(names)})"
    expected = config.health.expected_gpu_count
    if expected is not None and len(snapshot.gpus) != expected:
        return Check("gpus", FAIL, f"{detail}, expected {expected}",
                     "a GPU is missing: check `nvidia-smi` and the kernel log (XID), or fix health.expected_gpu_count")
    bad = [f"GPU {g.index}: {g.health.value} ({g.error})" for g in snapshot.gpus if g.health.value != "ok"]
    if bad:
        return Check("gpus", WARN, f"{detail}; " + "; ".join(bad), "check `nvidia-smi -q` for that GPU")
    return Check("gpus", OK, detail)


def check_devices(config: Config) -> Check:
    if config.hardware.backend != "nvml":
        return Check("devices", OK, f"not needed ({config.hardware.backend} backend)")
    paths = ["/dev/nvidiactl", *sorted(glob.glob("/dev/nvidia[0-9]*"))]
    missing = [p for p in paths if not os.path.exists(p)]
    if "/dev/nvidiactl" in missing or len(paths) == 1:
        fix = "load the NVIDIA driver: " + DEVICE_ACCESS_HINT
        return Check("devices", FAIL, "no /dev/nvidiactl or /dev/nvidia0", fix)
    denied = [p for p in paths if not os.access(p, os.R_OK | os.W_OK)]
    if denied:
        return Check("devices", FAIL, f"cannot open {', '.join(denied)} read-write as uid {os.geteuid()}",
                     DEVICE_ACCESS_HINT)
    return Check("devices", OK, f"{', '.join(paths)} readable and writable")


def _key_source(config: Config, environ: Mapping[str, str]) -> str:
    cred = environ.get("CREDENTIALS_DIRECTORY")
    if cred and os.path.lexists(Path(cred) / CREDENTIAL_NAME):
        return f"systemd credential {CREDENTIAL_NAME}"
    if config.vast.api_key_file is not None:
        return f"key file {config.vast.api_key_file} (mode 600)"
    return f"${ENV_VAR}"


def check_key(config: Config, environ: Mapping[str, str]) -> tuple[Check, str | None]:
    try:
        key = bootstrap.api_key(config, environ)
    except SecretError as exc:
        text = str(exc)
        command = re.search(r"run `([^`]+)`", text)
        if command:
            return Check("api key", FAIL, text, f"run: {command.group(1)}"), None
        problem, _, fix = text.partition(": ")  # "no Vast API key: set ... or export VAST_API_KEY"
        return Check("api key", FAIL, problem, fix or text), None
    return Check("api key", OK, f"from {_key_source(config, environ)}"), key


def _scope(name: str, call: Callable[[], object]) -> Check:
    try:
        call()
    except VastAuthError as exc:
        return Check(f"scope {name}", FAIL, f"refused: {exc}",
                     "the key is revoked or lacks this permission: create a key with it in the Vast console "
                     "(Account -> API Keys) and install it")
    except VastRateLimited as exc:
        # Vast answers 429 only to a key it accepted; a running agent shares the key's per-endpoint limits.
        return Check(f"scope {name}", WARN, f"accepted, but rate limited now ({exc})",
                     "run `hostagent doctor` again in a minute to see the call itself work")
    except VastError as exc:
        return Check(f"scope {name}", FAIL, str(exc), "retry later; if it persists, check status.vast.ai")
    return Check(f"scope {name}", OK, "works")


def check_api(
    config: Config,
    key: str,
    transport: Transport | None = None,
    ledger: OperatorLedger | None = None,
    store: IdentityStore | None = None,
) -> list[Check]:
    """Reachability, then one read per scope the agent needs (nothing is written). With the agent's
    `ledger`, each call waits its turn after the agent's, and none is made while Vast defers the agent."""
    cfg = dataclasses.replace(config.vast, max_attempts=1, max_retry_time_s=15.0)
    now = bootstrap.wall_clock().now()
    deferred = ledger.deferred(now) if ledger is not None else None
    if deferred is not None:
        return [Check("api", WARN, f"skipped: {deferred}", "run `hostagent doctor` again after that time")]
    try:
        client = bootstrap.vast_client(cfg, key, transport=transport)
    except VastInsecureURL as exc:  # refused before any connection: the key would travel in clear text
        return [Check("api", FAIL, str(exc), f"vast.api_url: {HTTPS_FIX}")]
    with client:
        if ledger is not None:
            client.share_rate_limits(ledger)
        try:
            user = client.show_user()
        except VastAuthError as exc:
            return [Check("api", FAIL, f"{config.vast.api_url}: the key was refused ({exc})",
                          "the key is wrong or revoked: create a new one in the Vast console and install it")]
        except VastError as exc:
            return [Check("api", FAIL, f"{config.vast.api_url}: {exc}",
                          "check the network, DNS and vast.api_url; a proxy must allow HTTPS to Vast")]
        # The reachability read is show_user itself, so a key refused that scope has already failed "api" above.
        checks = [Check("api", OK, f"{config.vast.api_url} reachable; account {user.username or user.id}")]
        if user.host_agreement_accepted is False:
            checks.append(Check("host agreement", WARN, "this account has not accepted the host agreement",
                                "accept it in the Vast console before listing"))
        query = peer_query("RTX 4090", 1, 5, None)
        listed: list[MachineState] = []  # the scope's read, kept for the machine check's fix (no second call)
        checks += [
            _scope("show_machines", lambda: listed.extend(client.show_machines())),
            _scope("search_offers", lambda: client.search_offers(query)),
            _scope("show_earnings", lambda: client.show_earnings(now - timedelta(days=1), now)),
            check_machine(config, client, store, listed or None),
        ]
        return checks


def check_machine(
    config: Config, client: Marketplace, store: IdentityStore | None, listed: list[MachineState] | None = None
) -> Check:
    """This host's machine, found by the agent's own lookup (hostagent.service.machines), is the one the agent
    recorded when it first found it (hostagent.service.identity). `store`: the agent's, read-only, if any;
    `listed`: the account's machines as already read, for the fix when the lookup finds none."""
    state = store if store is not None else NoState()
    now = bootstrap.wall_clock().now()
    try:
        identity = IdentityGuard(state, read_only=True)
        machine_id = known_machine_id(config.machine.id, state)
        machine = find_machine(client, ApiGate(state, retry_after_cap_s=config.vast.retry_after_cap_s), identity,
                               machine_id=machine_id, hostname=bootstrap.host_name(config), now=now)
    except StateError as exc:
        return Check("machine", WARN, f"cannot read what the agent recorded: {exc}")
    except VastWrongMachine as exc:
        return Check("machine", FAIL, str(exc).removeprefix("machine "), forget_hint(exc.asked_id))
    except VastRateLimited as exc:
        return Check("machine", WARN, f"machine {machine_id}: rate limited now ({exc})", "run `hostagent doctor` again")
    except (VastNotFound, LookupError) as exc:  # the agent would find nothing (or refuse to guess): name the choices
        detail = f"machine.id {machine_id}: no such machine on this Vast account" if machine_id else str(exc)
        return Check("machine", FAIL, detail, _machine_fix(client, machine_id, listed))
    except (VastError, ApiDeferred) as exc:
        return Check("machine", FAIL, f"machine {machine_id}: {exc}" if machine_id else str(exc),
                     "set machine.id to this host's Vast machine")
    what = "the one recorded" if identity.recorded is not None else "found (identity not recorded yet)"
    return Check("machine", OK, f"machine {machine.id} on Vast is {what}")


def _machine_fix(client: Marketplace, machine_id: int | None, listed: list[MachineState] | None) -> str:
    """Set `[machine] id` to one of the account's machines (listed, id and hostname), or drop a wrong one."""
    try:
        machines = sorted(listed if listed is not None else client.show_machines(), key=lambda m: m.id)
    except VastError as exc:
        return f"set `id = N` under [machine] to this host's Vast machine (could not list the account's: {exc})"
    if not machines:
        return "this Vast account has no machines: install Vast's host software on this host first"
    lines = "\n".join(f"{m.id}  hostname {m.hostname!r}" for m in machines[:MACHINES_LISTED])
    more = f"\n... and {len(machines) - MACHINES_LISTED} more" if len(machines) > MACHINES_LISTED else ""
    drop = " (or remove the id to find it by hostname)" if machine_id is not None else ""
    return f"set `id = N` under [machine] to this host's machine{drop}; the account's machines:\n{lines}{more}"


def check_state_dir(state_dir: Path) -> Check:
    if not state_dir.exists():
        parent = next((p for p in state_dir.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return Check("state dir", WARN, f"{state_dir} does not exist yet (the agent creates it)")
        return Check("state dir", FAIL, f"{state_dir} does not exist and {parent} is not writable",
                     f"create it: `install -d -m 700 {state_dir}` (systemd: StateDirectory=hostagent does this)")
    try:
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("state dir", FAIL, f"{state_dir} is not writable as uid {os.geteuid()}: {exc.strerror}",
                     f"run the agent as the directory's owner, or `chown` {state_dir} to the agent's user")
    db = state_dir / "state.db"  # the directory may be writable while the file is not: `run` refuses that (77)
    try:
        os.close(os.open(db, os.O_RDWR | os.O_CLOEXEC))
    except FileNotFoundError:
        pass
    except OSError as exc:
        uid = os.geteuid()
        return Check("state dir", FAIL, f"{db} is not writable as uid {uid}: {exc.strerror}",
                     f"`chown {uid} {db} && chmod 600 {db}`, or run doctor as the agent's user")
    return Check("state dir", OK, f"{state_dir} writable")


def check_metrics(config: Config) -> Check:
    """The metrics endpoint on loopback (or off): the page has no authentication."""
    if not config.metrics.enabled:
        return Check("metrics", OK, "endpoint disabled")
    exposure = metrics_exposure(config.metrics.address)
    if exposure is not None:
        problem, _, fix = exposure.partition(": ")
        return Check("metrics", FAIL, f"metrics.address {problem}", fix)
    address = config.metrics.address
    taken = bind_error(address)
    if taken is not None and not serves_hostagent(address):  # the running agent's own endpoint is fine
        return Check("metrics", FAIL, f"{address} cannot be bound ({taken.strerror}): `run` would exit 73",
                     "stop the process holding it (`ss -ltnp` names it) or set another [metrics] address")
    return Check("metrics", OK, f"{address} (loopback only{', served by the running agent' if taken else ''})")


def check_clock(api_url: str, transport: Transport | None = None) -> Check:
    """Local UTC against the `Date` header of any reply from Vast (no key sent)."""
    try:
        before, after, header = date_header(api_url, transport)
    except VastError as exc:
        return Check("clock", WARN, f"could not ask {api_url} for the time: {exc}")
    if not header:
        return Check("clock", WARN, f"{api_url} sent no Date header")
    try:
        remote = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return Check("clock", WARN, f"{api_url} sent an unreadable Date header")
    skew_s = (before + after) / 2 - remote
    # The header is truncated to the second: up to 1 s of the apparent skew is rounding.
    shown = f"local clock {'ahead of' if skew_s >= 0 else 'behind'} Vast by {abs(skew_s):.1f} s"
    if abs(skew_s) > SKEW_FAIL_S:
        return Check("clock", FAIL, shown, NTP_FIX)
    if abs(skew_s) > SKEW_WARN_S + 1:
        return Check("clock", WARN, shown, NTP_FIX)
    return Check("clock", OK, shown)


def _to_stderr(line: str) -> None:
    print(f"hostagent doctor: {line}", file=sys.stderr)


def run_checks(
    path: str | None, environ: Mapping[str, str] = os.environ, say: Callable[[str], None] = _to_stderr
) -> list[Check]:
    """Every check in order; a check that needs a failed one is reported as skipped (fail).
    `say` gets the lines about sharing the key's rate limits with the agent (waits, what could not be read)."""
    config_check, config = check_config(path, environ)
    if config is None:
        return [config_check]
    checks = [config_check, check_gpus(config), check_devices(config)]
    key_check, key = check_key(config, environ)
    checks.append(key_check)
    if key is None:
        checks.append(Check("api", FAIL, "skipped: no usable API key", key_check.fix))
    else:
        ledger, store = bootstrap.operator_ledger(config.agent.state_dir, say)
        try:
            checks += check_api(config, key, ledger=ledger, store=store)
        finally:
            if store is not None:
                store.close()
    checks += [check_state_dir(config.agent.state_dir), check_metrics(config), check_clock(config.vast.api_url)]
    from hostagent.commands.notify_test import destination_checks  # noqa: PLC0415  (apprise: only when configured)

    return checks + destination_checks(config, environ)
