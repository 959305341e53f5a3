import dataclasses

import matplotlib
import numpy as np
import pytest

from viewer.scales import NO_DATA_RGB, SCALES, ColourScale, scale_for

EXPECTED = {
    "t": ("°C", 0, 40),
    "rh": ("%RH", 20, 100),
    "laeq": ("dB(A)", 40, 90),
    "lmax": ("dB(A)", 40, 100),
    "ppv": ("mm/s", 0, 10),
    "f1": ("Hz", 0, 10),
    "x": ("mrad", -3, 3),
    "y": ("mrad", -3, 3),
}


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_each_metric_has_its_fixed_range_and_unit(metric: str) -> None:
    scale = scale_for(metric)
    assert (scale.metric, scale.unit, scale.vmin, scale.vmax) == (metric, *EXPECTED[metric])
    assert scale.unit in scale.title and scale.label in scale.title
    assert scale.cmap in matplotlib.colormaps


def test_no_more_scales_than_expected() -> None:
    assert set(SCALES) == set(EXPECTED)


def test_temperature_uses_coolwarm() -> None:
    assert scale_for("t").cmap == "coolwarm"


@pytest.mark.parametrize("metric", ["x", "y"])
def test_tilt_scale_diverges_around_zero(metric: str) -> None:
    scale = scale_for(metric)
    assert scale.vmin == -scale.vmax
    cmap = matplotlib.colormaps[scale.cmap]
    low, mid, high = (np.array(cmap(f)[:3]) for f in (0.0, 0.5, 1.0))
    assert mid.min() > 0.9  # near white at zero tilt
    assert low[2] > low[0] and high[0] > high[2]  # blue one way, red the other


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_no_data_grey_is_not_on_any_scale(metric: str) -> None:
    colours = matplotlib.colormaps[scale_for(metric).cmap](np.linspace(0, 1, 256))[:, :3]
    assert np.abs(colours - NO_DATA_RGB).max(axis=1).min() > 0.1


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"known:.*'laeq'"):
        scale_for("co2")


def test_scale_is_frozen_and_validated() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        scale_for("t").vmax = 50  # type: ignore[misc]
    with pytest.raises(ValueError, match="below"):
        ColourScale("q", "Q", "u", 1.0, 1.0, "viridis")
