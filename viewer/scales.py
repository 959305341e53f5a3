"""Fixed colour scales per metric, so a colour means the same value in every frame."""

from __future__ import annotations

from dataclasses import dataclass

# Mesh regions with no sensor data nearby: a mid grey that none of the colour maps below contain.
NO_DATA_RGB = (0.5, 0.5, 0.5)
# Markers of sensors without a value: darker, so they stay visible on no-data regions.
MARKER_NO_DATA_RGB = (0.25, 0.25, 0.25)
# The highlighted sensor's ring: pure magenta stands out against every scale here.
HIGHLIGHT_RGB = (1.0, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class ColourScale:
    """A metric's fixed value range and matplotlib colour map name."""

    metric: str
    label: str
    unit: str
    vmin: float
    vmax: float
    cmap: str

    def __post_init__(self) -> None:
        if not self.vmin < self.vmax:
            raise ValueError(
                f"scale {self.metric}: vmin {self.vmin} must be below vmax {self.vmax}"
            )

    @property
    def title(self) -> str:
        """Scalar bar title, e.g. ``Temperature [°C]``."""
        return f"{self.label} [{self.unit}]"


def _scales(*scales: ColourScale) -> dict[str, ColourScale]:
    return {s.metric: s for s in scales}


SCALES: dict[str, ColourScale] = _scales(
    ColourScale("t", "Temperature", "°C", 0.0, 40.0, "coolwarm"),
    ColourScale("rh", "Relative humidity", "%RH", 20.0, 100.0, "YlGnBu"),
    ColourScale("laeq", "Noise LAeq", "dB(A)", 40.0, 90.0, "plasma"),
    ColourScale("lmax", "Noise Lmax", "dB(A)", 40.0, 100.0, "plasma"),
    ColourScale("ppv", "Peak particle velocity", "mm/s", 0.0, 10.0, "YlOrRd"),
    ColourScale("f1", "Dominant frequency", "Hz", 0.0, 10.0, "viridis"),
    # Tilt is signed around zero, so a diverging map centred on white.
    ColourScale("x", "Tilt x", "mrad", -3.0, 3.0, "RdBu_r"),
    ColourScale("y", "Tilt y", "mrad", -3.0, 3.0, "RdBu_r"),
)


def scale_for(metric: str) -> ColourScale:
    """The fixed colour scale of ``metric``; KeyError names the known metrics."""
    try:
        return SCALES[metric]
    except KeyError:
        raise KeyError(f"no colour scale for metric {metric!r}; known: {sorted(SCALES)}") from None
