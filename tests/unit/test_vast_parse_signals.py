"""Vast's signals as they enter: a wrong JSON type is a bad reply; an absurd value of the right type is unknown."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from hostagent.errors import VastBadReply
from hostagent.vast import parse
from hostagent.vast.parse import Fields

MACHINE = {"id": 4242, "hostname": "demo-h100-01", "gpu_name": "H100 SXM", "num_gpus": 8, "listed": False}


def _machine(**changes: object):  # type: ignore[no-untyped-def]
    return parse.machine(Fields({**MACHINE, **changes}, "machines[0]", "show_machines"))


def test_the_signals_vast_sends_are_read_with_their_meaning() -> None:
    """verification, reliability2, timeout, error_description and num_reports land in MachineState."""
    m = _machine(verification="Deverified", reliability2=0.9871, timeout=412.5,
                 error_description="  GPU 2\nnot detected ", num_reports=3)
    assert (m.verification, m.reliability, m.timeout_s, m.error_description, m.num_reports) == (
        "deverified", 0.9871, 412.5, "GPU 2 not detected", 3)


def test_a_blank_error_is_no_error_and_a_long_one_is_cut() -> None:
    """Vast's empty red line means none; a runaway one is cut so status and notifications stay readable."""
    assert _machine(error_description="   ").error_description is None
    long = _machine(error_description="x" * 5000).error_description
    assert long == "x" * 297 + "..."


@pytest.mark.parametrize(("field", "value"), [
    ("verification", "sort-of"), ("reliability2", 7.0), ("reliability2", -0.1), ("timeout", -5.0),
    ("num_reports", -1), ("num_reports", 10**9),
])
def test_an_absurd_signal_reads_as_unknown_and_is_logged(field: str, value: object) -> None:
    """The machine record is still read (every write is planned from it); the odd value is None, named in a log."""
    with capture_logs() as logs:
        m = _machine(**{field: value})
    attribute = {"reliability2": "reliability", "timeout": "timeout_s"}.get(field, field)
    assert getattr(m, attribute) is None
    assert [(e["event"], e["field"]) for e in logs] == [("vast_field_not_understood", f"machines[0].{field}")]


@pytest.mark.parametrize(("field", "value"), [
    ("verification", 1), ("reliability2", "high"), ("timeout", True), ("error_description", 5), ("num_reports", 1.5),
])
def test_a_signal_of_the_wrong_type_is_a_bad_reply_naming_it(field: str, value: object) -> None:
    """The same rule as every other field: the path of the field in the message."""
    with pytest.raises(VastBadReply, match=f"machines\\[0\\].{field}"):
        _machine(**{field: value})


def test_a_report_needs_a_problem_and_a_believable_time() -> None:
    """An empty problem or a time beyond year 3000 (or before 1970) is a bad reply for the reports endpoint."""
    read = parse.report(Fields({"problem": " Network ", "created_at": 1795628817.88}, "[0]", "machine_reports"))
    assert (read.problem, read.message) == ("Network", "")
    for bad in ({"problem": "", "created_at": 1.0}, {"problem": "p", "created_at": -1.0},
                {"problem": "p", "created_at": 1e12}, {"problem": "p", "created_at": "3001-01-01T00:00:00"}):
        with pytest.raises(VastBadReply, match=r"\[0\]\.(problem|created_at)"):
            parse.report(Fields(bad, "[0]", "machine_reports"))
