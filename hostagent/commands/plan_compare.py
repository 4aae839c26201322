"""`hostagent plan --compare CANDIDATE`: the current config's plan beside a candidate's, from the same facts.

Both plans come from one read of the GPUs, the machine and its maintenance windows (`Agent.preview`, then
`Agent.preview_as`; the market is read again only when the candidate prices from another sample), so every
difference printed is the rules' and none is a change on Vast between two reads. The candidate "decides
differently" when its desired listing (listed, price, min bid, end date, duration, volume) or any action
differs; a reason worded differently alone does not count. Nothing is sent and nothing is journaled.
Exit codes (with --detailed-exitcode, as `plan`'s): 0 the same decision, 2 a different one, 1 any error.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from hostagent.commands import EXIT_CHANGES_PENDING, EXIT_OK
from hostagent.commands.plan import action_line, plan_json
from hostagent.config.model import Config
from hostagent.core.model import Plan

# The settings that choose the machine and how it is read: the candidate's are not used (the same facts).
_NOT_COMPARED = ("vast", "machine", "hardware")
_MARK = "*"  # marks a row where the two configs differ


@dataclass(frozen=True)
class Row:
    name: str
    current: str
    candidate: str

    @property
    def differs(self) -> bool:
        return self.current != self.candidate


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if round(value, 2) == value else f"{value:g}"  # 2.00 as the reasons print it


def _date(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def desired_rows(current: Plan, candidate: Plan) -> list[Row]:
    """The listing each config asks for, field by field."""

    def fields(plan: Plan) -> list[tuple[str, str]]:
        d = plan.desired
        return [
            ("listed", "yes" if d.listed else "no"),
            ("price $/GPU/h", _price(d.price_usd_per_gpu_hour)),
            ("rules' target $/GPU/h", _price(plan.target_price_usd_per_gpu_hour)),
            ("min bid $/GPU/h", _price(d.min_bid_usd_per_gpu_hour)),
            ("end date", _date(d.end_date)),
            ("duration days", "-" if d.duration_days is None else str(d.duration_days)),
            ("volume GB", "-" if d.volume_size_gb is None else str(d.volume_size_gb)),
            ("price set by", plan.price_rule or "-"),
        ]

    return [Row(name, a, b) for (name, a), (_, b) in zip(fields(current), fields(candidate), strict=True)]


def step_rows(current: Plan, candidate: Plan) -> list[Row]:
    """Every step of both decisions, in the order the steps ran (the current config's first, then any step
    only the candidate took); a step that gave several reasons shows them joined."""

    def by_step(plan: Plan) -> dict[str, str]:
        steps: dict[str, list[str]] = {}
        for reason in plan.reasons:
            steps.setdefault(reason.step, []).append(reason.text)
        return {step: "; ".join(texts) for step, texts in steps.items()}

    ours, theirs = by_step(current), by_step(candidate)
    order = list(ours) + [step for step in theirs if step not in ours]
    return [Row(step, ours.get(step, "-"), theirs.get(step, "-")) for step in order]


def action_rows(current: Plan, candidate: Plan) -> list[Row]:
    """Each write either plan would send, with which of them would: "yes" / "-" per config."""
    ours = [action_line(a) for a in current.actions]
    theirs = [action_line(a) for a in candidate.actions]
    return [Row(line, "yes" if line in ours else "-", "yes" if line in theirs else "-")
            for line in ours + [t for t in theirs if t not in ours]]


def decides_differently(current: Plan, candidate: Plan) -> bool:
    rows = desired_rows(current, candidate)[:-1]  # which step set the price is a reason, not a decision
    return any(r.differs for r in rows) or any(r.differs for r in action_rows(current, candidate))


def ignored_sections(config: Config, candidate: Config) -> list[str]:
    return [name for name in _NOT_COMPARED if getattr(config, name) != getattr(candidate, name)]


def render(current: Plan, candidate: Plan, config: Config, cand_config: Config, *, machine_id: int | None,
           names: tuple[str, str]) -> str:
    width = max(24, *(len(r.current) for r in desired_rows(current, candidate)))
    lines = [
        f"machine {machine_id}: current {names[0]} ({config.agent.mode} mode) "
        f"vs candidate {names[1]} ({cand_config.agent.mode} mode), from the same reads; {_MARK} = differs",
        f"  {'':<24}{'current':<{width}}  candidate",
    ]
    lines += [f"{_MARK if r.differs else ' '} {r.name:<24}{r.current:<{width}}  {r.candidate}"
              for r in desired_rows(current, candidate)]
    lines.append("price, step by step (and every other step of the decision):")
    for row in step_rows(current, candidate):
        if row.differs:
            lines += [f"{_MARK} [{row.name}]", f"      current:   {row.current}", f"      candidate: {row.candidate}"]
        else:
            lines.append(f"  [{row.name}] {row.current}")
    actions = action_rows(current, candidate)
    lines.append("changes each would send (nothing was sent now):" if actions else "changes: none under either config")
    for row in actions:
        who = "both" if not row.differs else ("current only" if row.current == "yes" else "candidate only")
        lines.append(f"{_MARK if row.differs else ' '} {who:<15} {row.name}")
    for name in ignored_sections(config, cand_config):
        lines.append(f"note: the candidate's [{name}] differs and is not used: both plans read this machine")
    lines.append("verdict: " + ("the candidate decides differently" if decides_differently(current, candidate)
                                else "the candidate decides as the current config does"))
    return "\n".join(lines)


def report(current: Plan, candidate: Plan, config: Config, cand_config: Config, *, machine_id: int | None,
           args: argparse.Namespace) -> int:
    """Print the comparison (text or --json); the exit code --detailed-exitcode asks for."""
    differs = decides_differently(current, candidate)
    if args.json:
        doc = {
            "machine_id": machine_id,
            "current": plan_json(current, config.agent.mode),
            "candidate": plan_json(candidate, cand_config.agent.mode),
            "differs": differs,
            "desired_differs": [r.name for r in desired_rows(current, candidate) if r.differs],
            "steps_differ": [r.name for r in step_rows(current, candidate) if r.differs],
            "actions_only_current": [r.name for r in action_rows(current, candidate) if r.candidate == "-"],
            "actions_only_candidate": [r.name for r in action_rows(current, candidate) if r.current == "-"],
            "not_used_from_candidate": ignored_sections(config, cand_config),
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render(current, candidate, config, cand_config, machine_id=machine_id,
                     names=(str(args.config or "the default config"), str(args.compare))))
    return EXIT_CHANGES_PENDING if args.detailed_exitcode and differs else EXIT_OK
