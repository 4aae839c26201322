"""The operator's maintenance windows in the state store (key `operator_maints`): written by `maint add|cancel`,
sent by the agent.

`hostagent maint add` records a window here and the agent's next reconcile plans a ScheduleMaint for it
(hostagent.core.maintenance), which the Reconciler sends like any other write: gate, intent, call, read-back,
journal. The agent then records how it went (queued -> sent, or refused). Both sides change the document with
`update` (one `BEGIN IMMEDIATE` transaction: read, change, write), so neither loses the other's change.

The document's form: hostagent.core.operator_maint.to_json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from hostagent.core.actions import Action, CancelMaint, ScheduleMaint
from hostagent.core.maintenance import matches, operator_window, vast_duration_h
from hostagent.core.model import VastMaintenance
from hostagent.core.operator_maint import (
    OPERATOR_MAINTS_KEY,
    OperatorCancel,
    OperatorMaints,
    OperatorWindow,
    from_json,
    to_json,
)
from hostagent.errors import StateError

log = structlog.get_logger(__name__)

MAX_KEPT = 50  # ended, cancelled and refused windows beyond this many are dropped (the journal keeps them)


class OperatorMaintsStore(Protocol):
    def get(self, key: str) -> object | None: ...

    def update(self, key: str, change: Callable[[object | None], object]) -> object: ...


def parse(raw: object) -> OperatorMaints:
    """The stored document; an entry that does not fit is dropped with a warning (never the whole document)."""
    doc, problems = from_json(raw)
    for problem in problems:
        log.warning("operator_maint_unreadable", problem=problem)
    return doc


def load(store: OperatorMaintsStore) -> OperatorMaints:
    try:
        return parse(store.get(OPERATOR_MAINTS_KEY))
    except StateError as exc:  # the windows wait for a readable store; the rest of the reconcile goes on
        log.error("operator_maints_unreadable", error=str(exc))
        return OperatorMaints()


def change(store: OperatorMaintsStore, fn: Callable[[OperatorMaints], OperatorMaints]) -> OperatorMaints:
    """Apply `fn` to the stored document in one transaction. Raises StateError."""
    done: list[OperatorMaints] = []

    def apply(raw: object | None) -> object:
        done.append(fn(parse(raw)))
        return to_json(done[-1])

    store.update(OPERATOR_MAINTS_KEY, apply)
    return done[-1]


def add(store: OperatorMaintsStore, window: OperatorWindow) -> OperatorWindow:
    """Queue one window (`maint add`); returns it as stored (its id made unique: "-2" etc.). Raises StateError."""
    stored: list[OperatorWindow] = []

    def added(doc: OperatorMaints) -> OperatorMaints:
        taken = {w.id for w in doc.windows}
        wid, n = window.id, 2
        while wid in taken:
            wid, n = f"{window.id}-{n}", n + 1
        stored.append(dataclasses.replace(window, id=wid))
        return dataclasses.replace(doc, windows=(*doc.windows, stored[-1]))

    change(store, added)
    return stored[-1]


def request_cancel(store: OperatorMaintsStore, cancel: OperatorCancel) -> OperatorMaints:
    """Record `maint cancel`: the machine's windows on Vast go, and so do its operator windows. Raises StateError."""

    def cancelled(doc: OperatorMaints) -> OperatorMaints:
        windows = tuple(
            dataclasses.replace(w, state="cancelled", result=f"by {cancel.by}, {cancel.id}")
            if w.machine_id == cancel.machine_id and w.live else w
            for w in doc.windows
        )
        return OperatorMaints(windows, cancel)

    return change(store, cancelled)


def _progress(  # noqa: PLR0917 -- what one reconcile saw and did
    doc: OperatorMaints, machine_id: int, sent: Sequence[Action], refused: Sequence[Action],
    held: Sequence[VastMaintenance], now: datetime, *, cancel_done: bool,
) -> OperatorMaints:
    def notice_of(w: OperatorWindow, actions: Sequence[Action]) -> bool:
        start_s, hours = w.start.timestamp(), vast_duration_h(operator_window(w))
        return any(isinstance(a, ScheduleMaint) and a.machine_id == machine_id and abs(a.start_epoch_s - start_s) < 1
                   and abs(a.duration_h - hours) < 0.01 for a in actions)

    def moved(w: OperatorWindow) -> OperatorWindow:
        if w.machine_id != machine_id or w.state != "queued":
            return w
        if notice_of(w, sent) or any(matches(v, operator_window(w)) for v in held):
            return dataclasses.replace(w, state="sent", result=f"sent {now:%Y-%m-%d %H:%M} UTC")
        if notice_of(w, refused):
            return dataclasses.replace(w, state="refused", result="Vast refused the notice (see the journal)")
        if w.start <= now:
            return dataclasses.replace(w, state="refused", result="its start passed before the agent could send it")
        return w

    windows = [moved(w) for w in doc.windows]
    ended = [w for w in windows if w.end <= now or not w.live]
    if len(ended) > MAX_KEPT:  # the oldest done ones go; live windows always stay
        drop = {id(w) for w in sorted(ended, key=lambda w: w.added_at)[: len(ended) - MAX_KEPT]}
        windows = [w for w in windows if id(w) not in drop]
    cancel = doc.cancel
    if cancel_done and cancel is not None and cancel.machine_id == machine_id:
        cancel = None
    return OperatorMaints(tuple(windows), cancel)


def record_progress(  # noqa: PLR0917 -- what one reconcile saw and did
    store: OperatorMaintsStore, seen: OperatorMaints, machine_id: int, sent: Sequence[Action],
    refused: Sequence[Action], held: Sequence[VastMaintenance], now: datetime,
) -> None:
    """After a reconcile: queued windows that were sent (or that Vast shows held) become sent, refused ones
    refused; a cancel the agent sent, or had nothing to send for, is done. Only the cancel the plan saw
    (`seen`) is cleared: one recorded meanwhile waits for the next reconcile. Writes only when it changes."""
    seen_cancel = seen.cancel_for(machine_id)
    cancel_sent = any(isinstance(a, CancelMaint) and a.machine_id == machine_id for a in sent)
    cancel_done = seen_cancel is not None and (cancel_sent or not held)

    def step(doc: OperatorMaints) -> OperatorMaints:
        done = cancel_done and doc.cancel == seen_cancel  # a cancel recorded meanwhile waits
        return _progress(doc, machine_id, sent, refused, held, now, cancel_done=done)

    current = load(store)
    if _progress(current, machine_id, sent, refused, held, now, cancel_done=cancel_done) == current:
        return  # nothing moved: no write every reconcile
    try:
        change(store, step)
    except StateError as exc:  # the next reconcile records it (a sent window is then seen held)
        log.error("operator_maints_not_recorded", error=str(exc))
