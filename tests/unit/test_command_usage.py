"""Unknown values given to a command are usage errors (exit 2) that name what is accepted."""

from __future__ import annotations

import pytest

from hostagent.cli import main
from hostagent.commands.journal import ACTION_KINDS, JOURNAL_KINDS
from hostagent.core.model import ActionKind


def usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_journal_kind_bogus_is_a_usage_error_listing_the_known_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    """`journal --kind bogus` filters nothing silently: exit 2, every known kind named."""
    err = usage_error(capsys, "journal", "--kind", "bogus")
    assert "invalid choice: 'bogus'" in err
    for kind in JOURNAL_KINDS:
        assert repr(kind) in err


def test_journal_limit_must_be_a_whole_number_of_zero_or_more(capsys: pytest.CaptureFixture[str]) -> None:
    """A negative or non-numeric --limit is a usage error, not "all entries"."""
    assert "'-1' is not a whole number >= 0" in usage_error(capsys, "journal", "--limit", "-1")
    assert "'ten' is not a whole number >= 0" in usage_error(capsys, "journal", "--limit", "ten")


def test_the_journal_kinds_name_every_write_the_agent_can_send() -> None:
    """The --kind choices keep up with the core's action kinds, so a new write is never an "unknown kind"."""
    assert set(ACTION_KINDS) == {kind.value for kind in ActionKind}
    assert set(ACTION_KINDS) <= set(JOURNAL_KINDS)
