"""Text rendering for `hostagent status`: the view built by `hostagent.commands.status_view` -> lines for a terminal.

Pure functions of the typed view (plain JSON data; stdlib only at run time), so the rendering is tested without
any state store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hostagent.commands.status_view import StatusView
    from hostagent.service.status_types import StatusDoc

SPARK = "▁▂▃▄▅▆▇█"
PRICE_STEPS = ("base", "schedule", "market", "idle_decay", "guard")
WIDTH = 110  # long journal texts are cut here; `hostagent journal` shows them whole


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled to the largest; all-zero (or empty) gives the lowest blocks."""
    top = max(values, default=0.0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int(max(v, 0.0) / top * (len(SPARK) - 1) + 0.5))] for v in values)


def usd(value: object, unit: str = "") -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    text = f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
    return text + unit


def when(iso: object) -> str:
    """'2026-11-04 00:00 UTC' from an ISO string, 'n/a' for None."""
    if not isinstance(iso, str):
        return "n/a"
    try:
        return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return iso


def age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _cut(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _head(view: StatusView) -> list[str]:
    doc = view["agent"]
    m = doc["machine"]
    machine = "machine: not read yet"
    if m:
        machine = f"machine {m['id']} {m['hostname']} · {m['num_gpus']}× {m['gpu_name']}"
    daemon = view["daemon"]
    if daemon["running"] is True:
        running = f"running (pid {daemon['pid']})" if daemon["pid"] else "running"
    elif daemon["running"] is False:
        running = "NOT RUNNING"
    else:
        running = "unknown (cannot read the lock file)"
    age_s = view["tick_age_s"]
    tick = f"last tick {age(age_s)} ago ({when(view['tick_at'])})"
    if age_s < 0:  # e.g. the demo's simulated clock runs ahead of this one
        tick = f"last tick {when(view['tick_at'])}, {age(-age_s)} AHEAD of this clock (simulated or skewed clock)"
    if view["stale"]:
        tick += " STALE"
    api = doc["api"]
    if api["auth_ok"] is False:
        api_text = "AUTH FAILED (key revoked or wrong): fix the key, then restart"
    elif api["blocked"] or api["problem"]:
        api_text = f"blocked: {api['blocked'] or api['problem']}"
    else:
        api_text = f"ok · last ok {when(api['last_ok_at'])}"
    err = api["last_error"]
    if err:  # one readable clause, never the dict's repr
        status = f"HTTP {err['status']}, " if err["status"] is not None else ""
        api_text += f" · last error {when(err['at'])}: {err['operation']}: {status}{err['message']}"
    lines = [
        f"{machine} · {doc['mode']} mode",
        f"agent     {running} · {tick}",
        f"api       {api_text}",
    ]
    lines += _owner(doc)
    mismatch = doc["identity"]["mismatch"]
    if mismatch:  # first, in capitals: the agent writes nothing until someone looks
        lines.insert(0, f"!! MACHINE IDENTITY MISMATCH: {mismatch}")
    return lines


def _owner(doc: StatusDoc) -> list[str]:
    """The owner's hold and pause, right under the agent line: they explain why the listing is as it is."""
    owner, lines = doc["owner"], []
    hold, pause = owner["hold"], owner["pause"]
    if hold is not None:
        until = f" until {when(hold['until'])}" if hold["until"] else " until release"
        if hold["source"] == "outside":  # the reason reads "changed outside hostagent: listed at 2.10 → unlisted"
            change = hold["reason"].removeprefix("changed outside hostagent: ")
            text = f"HELD as set outside hostagent since {when(hold['at'])}: {change} ·{until}"
        else:
            reason = f": {hold['reason']}" if hold["reason"] else ""
            text = f"HELD unlisted by {hold['by']} since {when(hold['at'])}{reason}{until}"
        lines.append(_cut(f"owner     {text}"))
    if pause is not None:
        reason = f": {pause['reason']}" if pause["reason"] else ""
        text = f"PAUSED (no writes) by {pause['by']} since {when(pause['at'])}{reason} · until resume"
        lines.append(_cut(f"owner     {text}"))
    return lines


def _listing(doc: StatusDoc) -> list[str]:
    li = doc["listing"]
    state = {True: "LISTED", False: "NOT LISTED", None: "unknown"}[li["listed"]]
    chain = " → ".join(
        f"{r['step']}: {r['text']}"
        for r in li["reasons"]
        if r["step"].split(".")[0] in PRICE_STEPS and r["text"] != "off"
    )
    set_by = f" (set by {li['rule']})" if li["rule"] else ""
    # "NOT LISTED at n/a" read as a price; a machine not listed has no price on offer, so none is shown.
    at = f" at {usd(li['price_usd_per_gpu_hour'], '/GPU/h')}" if li["price_usd_per_gpu_hour"] is not None else ""
    lines = [
        f"listing   {state}{at} · target "
        f"{usd(li['target_price_usd_per_gpu_hour'])} → publish {usd(li['desired_price_usd_per_gpu_hour'])}"
        f"{set_by} · min bid {usd(li['min_bid_usd_per_gpu_hour'])} · offer ends {when(li['end_date'])}",
        f"          why: {li['why']}",
    ]
    if chain:
        lines.append(_cut(f"          price: {chain}"))
    lines += [f"          WARNING: {w}" for w in li["warnings"]]
    c = doc["contracts"]
    lines.append(
        f"contracts {c['running']} running ({c['on_demand']} on demand) · latest ends "
        f"{when(c['latest_end'])} · GPUs {c['gpu_occupancy'] or 'n/a'}"
    )
    return lines


def _vast(doc: StatusDoc) -> list[str]:
    """What Vast says about the machine: the line an owner reads before the Machines page."""
    sig = doc["vast_signals"]
    offline = {True: "OFFLINE per Vast", False: "online", None: "online: unknown"}[sig["offline"]]
    reliability = f"{sig['reliability'] * 100:.2f} %" if sig["reliability"] is not None else "–"
    reports = sig["num_reports"]
    lines = [f"vast      {sig['verification'] or 'verification unknown'} · reliability {reliability} · {offline}"
             f" · {'ERROR shown' if sig['error_description'] else 'no error'}"
             f" · {reports if reports is not None else '–'} renter report(s)"]
    if sig["offline"] and sig["timeout_s"] is not None:
        lines.append(f"          Vast last heard from the machine {age(sig['timeout_s'])} ago")
    if sig["error_description"]:
        lines.append(_cut(f"          error on Vast: {sig['error_description']}"))
    for report in sig["reports"][:3]:
        text = report["problem"] + (f": {report['message']}" if report["message"] else "")
        lines.append(_cut(f"          report {when(report['created_at'])}: {text}"))
    for window in sig["scheduled_by_vast"]:
        lines.append(f"          Vast scheduled maintenance {when(window['start'])} → {when(window['end'])} "
                     f"({window['category']}), not hostagent")
    return lines


def _value(v: object, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else "–"


def _cell(v: object, width: int, fmt: str, unit: str = "") -> str:
    """`v` with its unit in `width` columns, or "–" in the same columns (a lost GPU's row stays aligned)."""
    text = format(v, fmt) + unit if isinstance(v, (int, float)) else "–"
    return text.rjust(width)


def _health(doc: StatusDoc) -> list[str]:
    h = doc["health"]
    gpus = h["gpus"]
    ok_count = sum(1 for g in gpus if g["health"] == "ok")
    verdict = {True: "ok", False: "UNHEALTHY", None: "not judged yet"}[h["ok"]]
    lines = [f"health    {verdict} · {ok_count}/{len(gpus)} GPUs ok · {h['backend']} backend"]
    lines += [f"          {r}" for r in h["reasons"]]
    if h["hint"]:
        lines.append(f"          hint: {h['hint']}")
    lines.append("          GPU health   temp   util   power   memory used        ECC  note")
    for g in gpus:
        mem = f"{_value(g['memory_used_mib'], '.0f')}/{_value(g['memory_total_mib'], '.0f')} MiB"
        mem = mem if g["memory_total_mib"] is not None else "–"
        hot = f"hot since {when(g['hot_since'])}" if g["hot_since"] else ""
        note = g["error"] or ("stale" if g["stale"] else "") or hot
        lines.append(
            f"          {g['index']:>3} {g['health']:<7} {_cell(g['temperature_c'], 5, '.0f', '°C')} "
            f"{_cell(g['utilization_pct'], 5, '.0f', '%')} {_cell(g['power_w'], 7, '.0f', ' W')}  {mem:<18} "
            f"{_cell(g['ecc_uncorrected_volatile'], 3, 'd')}  {note}".rstrip()
        )
    for d in doc["disks"]:
        if d["error"]:
            lines.append(f"disk      {d['path']}: {d['error']}")
            continue
        free, minimum = d["free_gb"], d["min_free_gb"]
        room = ""
        if free is not None and minimum is not None:
            room = f" · headroom {free - minimum:,.1f} GB above the {minimum:g} GB minimum"
        total = _value(d["total_gb"], ",.1f")
        lines.append(f"disk      {d['path']}: {_value(free, ',.1f')} GB free of {total} GB{room}")
    return lines


def _maint_job(view: StatusView) -> list[str]:
    doc = view["agent"]
    nxt = view["next_maintenance"]
    if nxt is None:
        text = "no window configured in the next 35 days"
    else:
        text = (f"'{nxt['name']}' {when(nxt['start'])} → {when(nxt['end'])} "
                f"(whole hours, as Vast holds it; {nxt['category']})")
        text += " · ACTIVE NOW" if nxt["active"] else ""
    maint = doc["maintenance"]
    held = maint["vast_windows"]
    lines = [f"maint     next: {text} · Vast holds {len(held)} window(s)"]
    if maint["contract_runs_into_window"]:
        lines.append("          WARNING: a running contract ends after the next window starts")
    lines += _operator_maint(view)
    job = doc["default_job"]
    conf, on_vast = job["configured"], job["on_vast"]
    conf_text = f"{conf['image']} at {usd(conf['price_usd_per_gpu_hour'], '/GPU/h')}" if conf else "none configured"
    vast_text = f"{on_vast['image']} at {usd(on_vast['price_usd_per_gpu_hour'], '/GPU/h')}" if on_vast else "none"
    lines.append(f"defjob    {conf_text} · on Vast: {vast_text}")
    return lines


def _operator_maint(view: StatusView) -> list[str]:
    """The operator's windows (`maint add`): a queued one is not on Vast yet, the agent sends it."""
    ops = view["operator_maintenance"]
    lines = [
        f"maint     operator {w['id']}: {when(w['start'])} → {when(w['end'])} ({w['category']}) {w['state']}"
        + (" (the agent sends it at its next reconcile)" if w["state"] == "queued" else "")
        + (f": {w['result']}" if w["state"] == "refused" and w["result"] else "") + f" · by {w['by']}"
        for w in ops["windows"]
    ]
    cancel = ops["cancel"]
    if cancel is not None:
        lines.append(f"maint     cancel of every window queued by {cancel['by']} at {when(cancel['requested_at'])} "
                     "(the agent sends it at its next reconcile)")
    return lines


def _earnings(view: StatusView) -> list[str]:
    e = view["earnings"]
    occ = e["occupancy_30d"]
    occ_text = f"{occ * 100:.1f} %" if isinstance(occ, (int, float)) else "n/a"
    job = e.get("default_job_share_30d")
    job_text = f" (renters; default job {job * 100:.1f} %)" if isinstance(job, (int, float)) else ""
    days = e["days"]
    return [
        f"earnings  today {usd(e['today_usd'])} · 7 days {usd(e['last_7d_usd'])} · 30 days {usd(e['last_30d_usd'])} "
        f"· occupancy {occ_text}{job_text} · realised {usd(e['realised_usd_per_gpu_hour_30d'], '/GPU-h')}",
        f"          {sparkline([d['usd'] for d in days])}  ({days[0]['date'] if days else ''} → today)",
    ]


def _actions(view: StatusView) -> list[str]:
    doc = view["agent"]
    lines = ["recent    (hostagent journal shows more)"]
    for a in view["recent_actions"]:
        mark = "ok  " if a["ok"] else "FAIL"
        lines.append(_cut(f"          {when(a['at'])[:-4]} {mark} {a['kind']}: {a['what']}"))
    last = doc["last_actions"]
    lines += [_cut(f"          last tick failed: {f}") for f in last["failed"]]
    lines += [_cut(f"          would send (observe mode): {w}") for w in last["would_send"]]
    lines += [_cut(f"          waiting: {w}") for w in last["waiting"]]
    if last["deferred"]:
        lines.append(f"          deferred: {last['deferred']}")
    return lines


def render_status(view: StatusView) -> str:
    """The whole `hostagent status` screen."""
    doc = view["agent"]
    sections = [_head(view), _listing(doc), _vast(doc), _health(doc), _maint_job(view), _earnings(view),
                _actions(view)]
    return "\n".join(line for section in sections for line in section)
