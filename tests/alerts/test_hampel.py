"""The spike detector's shortcut (a lower bound on the MAD) never changes what it finds."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from alerts.generic import MAD_TO_SIGMA, HampelDetector

# Few distinct values make ties and zero MADs common; wide ones exercise the float edges.
readings = st.lists(
    st.one_of(
        st.sampled_from([19.5, 20.0, 20.0, 20.25, 21.0, 35.0]),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    ),
    max_size=120,
)
windows = st.integers(min_value=1, max_value=31)
scales = st.sampled_from([0.0, 0.01, 0.2, 1.5])


class ExactHampel(HampelDetector):
    """The same detector computing the exact MAD whenever the floor does not settle it."""

    def _within_bound(self, deviation: float, med: float) -> bool:
        return False


@given(readings, windows, st.sampled_from([1.0, 3.0, 6.0]), scales)
def test_findings_match_the_exact_mad(
    xs: list[float], window: int, n_sigmas: float, min_scale: float
) -> None:
    params = {"channel_id": "s/x", "window": window, "n_sigmas": n_sigmas, "min_scale": min_scale}
    fast, exact = HampelDetector(**params), ExactHampel(**params)
    for t, x in enumerate(xs):
        assert fast.update(float(t), x) == exact.update(float(t), x)
    assert fast.state() == exact.state()


@given(readings, windows, scales)
def test_the_bound_never_exceeds_the_limit(xs: list[float], window: int, min_scale: float) -> None:
    detector = HampelDetector(channel_id="s/x", window=window, n_sigmas=6.0, min_scale=min_scale)
    for t, x in enumerate(xs):
        detector.update(float(t), x)
        ordered = detector._sorted
        if len(ordered) == window:
            n = window
            med = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
            for probe in (*ordered, x):
                deviation = abs(probe - med)
                if detector._within_bound(deviation, med):
                    assert deviation <= detector._limit(med)


def test_the_shortcut_settles_ordinary_noise() -> None:
    """On noise well inside the limit the exact MAD is not needed (the point of the bound)."""
    detector = HampelDetector(channel_id="s/x", window=30, n_sigmas=6.0)
    xs = [20.0 + (k * 0.137) % 0.5 for k in range(60)]
    for t, x in enumerate(xs):
        detector.update(float(t), x)
    ordered = detector._sorted
    med = 0.5 * (ordered[14] + ordered[15])
    assert detector._within_bound(abs(xs[-1] - med), med)


def test_a_spike_one_float_past_the_limit_is_found() -> None:
    """Half the window at -1, half at +1: every deviation is the MAD, so the bound is as tight
    as it gets and the limit must be honoured to the last float."""
    limit = 6.0 * max(MAD_TO_SIGMA * 1.0, 0.0)  # the median is 0, the MAD 1
    for spike, found in ((limit, False), (math.nextafter(limit, math.inf), True)):
        detector = HampelDetector(channel_id="s/x", window=30, n_sigmas=6.0)
        for t in range(30):
            detector.update(float(t), 1.0 if t % 2 else -1.0)
        assert detector.update(30.0, spike) is None
        assert (detector.update(31.0, -1.0) is not None) is found
