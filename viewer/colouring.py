"""Spread sensor values over mesh vertices with precomputed sparse inverse-distance weights."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

FloatArray = npt.NDArray[np.floating]

# A vertex closer than this to a sensor takes that sensor's value: the weight 1/d**p
# must stay finite, and at 1 µm every other sensor's share is below float32 resolution.
_MIN_DISTANCE_M = 1e-6


class FieldInterpolator:
    """Inverse-distance weights of the ``k`` nearest sensors within ``radius_m`` of each vertex.

    A vertex at a sensor takes its value exactly; beyond ``radius_m`` of every sensor with
    data it gets NaN (no data), never an invented value.

    Built once per (mesh, sensor layout); each :meth:`field` call is then one sparse mat-vec
    (two when the set of sensors with data changed). Weights are float32, like VTK scalars.
    """

    def __init__(
        self,
        vertices: npt.ArrayLike,
        sensor_positions: npt.ArrayLike,
        *,
        k: int = 4,
        radius_m: float = 12.0,
        power: float = 2.0,
    ) -> None:
        self.k = k
        self.radius_m = radius_m
        self.power = power
        verts = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
        sensors = np.asarray(sensor_positions, dtype=np.float64).reshape(-1, 3)
        if k < 1 or radius_m <= 0:
            raise ValueError("k must be >= 1 and radius_m > 0")
        self.weights = _idw_matrix(verts, sensors, min(k, len(sensors)), radius_m, power)
        # Cache of 1 / (weight of sensors with data) per vertex, keyed by the data mask:
        # the mask rarely changes between frames, so most frames need only one mat-vec.
        self._mask: npt.NDArray[np.bool_] | None = None
        self._inv_weight: npt.NDArray[np.float32] | None = None

    @property
    def n_vertices(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_sensors(self) -> int:
        return int(self.weights.shape[1])

    def field(self, values: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Per-vertex field of ``values`` (one per sensor, NaN = no data); NaN where none near."""
        out = np.empty(self.n_vertices, dtype=np.float32)
        self.field_into(values, out)
        return out

    def field_into(self, values: npt.ArrayLike, out: npt.NDArray[np.floating]) -> None:
        """Write the field of ``values`` into ``out`` (length n_vertices), e.g. a VTK array."""
        vals = np.asarray(values, dtype=np.float32)
        if vals.shape != (self.n_sensors,):
            raise ValueError(f"expected {self.n_sensors} sensor values, got shape {vals.shape}")
        present = ~np.isnan(vals)
        inv_weight = self._inverse_weight(present)
        weighted = self.weights @ np.where(present, vals, np.float32(0))
        np.multiply(weighted, inv_weight, out=out)

    def _inverse_weight(self, present: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        if (
            self._mask is None
            or self._inv_weight is None
            or not np.array_equal(present, self._mask)
        ):
            weight_sum = self.weights @ present.astype(np.float32)
            with np.errstate(divide="ignore"):
                inv = np.float32(1) / weight_sum
            inv[weight_sum <= 0] = np.nan  # no sensor with data in reach: no value, not zero
            self._mask, self._inv_weight = present.copy(), inv
        return self._inv_weight


def _idw_matrix(
    verts: FloatArray, sensors: FloatArray, k: int, radius_m: float, power: float
) -> csr_matrix:
    n, m = len(verts), len(sensors)
    if k == 0 or n == 0:
        return csr_matrix((n, m), dtype=np.float32)
    dist, idx = cKDTree(sensors).query(verts, k=k, distance_upper_bound=radius_m, workers=-1)
    dist, idx = dist.reshape(n, k), idx.reshape(n, k)
    found = np.isfinite(dist)  # cKDTree marks "none within radius" as inf, index m
    # Modified Shepard weights ((R - d) / (R d))**p: like 1/d**p up close, but falling to
    # zero at the radius, so the field fades out there instead of jumping.
    d = np.minimum(np.maximum(dist, _MIN_DISTANCE_M), radius_m)
    w = np.where(found, ((radius_m - d) / (radius_m * d)) ** power, 0.0)
    found &= w > 0
    # Normalise per row so float32 holds the weights (1/d**p spans 24 decades).
    row_sum = w.sum(axis=1, keepdims=True)
    np.divide(w, row_sum, out=w, where=row_sum > 0)
    counts = found.sum(axis=1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    index_dtype = np.int32 if indptr[-1] < 2**31 else np.int64
    matrix = csr_matrix(
        (w[found].astype(np.float32), idx[found].astype(index_dtype), indptr.astype(index_dtype)),
        shape=(n, m),
    )
    matrix.sort_indices()
    return matrix
