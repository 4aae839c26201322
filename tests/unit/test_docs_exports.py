"""What the docs say the agent exports (metrics, `status --json`) is what it exports, and each export is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hostagent.runtime.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[2]
METRICS_PAGE = REPO / "docs" / "metrics.md"
NAME = re.compile(r"`((?:hostagent|DCGM_FI_DEV|process)_\w*)`")


def _table_names(text: str) -> set[str]:
    """The metric names in the first cell of each table row (the metric column)."""
    return {name for line in text.splitlines() if line.startswith("| `")
            for name in NAME.findall(line.split(" | ")[0])}


def test_every_metric_in_the_metrics_table_is_one_the_agent_exports() -> None:
    """A row for a metric that was renamed or never existed fails here."""
    named = _table_names(METRICS_PAGE.read_text(encoding="utf-8")) - {"process_"}  # prometheus-client's process_*
    assert sorted(named - METRIC_NAMES) == []


def test_every_metric_the_agent_exports_is_documented_in_the_docs() -> None:
    """A metric added to the code is named, in backticks, in docs/metrics.md or another docs page."""
    documented = set().union(*(NAME.findall(page.read_text(encoding="utf-8"))
                               for page in (REPO / "docs").glob("*.md")))
    assert sorted(METRIC_NAMES - documented) == []


def test_every_key_of_the_status_json_schema_is_named_where_docs_describe_status_json() -> None:
    """A field added to `status --json` (hostagent/data/status.schema.json) is named in docs/operating.md's outline."""
    schema = json.loads((REPO / "hostagent" / "data" / "status.schema.json").read_text(encoding="utf-8"))
    page = (REPO / "docs" / "operating.md").read_text(encoding="utf-8")
    start = page.index("### `status --json` schema 1")
    outline = page[page.index("```", start) + 3:page.index("```", page.index("```", start) + 3)]
    named = set(re.findall(r"\w+", outline))
    keys = set(schema["properties"]) | {key for part in schema["$defs"].values() for key in part.get("properties", {})}
    assert sorted(keys - named) == []
