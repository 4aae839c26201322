"""Which metrics a PromQL expression reads: the dashboard and alert-rule tests check them against METRIC_NAMES."""

from __future__ import annotations

import re


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges, grouping and functions removed)."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names: set[str] = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if not expr[match.end():].lstrip().startswith("("):  # a function call, not a metric
            names.add(match.group())
    keywords = {"and", "or", "unless", "bool", "offset"}
    return names - keywords
