#!/usr/bin/env python3
"""Regenerate every generated part of the documentation; `--check` fails when a committed copy differs.

    .venv/bin/python scripts/gen_docs.py            # rewrite docs/configuration.md's reference, docs/hostagent.1
                                                    # and every <!-- sample: NAME --> block in README.md and docs/
    .venv/bin/python scripts/gen_docs.py --check    # exit 1 naming each file that is out of date

What is generated, and from what:
- the configuration reference (`<!-- generated: config-reference -->` in docs/configuration.md): from the config
  model (hostagent/config/model.py: keys, types, defaults), its checks (config/validate.py: ranges) and the comments
  of config/hostagent.example.toml (descriptions); see hostagent/docgen/config_reference.py;
- the exit codes (`<!-- generated: exit-codes -->` in docs/operating.md): from the EXIT_* constants;
- docs/hostagent.1, the man page: from the command parsers (hostagent/cli.py, hostagent/commands/); see
  hostagent/docgen/manpage.py;
- the command samples: from real runs of the commands against the Vast emulator and the fake GPUs of
  config/demo.toml (hostagent/docgen/samples.py says how each is made deterministic).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hostagent.docgen.config_reference import reference_markdown  # noqa: E402
from hostagent.docgen.manpage import exit_codes_markdown, manpage  # noqa: E402
from hostagent.docgen.samples import make_samples  # noqa: E402

REGENERATE = ".venv/bin/python scripts/gen_docs.py"
BLOCK = re.compile(r"(<!-- (sample|generated): ([\w-]+) -->\n)(.*?)(<!-- /\2 -->)", re.DOTALL)


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def names_in(paths: list[Path]) -> set[str]:
    return {m.group(3) for path in paths for m in BLOCK.finditer(path.read_text(encoding="utf-8"))
            if m.group(2) == "sample"}


def fill(text: str, blocks: dict[tuple[str, str], str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = (match.group(2), match.group(3))
        if key not in blocks:
            raise SystemExit(f"gen_docs: no generator for <!-- {key[0]}: {key[1]} -->")
        return match.group(1) + blocks[key] + match.group(5)

    return BLOCK.sub(one, text)


def expected(only_samples: set[str] | None = None) -> dict[Path, str]:
    """Every generated file's expected content, keyed by path."""
    docs = documents()
    wanted = names_in(docs) if only_samples is None else only_samples
    samples = make_samples(wanted)
    blocks: dict[tuple[str, str], str] = {("sample", name): text for name, text in samples.items()}
    blocks[("generated", "config-reference")] = reference_markdown()
    blocks[("generated", "exit-codes")] = exit_codes_markdown()
    out = {path: fill(path.read_text(encoding="utf-8"), blocks) for path in docs}
    out[REPO / "docs" / "hostagent.1"] = manpage()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a generated part differs")
    args = parser.parse_args(argv)
    stale: list[str] = []
    write: Callable[[Path, str], None] = lambda path, text: path.write_text(text, encoding="utf-8")  # noqa: E731
    for path, text in expected().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(str(path.relative_to(REPO)))
            if not args.check:
                write(path, text)
    if args.check and stale:
        print(f"gen_docs: out of date: {', '.join(stale)}; regenerate with `{REGENERATE}`", file=sys.stderr)
        return 1
    print(f"gen_docs: {'rewrote ' + ', '.join(stale) if stale else 'everything up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
