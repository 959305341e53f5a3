"""The median and MAD the baselines and the tilt trend use are numpy's, bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from alerts.robust import median, median_mad

# Few distinct values make ties, signed zeros and both halves of a MAD search likely.
values = st.lists(
    st.one_of(
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, math.nan]),
        st.floats(-1e6, 1e6),
        st.integers(-3, 3).map(float),
    ),
    min_size=1,
    max_size=120,
)


def _bits(x: float) -> str:
    return "nan" if math.isnan(x) else x.hex()


@given(values)
def test_median_is_numpys(xs: list[float]) -> None:
    with np.errstate(invalid="ignore"):  # numpy's warning about inf - inf is not the point
        expected = float(np.median(np.asarray(xs)))
        got = median(xs)
    assert _bits(got) == _bits(expected)


@given(values)
def test_median_mad_is_numpys(xs: list[float]) -> None:
    arr = np.asarray(xs)
    with np.errstate(invalid="ignore"):
        med = float(np.median(arr))
        mad = float(np.median(np.abs(arr - med)))
        got = median_mad(xs)
    assert (_bits(got[0]), _bits(got[1])) == (_bits(med), _bits(mad))


def test_long_histories_of_distinct_values() -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 20, 399, 400):
        xs = rng.normal(50.0, 3.0, n).round(rng.integers(0, 4)).tolist()
        med = float(np.median(xs))
        assert median_mad(xs) == (med, float(np.median(np.abs(np.asarray(xs) - med))))
