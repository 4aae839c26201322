"""Peer statistics for market-relative pricing: which offers count, one price per machine, outliers, percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from hostagent.core.model import MAX_SANE_PRICE_USD_PER_GPU_HOUR, MachineState, MarketSample, Offer


def possible_price(usd_per_gpu_hour: float) -> bool:
    """A price a real peer could ask: finite, above zero, below the sane ceiling.

    NaN compares false with everything, so it must be refused here, before any sort or percentile
    (one NaN or two opposite huge values once turned the whole percentile into NaN).
    """
    return math.isfinite(usd_per_gpu_hour) and 0.0 < usd_per_gpu_hour < MAX_SANE_PRICE_USD_PER_GPU_HOUR


def impossible_offers(offers: Iterable[Offer]) -> int:
    """How many offers carry a price no peer could ask (dropped by `lowest_price_per_machine`)."""
    return sum(1 for offer in offers if not possible_price(offer.price_usd_per_gpu_hour))


@dataclass(frozen=True, slots=True)
class Peers:
    """The per-machine prices that survived selection, and how many were dropped as outliers."""

    prices: tuple[float, ...]  # sorted ascending
    outliers_dropped: int


def own_offer(offer: Offer, own_machine_id: int | None, own_host_id: int | None) -> bool:
    """This machine's offer, or one of the owner's other machines (same `host_id`): never a peer.

    Counting the owner's siblings as peers makes a fleet of identical machines undercut itself every cycle.
    """
    if own_machine_id is not None and offer.machine_id == own_machine_id:
        return True
    return own_host_id is not None and offer.host_id == own_host_id


def same_kind(offer: Offer, gpu_name: str, num_gpus: int) -> bool:
    return offer.gpu_name == gpu_name and offer.num_gpus == num_gpus


def lowest_price_per_machine(
    offers: Iterable[Offer], gpu_name: str, num_gpus: int, own_machine_id: int | None, verified_only: bool,
    *, own_host_id: int | None = None,
) -> list[float]:
    """Peers are offers for the same GPU model and count; a machine with several offers counts once, at its lowest.

    One price per machine keeps a host that splits its machine into many offers from outvoting the rest.
    An offer with an impossible price is skipped, not the whole sample: the other peers still count.
    The price is the GPU price per GPU (`dph_base`), not what a renter pays with storage and fees (`dph_total`).
    """
    best: dict[int, float] = {}
    for offer in offers:
        if not same_kind(offer, gpu_name, num_gpus) or own_offer(offer, own_machine_id, own_host_id):
            continue
        if verified_only and not offer.verified:
            continue
        price = offer.price_usd_per_gpu_hour
        if not possible_price(price):
            continue
        if offer.machine_id not in best or price < best[offer.machine_id]:
            best[offer.machine_id] = price
    return sorted(best.values())


def peer_notes(sample: MarketSample, machine: MachineState) -> str:
    """What the market reason says about the offers it compared: the owner's own left out, any priced from the total.

    Empty when there is nothing to say, else `, note, note` (no semicolon: the journal splits reasons on it).
    An unknown owner (no `own_host_id`) is said too: the owner's other machines may count as peers then.
    """
    kind = [o for o in sample.offers if same_kind(o, machine.gpu_name, machine.num_gpus)]
    host = sample.own_host_id
    notes = []
    siblings = {o.machine_id for o in kind if o.machine_id != machine.id and host is not None and o.host_id == host}
    if siblings:
        notes.append(f"{len(siblings)} other machines of this owner (host {host}) are not peers")
    elif host is None:
        notes.append("owner's host id unknown: only this machine is left out")
    totals = sum(1 for o in kind if o.priced_from_total and not own_offer(o, machine.id, host))
    if totals:
        notes.append(f"{totals} offers without dph_base priced from dph_total (GPU + storage + fees)")
    return "".join(f", {note}" for note in notes)


def percentile(sorted_values: list[float] | tuple[float, ...], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default): rank = pct/100 * (n - 1).

    Raises ValueError on an empty sequence.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    pct = min(max(pct, 0.0), 100.0)
    rank = pct / 100.0 * (len(sorted_values) - 1)
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def drop_outliers(sorted_values: list[float], k: float) -> Peers:
    """Keep prices inside [q1 - k*iqr, q3 + k*iqr] (Tukey's fences); fewer than 4 values are kept as they are."""
    if len(sorted_values) < 4 or k <= 0:
        return Peers(tuple(sorted_values), 0)
    q1 = percentile(sorted_values, 25.0)
    q3 = percentile(sorted_values, 75.0)
    spread = q3 - q1
    low, high = q1 - k * spread, q3 + k * spread
    kept = tuple(v for v in sorted_values if low <= v <= high)
    return Peers(kept, len(sorted_values) - len(kept))
