"""Waveform features: PPV, RMS and dominant frequencies from batched Welch spectra."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.features import waveform_features

RATE_HZ = 200.0
T = np.arange(2048) / RATE_HZ


def test_a_sine_gives_its_amplitude_rms_and_frequency() -> None:
    out = waveform_features((2.0 * np.sin(2 * np.pi * 12.5 * T))[None, :], RATE_HZ)
    assert out["ppv"][0] == pytest.approx(2.0, rel=1e-3)
    assert out["rms"][0] == pytest.approx(2.0 / np.sqrt(2), rel=1e-2)
    assert out["f1"][0] == pytest.approx(12.5, abs=0.2)


def test_two_modes_come_out_strongest_first() -> None:
    v = 1.0 * np.sin(2 * np.pi * 1.85 * T) + 0.3 * np.sin(2 * np.pi * 7.3 * T)
    out = waveform_features(v[None, :], RATE_HZ, nperseg=1024)
    assert out["f1"][0] == pytest.approx(1.85, abs=0.1)
    assert out["f2"][0] == pytest.approx(7.3, abs=0.2)


def test_batched_blocks_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    blocks = np.sin(2 * np.pi * rng.uniform(2, 40, (16, 1)) * T[:1024]) + 0.05 * rng.normal(
        size=(16, 1024)
    )
    batched = waveform_features(blocks, RATE_HZ)
    for i in range(len(blocks)):
        single = waveform_features(blocks[i : i + 1], RATE_HZ)
        for name, values in batched.items():
            np.testing.assert_allclose(values[i], single[name][0], rtol=1e-9)


def test_refuses_blocks_that_are_not_blocks() -> None:
    with pytest.raises(ValueError, match="n_blocks"):
        waveform_features(np.zeros((2, 3)), RATE_HZ)
    with pytest.raises(ValueError, match="rate_hz"):
        waveform_features(np.zeros((2, 64)), 0.0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=64, max_size=300),
    st.floats(1.0, 1000.0),
)
def test_ppv_bounds_rms_for_any_block(values: list[float], rate_hz: float) -> None:
    out = waveform_features(np.array([values]), rate_hz)
    assert out["ppv"][0] + 1e-9 >= out["rms"][0] >= 0.0
    f1 = out["f1"][0]
    assert np.isnan(f1) or 0.0 <= f1 <= rate_hz / 2 + 1e-9
