"""Structure-aware detectors see through temperature, which fools a naive threshold."""

from __future__ import annotations

import numpy as np

from alerts.structural import FrequencyShiftDetector, TiltTrendDetector

DAY = 86_400.0
T0 = 1_780_000_000.0


def warm_spell(days: float, start_day: float, rise_c: float) -> tuple[np.ndarray, np.ndarray]:
    """Ten-minute structure temperatures: a daily swing, then a spell ``rise_c`` warmer."""
    ts = T0 + np.arange(0, days * DAY, 600.0)
    daily = 5.0 * np.sin(2 * np.pi * (ts - T0) / DAY)
    spell = rise_c * np.clip((ts - T0 - start_day * DAY) / (0.5 * DAY), 0, 1)
    return ts, 16.0 + daily + spell + np.random.default_rng(2).normal(0, 0.2, ts.size)


def natural_frequency(temp: np.ndarray, ts: np.ndarray, loss_from: float | None) -> np.ndarray:
    f = 1.85 * (1 - 0.0015 * (temp - 16)) + np.random.default_rng(3).normal(0, 0.004, ts.size)
    if loss_from is not None:
        f = f * np.where(ts >= T0 + loss_from * DAY, np.sqrt(0.92), 1.0)  # 8% stiffness lost
    return f


def test_a_heat_wave_is_not_stiffness_loss_but_real_loss_is_found() -> None:
    ts, temp = warm_spell(5, 2.5, 15.0)
    healthy = natural_frequency(temp, ts, None)
    # A naive rule, "2% below the nominal 1.85 Hz", calls the heat wave damage.
    assert np.any(healthy[ts > T0 + 3 * DAY] < 1.85 * 0.98)
    detector = FrequencyShiftDetector(channel_id="v/f1", temperature_channel="v/t")
    assert detector.scan(ts, healthy, {"v/t": (ts, temp)}) == []
    damaged = natural_frequency(temp, ts, loss_from=3.0)
    found = FrequencyShiftDetector(channel_id="v/f1", temperature_channel="v/t").scan(
        ts, damaged, {"v/t": (ts, temp)}
    )
    assert found and min(f.time for f in found) >= T0 + 3 * DAY
    assert "stiffness" in found[0].message and "Hz" in found[0].message


def test_thermal_breathing_is_no_trend_but_settlement_is_forecast() -> None:
    ts, temp = warm_spell(5, 2.5, 8.0)
    noise = np.random.default_rng(4).normal(0, 0.01, ts.size)
    breathing = 0.4 + 0.03 * (temp - 16) + noise
    detector = TiltTrendDetector(channel_id="t/x", temperature_channel="t/t", limit_mrad=3.0)
    assert detector.scan(ts, breathing, {"t/t": (ts, temp)}) == []
    settling = breathing + 0.5 * np.clip(ts - T0 - 3 * DAY, 0, None) / DAY
    found = TiltTrendDetector(channel_id="t/x", temperature_channel="t/t", limit_mrad=3.0).scan(
        ts, settling, {"t/t": (ts, temp)}
    )
    assert found and min(f.time for f in found) >= T0 + 3 * DAY
    last = found[-1]
    assert 0.35 < last.value < 0.65  # mrad/day, temperature removed
    assert "reaches the 3.0 mrad limit in" in last.message


def test_theil_sen_matches_scipy() -> None:
    from scipy.stats import theilslopes

    from alerts.structural import theil_sen

    rng = np.random.default_rng(9)
    for n in (12, 60, 96):
        x = np.sort(rng.uniform(-1, 0, n))
        y = 0.3 * x + rng.standard_t(3, n) * 0.05  # heavy tails: where Theil-Sen earns its keep
        expected = theilslopes(y, x, alpha=0.99)
        np.testing.assert_allclose(
            theil_sen(x, y),
            (expected.slope, expected.intercept, expected.low_slope, expected.high_slope),
        )
