"""`status --check`'s verdict from the status view: OK only when fresh, healthy, accepted by Vast and as planned."""

from __future__ import annotations

from status_docs import a_view, blank_doc

from hostagent.commands.status_check import check_line, fresh_for_s
from hostagent.commands.status_view import StatusView
from hostagent.service.status_types import StatusDoc

FRESH_S = fresh_for_s(tick_s=30.0, reconcile_s=600.0)


def healthy_doc() -> StatusDoc:
    doc = blank_doc()
    doc["machine"] = {"id": 4242, "hostname": "demo-h100-01", "gpu_name": "H100 SXM", "num_gpus": 8}
    doc["health"]["ok"] = True
    return doc


def verdict(view: StatusView) -> tuple[bool, str]:
    return check_line(view, FRESH_S)


def test_a_fresh_healthy_tick_with_nothing_pending_is_ok() -> None:
    """One line starting OK, naming the machine and the tick's age."""
    assert verdict(a_view(healthy_doc())) == (True, "OK: machine 4242 as planned, healthy, last tick 5 s ago")


def test_fresh_means_three_reconciles_so_a_cron_run_once_is_not_stale() -> None:
    """A tick 25 minutes old is fresh with reconcile_s 600 (cron every few minutes), 31 minutes is not."""
    assert FRESH_S == 1800.0
    assert verdict(a_view(healthy_doc(), tick_age_s=1500.0))[0]
    assert not verdict(a_view(healthy_doc(), tick_age_s=1860.0))[0]


def test_an_old_tick_with_the_daemon_stopped_says_the_agent_is_not_running() -> None:
    """The age is in hours when it is long, and the limit is named."""
    healthy, line = verdict(a_view(healthy_doc(), tick_age_s=7300.0))
    assert not healthy
    assert line == "CRITICAL: agent not running (last tick 2.0 h ago, more than 30 min)"


def test_a_refused_key_and_a_failing_health_check_are_both_named_on_one_line() -> None:
    """Every problem is on the one line, the key first."""
    doc = healthy_doc()
    doc["api"]["auth_ok"] = False
    doc["api"]["problem"] = "Vast refused the API key at ..."
    doc["health"]["ok"] = False
    doc["health"]["reasons"] = ["gpu_temp: GPU 3 above 85 C"]
    healthy, line = verdict(a_view(doc))
    assert not healthy
    assert line == "CRITICAL: Vast refused the API key; health failing: gpu_temp: GPU 3 above 85 C"
    assert "\n" not in line


def test_changes_the_last_reconcile_left_pending_are_not_as_planned() -> None:
    """A failed write, an observe-mode would_send or a write waiting its turn means Vast is not as planned."""
    doc = healthy_doc()
    doc["last_actions"]["failed"] = ["set_min_bid machine 4242 (1.0): HTTP 500"]
    doc["last_actions"]["would_send"] = ["list_machine machine 4242 (2.0)"]
    healthy, line = verdict(a_view(doc))
    assert not healthy
    assert line == "CRITICAL: 2 change(s) pending on Vast: set_min_bid machine 4242 (1.0): HTTP 500"


def test_a_reconcile_that_could_not_read_vast_is_named_with_its_reason() -> None:
    """The agent's recorded problem is passed on as it is."""
    doc = healthy_doc()
    doc["api"]["problem"] = "cannot read Vast: no machine with hostname 'demo-h100-01' on this Vast account"
    assert verdict(a_view(doc)) == (
        False,
        "CRITICAL: last reconcile did not run: cannot read Vast: no machine with hostname 'demo-h100-01' on this "
        "Vast account",
    )


def test_changes_pending_while_paused_name_the_pause() -> None:
    """Paused, the would_send is pending on purpose: the line says who paused and how it ends."""
    doc = healthy_doc()
    doc["last_actions"]["would_send"] = ["list_machine machine 4242 (2.0)"]
    doc["owner"]["pause"] = {"by": "root", "at": "2026-11-29T01:00:00+00:00", "reason": "by hand"}
    healthy, line = verdict(a_view(doc))
    assert not healthy
    assert line == ("CRITICAL: 1 change(s) pending on Vast (paused by root: no writes until `hostagent resume`): "
                    "list_machine machine 4242 (2.0)")
