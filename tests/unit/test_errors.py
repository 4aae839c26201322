"""The exception tree drawn in hostagent/errors.py's docstring is the tree of classes that exist."""

from __future__ import annotations

import inspect
import re

from hostagent import errors


def drawn_tree() -> dict[str, str | None]:
    """Each class drawn in the docstring, with the class it is drawn under (None for the root)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name) of the current branch
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^([\s│├└─]*)([A-Z]\w+)(\s{2,}|$)", line)  # a class name, then its note
        if found is None:
            continue
        column = len(found.group(1))
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[found.group(2)] = stack[-1][1] if stack else None
        stack.append((column, found.group(2)))
    return parents


def test_every_error_class_is_drawn_under_its_real_base_and_nothing_else_is_drawn() -> None:
    classes = {
        name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.HostagentError) and cls.__module__ == errors.__name__
    }
    actual = {
        name: (None if cls is errors.HostagentError else cls.__bases__[0].__name__) for name, cls in classes.items()
    }
    assert drawn_tree() == actual
