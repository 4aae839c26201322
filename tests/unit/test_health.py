"""Health gating: each check, the relist cool-down, temperature hysteresis, and "unknown" is not "bad"."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core_values import NOW, ago, gpu, machine, snapshot

from hostagent.config.model import HealthConfig
from hostagent.core.health import HealthVerdict, assess
from hostagent.core.model import GpuHealth, History, HostSnapshot, XidEvent

CFG = HealthConfig(max_temperature_c=85, temperature_hysteresis_c=5, hot_for_s=300, min_free_disk_gb=50,
                   stale_after_s=180, relist_cooldown_s=900)
FRESH = History(last_telemetry_at=NOW)


def verdict(snap: HostSnapshot, history: History = FRESH, cfg: HealthConfig = CFG) -> HealthVerdict:
    return assess(snap, machine(), cfg, NOW, history)


def failing(v: HealthVerdict) -> set[str]:
    return {r.step for r in v.reasons}


def eight(**changes_for_gpu_3: object) -> HostSnapshot:
    return snapshot(*(gpu(i, **changes_for_gpu_3) if i == 3 else gpu(i) for i in range(8)))


def test_a_healthy_host_passes_every_check_and_may_be_listed_at_once() -> None:
    v = verdict(snapshot(), History())
    assert v.ok
    assert v.may_list
    assert v.reasons == ()
    assert v.healthy_since == NOW


def test_a_lost_gpu_fails() -> None:
    assert failing(verdict(eight(health=GpuHealth.LOST))) == {"health.gpu_lost", "health.gpu_count"}


def test_fewer_gpus_than_expected_fails() -> None:
    assert failing(verdict(snapshot(count=7))) == {"health.gpu_count"}
    assert assess(snapshot(count=7), machine(num_gpus=7), HealthConfig(expected_gpu_count=7), NOW, FRESH).ok


def test_vasts_gpu_count_differing_from_the_installed_gpus_fails_when_a_count_is_expected() -> None:
    """Renters would be sold GPUs that are not there, or the wrong count: not listed while the counts differ."""
    cfg = replace(CFG, expected_gpu_count=8)
    fewer_on_vast = assess(snapshot(), machine(num_gpus=4), cfg, NOW, FRESH)
    assert failing(fewer_on_vast) == {"health.vast_gpu_count"}
    assert "Vast lists 4 GPUs, 8 installed here" in fewer_on_vast.reasons[0].text
    more_on_vast = assess(snapshot(count=7), machine(num_gpus=8), replace(cfg, expected_gpu_count=7), NOW, FRESH)
    assert failing(more_on_vast) == {"health.vast_gpu_count"}
    assert assess(snapshot(), machine(num_gpus=8), cfg, NOW, FRESH).ok


def test_an_uncorrectable_ecc_error_fails() -> None:
    assert failing(verdict(eight(ecc_uncorrected_volatile=1))) == {"health.ecc"}


def test_a_row_remap_failure_fails() -> None:
    assert failing(verdict(eight(remapped_rows_failure=True))) == {"health.row_remap"}


def test_a_critical_xid_fails_and_a_harmless_one_does_not() -> None:
    critical = eight(xid_events=(XidEvent(3, 79, "xid"),))
    assert failing(verdict(critical)) == {"health.xid"}
    assert "XID 79 on GPU 3" in verdict(critical).reasons[0].text
    assert verdict(eight(xid_events=(XidEvent(3, 13, "xid"),))).ok


def test_low_free_space_on_the_docker_disk_fails() -> None:
    assert failing(verdict(snapshot(free_gb=49.9))) == {"health.disk"}


def test_telemetry_older_than_stale_after_fails() -> None:
    old = snapshot(at=NOW - timedelta(seconds=181))
    assert failing(verdict(old, History(last_telemetry_at=old.taken_at))) == {"health.stale"}


def test_stale_gpu_readings_fail_once_the_last_fresh_telemetry_is_too_old() -> None:
    stale = eight(stale=True)
    assert verdict(stale, History(last_telemetry_at=ago(seconds=60))).ok
    assert failing(verdict(stale, History(last_telemetry_at=ago(seconds=200)))) == {"health.stale"}


def test_a_gpu_must_stay_hot_for_hot_for_s_before_it_fails() -> None:
    hot = eight(temperature_c=90)
    first = verdict(hot)
    assert first.ok
    assert first.hot_since == ((3, NOW),)
    later = verdict(hot, History(last_telemetry_at=NOW, hot_since=((3, ago(seconds=300)),)))
    assert failing(later) == {"health.temperature"}


def test_a_hot_gpu_counts_as_cool_again_only_below_the_limit_minus_hysteresis() -> None:
    memory = History(last_telemetry_at=NOW, hot_since=((3, ago(seconds=600)),))
    assert failing(verdict(eight(temperature_c=81), memory)) == {"health.temperature"}  # in the band
    cooled = verdict(eight(temperature_c=79), memory)
    assert cooled.ok
    assert cooled.hot_since == ()


def test_unknown_telemetry_is_not_bad_unless_configured() -> None:
    blind = snapshot(backend_ok=False)
    v = verdict(blind, History())
    assert v.ok
    assert any(n.step == "health.unknown" for n in v.notes)
    strict = verdict(blind, History(), HealthConfig(unlist_on_unknown=True))
    assert failing(strict) == {"health.unknown"}


def test_a_gpu_with_unknown_health_still_counts_as_present() -> None:
    assert verdict(eight(health=GpuHealth.UNKNOWN, temperature_c=None)).ok


def test_failing_starts_an_unhealthy_streak_and_ends_the_healthy_one() -> None:
    v = verdict(eight(ecc_uncorrected_volatile=2), History(last_telemetry_at=NOW, healthy_since=ago(hours=3)))
    assert v.unhealthy_since == NOW
    assert v.healthy_since is None
    assert not v.may_list


def test_relisting_waits_for_the_cooldown_after_a_failure() -> None:
    after_failure = History(last_telemetry_at=NOW, unhealthy_since=ago(hours=1), healthy_since=ago(seconds=899))
    waiting = verdict(snapshot(), after_failure)
    assert waiting.ok
    assert not waiting.may_list
    assert waiting.relist_at == NOW + timedelta(seconds=1)
    assert any(n.step == "health.cooldown" for n in waiting.notes)
    done = verdict(snapshot(), replace(after_failure, healthy_since=ago(seconds=900)))
    assert done.may_list
    assert done.unhealthy_since is None


def test_the_cooldown_also_applies_when_the_agent_unlisted_the_machine() -> None:
    just_healthy = History(last_telemetry_at=NOW, unlisted_by_agent=True)
    assert not verdict(snapshot(), just_healthy).may_list
