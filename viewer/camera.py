"""The fixed snapshot camera and its projection of world points to image pixels (pure NumPy)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.types import Vec3

# Street corner at the origin, building in +x/+y: looking from (-x, -y, +z) shows both
# street facades. Height 0.6 puts the eye above the roofline of a squat block.
_VIEW_FROM = np.array([-1.0, -1.0, 0.6])


@dataclass(frozen=True, slots=True)
class Camera:
    """A perspective camera as VTK defines it; ``view_angle_deg`` is the vertical field of view."""

    position: Vec3
    focal_point: Vec3
    view_up: Vec3 = (0.0, 0.0, 1.0)
    view_angle_deg: float = 30.0

    def project(
        self, points: npt.ArrayLike, window_size: tuple[int, int]
    ) -> npt.NDArray[np.float64]:
        """Image coordinates ``(column, row)`` of world ``points``, row 0 at the top, in pixels."""
        width, height = window_size
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        eye = np.asarray(self.position)
        forward = _unit(np.asarray(self.focal_point) - eye)
        right = _unit(np.cross(forward, self.view_up))
        up = np.cross(right, forward)
        rel = pts - eye
        depth = rel @ forward
        f = 1.0 / math.tan(math.radians(self.view_angle_deg) / 2)
        ndc_x = f * (rel @ right) / depth / (width / height)
        ndc_y = f * (rel @ up) / depth
        return np.column_stack([(ndc_x + 1) / 2 * width, height - (ndc_y + 1) / 2 * height])


def camera_for(
    bounds: npt.ArrayLike,
    *,
    view_angle_deg: float = 30.0,
    aspect: float = 16 / 9,
    margin: float = 1.08,
) -> Camera:
    """The reproducible oblique street-corner view of a building within ``bounds`` (min, max),
    as close as it can be with every corner of the bounds in a ``aspect`` (width/height) image."""
    lo, hi = np.asarray(bounds, dtype=np.float64).reshape(2, 3)
    centre = (lo + hi) / 2
    back = _unit(_VIEW_FROM)  # from the focal point towards the eye
    right = _unit(np.cross(-back, (0.0, 0.0, 1.0)))
    up = np.cross(right, -back)
    corners = np.array(np.meshgrid(*zip(lo, hi, strict=True))).reshape(3, -1).T - centre
    tan_v = math.tan(math.radians(view_angle_deg) / 2)
    # A corner at offset (r, u) across the view and f towards the eye fits when the eye is at
    # least f + |u| / tan_v (vertically) and f + |r| / (tan_v * aspect) (horizontally) away.
    needed = corners @ back + np.maximum(
        np.abs(corners @ up) / tan_v, np.abs(corners @ right) / (tan_v * aspect)
    )
    distance = max(float(needed.max()) * margin, 1e-6)
    eye = centre + back * distance
    return Camera(_vec3(eye), _vec3(centre), (0.0, 0.0, 1.0), view_angle_deg)


def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return v / np.linalg.norm(v)


def _vec3(v: npt.NDArray[np.float64]) -> Vec3:
    return (float(v[0]), float(v[1]), float(v[2]))
