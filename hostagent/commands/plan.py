"""`hostagent plan`: what the agent would change now and why, changing nothing.

Reads the GPUs, the machine as Vast shows it, its maintenance windows and (when market pricing is on)
the peer offers, with the memory in the state store, and prints the Plan with every reason. It takes no
lock, journals nothing and sends no write to Vast, so it is safe beside a running agent. It shares the key's
rate limits with the agent (hostagent.service.ratelimits): it waits its turn after the agent's recent calls, saying
so, and records its own calls, its only write to the state store, so the agent waits for them in turn.
Exit codes: 0 printed; 1 Vast or the hardware could not be read; 78 invalid config or unsafe key file.
With --detailed-exitcode (as `terraform plan -detailed-exitcode`): 0 no changes, 2 changes pending, 1 any error.
--compare CANDIDATE.toml: the current config's plan beside the candidate's, from the same reads (the GPUs, the
machine and its windows read once; see hostagent.commands.plan_compare); with --detailed-exitcode 0 when the
candidate would decide exactly as the current config does, 2 when it would decide differently, 1 any error
(an invalid candidate included; 78 without the flag).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_CHANGES_PENDING, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from hostagent.core.actions import Action
    from hostagent.core.model import Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument(
        "--detailed-exitcode", action="store_true",
        help="exit 0 when Vast already matches, 2 when changes are pending, 1 on any error (as terraform); "
             "with --compare: 0 when the candidate decides as the current config does, 2 when it differs",
    )
    parser.add_argument(
        "--compare", metavar="CANDIDATE", default=None,
        help="a candidate config file: its plan beside the current config's, from the same reads of Vast and "
             "the GPUs (nothing is sent; try a rule here before enforcing it)",
    )


def run(args: argparse.Namespace) -> int:
    code = _plan(args)
    if args.detailed_exitcode and code not in (EXIT_OK, EXIT_CHANGES_PENDING):
        return EXIT_FAILURE  # a script asked for exactly 0, 1 or 2; stderr still says which error
    return code


def _plan(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415  (heavy: httpx, NVML, SQLite)
    from hostagent.errors import ConfigError, HostagentError, SecretError, VastError  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415
    from hostagent.service.ratelimits import OperatorLedger  # noqa: PLC0415

    configure_logging(level="warning")
    candidate = None
    if args.compare is not None:
        try:  # before any read: a bad candidate costs no call to Vast
            candidate = bootstrap.config_from(args.compare)
        except ConfigError as exc:
            print(f"hostagent plan: the candidate {args.compare} is invalid:", *exc.problems, sep="\n  ",
                  file=sys.stderr)
            return EXIT_CONFIG
    try:
        config = bootstrap.config_from(args.config)
        parts = bootstrap.build(config, take_lock=False, read_only=True, with_metrics=False)
    except (ConfigError, SecretError) as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        print("hostagent plan: " + "\n  ".join(["cannot start:", *problems]), file=sys.stderr)
        return EXIT_CONFIG
    except HostagentError as exc:
        print(f"hostagent plan: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        state = None if parts.scratch_dir is not None else parts.store  # a scratch store: no agent here
        parts.market.share_rate_limits(OperatorLedger(state, _say, bootstrap.put_beside(config.agent.state_dir)))
        agent = parts.agent(read_only=True)
        now = parts.clock.now()
        try:
            plan = agent.preview(now)
            if candidate is not None:
                from hostagent.commands import plan_compare  # noqa: PLC0415

                other = agent.preview_as(candidate, now)  # the same facts: nothing is read again but the market
                return plan_compare.report(plan, other, config, candidate, machine_id=agent.machine_id, args=args)
        except (VastError, ApiDeferred, LookupError) as exc:
            print(f"hostagent plan: cannot read Vast: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        if args.json:
            print(json.dumps(plan_json(plan, config.agent.mode), indent=2))
        else:
            print(render(plan, config.agent.mode, agent.machine_id))
        return EXIT_CHANGES_PENDING if args.detailed_exitcode and plan.actions else EXIT_OK
    finally:
        parts.close()


def _say(line: str) -> None:
    print(f"hostagent plan: {line}", file=sys.stderr)


def action_line(action: Action) -> str:
    from hostagent.core.actions import shown_value  # noqa: PLC0415  (the core is imported only when planning)

    args = ", ".join(f"{k}={shown_value(k, v)}" for k, v in action.params())  # epoch seconds as dates
    return f"{action.kind.value}({args})" if args else action.kind.value


def plan_json(plan: Plan, mode: str) -> dict[str, object]:
    desired = plan.desired
    return {
        "mode": mode,
        "desired": {
            "listed": desired.listed,
            "price_usd_per_gpu_hour": desired.price_usd_per_gpu_hour,
            "min_bid_usd_per_gpu_hour": desired.min_bid_usd_per_gpu_hour,
            "end_date": desired.end_date,
            "duration_days": desired.duration_days,
            "volume_size_gb": desired.volume_size_gb,
        },
        "target_price_usd_per_gpu_hour": plan.target_price_usd_per_gpu_hour,
        "actions": [{"action": action_line(a), "why": a.reason} for a in plan.actions],
        "reasons": [{"step": r.step, "text": r.text} for r in plan.reasons],
        "warnings": list(plan.warnings),
    }


def _usd(value: float | None) -> str:
    return "none" if value is None else f"${value:g}"


def render(plan: Plan, mode: str, machine_id: int | None) -> str:
    desired = plan.desired
    lines = [f"machine {machine_id} ({mode} mode)"]
    if desired.listed:
        lines.append(
            f"desired: listed at {_usd(desired.price_usd_per_gpu_hour)}/GPU/h "
            f"(rules' target {_usd(plan.target_price_usd_per_gpu_hour)}), "
            f"min bid {_usd(desired.min_bid_usd_per_gpu_hour)}"
        )
    else:
        lines.append("desired: not listed")
    lines.append("why:")
    lines += [f"  [{r.step}] {r.text}" for r in plan.reasons]
    if plan.warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in plan.warnings]
    if plan.actions:
        verb = "would send" if mode == "observe" else "will send at the next reconcile"
        lines.append(f"changes ({verb}; nothing was sent now):")
        lines += [f"  {action_line(a)}\n      because {a.reason}" for a in plan.actions]
    else:
        lines.append("changes: none (Vast already matches)")
    return "\n".join(lines)
