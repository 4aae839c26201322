"""Peer prices as Vast quotes them: the GPU price (dph_base) per GPU, and the owner's other machines are no peers."""

from __future__ import annotations

from dataclasses import replace

from core_values import GPU_NAME, NOW, machine

from hostagent.config.model import GuardConfig, MarketConfig, PricingConfig
from hostagent.core.market import lowest_price_per_machine
from hostagent.core.model import History, MarketSample, Offer
from hostagent.core.pricing import price

OWNER = 424242
CFG = PricingConfig(
    models=((GPU_NAME, 2.00),),
    market=MarketConfig(enabled=True, min_peers=3, percentile=50.0),
    guard=GuardConfig(floor_usd_per_gpu_hour=0.01, ceiling_usd_per_gpu_hour=100.0, max_change_pct=1000.0),
)


def peer(machine_id: int, gpu_price: float, *, host_id: int = 1, fees_per_gpu: float = 0.15,
         with_base: bool = True) -> Offer:
    """An 8-GPU offer whose renter pays the GPU price plus storage and SLA fees."""
    return Offer(machine_id * 10, machine_id, GPU_NAME, 8, (gpu_price + fees_per_gpu) * 8, True,
                 dph_base=gpu_price * 8 if with_base else None, host_id=host_id)


def market_reason(decision: object) -> str:
    return next(r.text for r in decision.reasons if r.step == "market")  # type: ignore[attr-defined]


def test_the_market_price_is_computed_from_dph_base_per_gpu_not_dph_total() -> None:
    """Peers at GPU prices $1.90/2.00/2.10 (renters pay $0.15 more): the p50 is $2.00, not $2.15."""
    sample = MarketSample((peer(1, 1.90), peer(2, 2.00), peer(3, 2.10)), NOW, own_host_id=OWNER)
    decision = price(CFG, machine(), sample, NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.00
    assert "p50 $2.00" in market_reason(decision)
    assert "dph_total" not in market_reason(decision)


def test_an_offer_without_dph_base_falls_back_to_dph_total_and_the_reason_says_so() -> None:
    sample = MarketSample((peer(1, 1.90), peer(2, 2.00, with_base=False), peer(3, 2.10)), NOW, own_host_id=OWNER)
    decision = price(CFG, machine(), sample, NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.10  # the p50 of 1.90, 2.10 and 2.15 (GPU $2.00 + fees $0.15)
    assert "1 offers without dph_base priced from dph_total (GPU + storage + fees)" in market_reason(decision)


def test_the_owners_other_machines_are_not_peers_and_the_reason_counts_them() -> None:
    """Two cheap siblings of the same owner would drag the median down; they are left out."""
    siblings = (peer(7, 1.50, host_id=OWNER), peer(8, 1.50, host_id=OWNER))
    sample = MarketSample((peer(1, 1.90), peer(2, 2.00), peer(3, 2.10), *siblings), NOW, own_host_id=OWNER)
    decision = price(CFG, machine(), sample, NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.00
    assert "2 other machines of this owner (host 424242) are not peers" in market_reason(decision)
    unknown = price(CFG, machine(), replace(sample, own_host_id=None), NOW, History())
    assert unknown.price_usd_per_gpu_hour == 1.90  # siblings count while the owner is unknown, and it says so
    assert "owner's host id unknown" in market_reason(unknown)


def test_lowest_price_per_machine_leaves_out_this_machine_and_the_owners_others() -> None:
    offers = [peer(1, 1.90), peer(4242, 1.00, host_id=OWNER), peer(9, 1.20, host_id=OWNER)]
    assert lowest_price_per_machine(offers, GPU_NAME, 8, 4242, True, own_host_id=OWNER) == [1.90]
    assert lowest_price_per_machine(offers, GPU_NAME, 8, 4242, True) == [1.20, 1.90]
