import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse

from viewer.colouring import FieldInterpolator

SENSORS = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 6.0, 0.0]])


def grid(step: float = 0.5, size: float = 30.0) -> np.ndarray:
    axis = np.arange(-size / 2, size / 2 + step / 2, step)
    xx, yy = np.meshgrid(axis, axis)
    return np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])


def test_matrix_is_sparse_vertices_by_sensors_with_at_most_k_per_row() -> None:
    verts = grid()
    interp = FieldInterpolator(verts, SENSORS, k=2, radius_m=12.0)
    assert sparse.issparse(interp.weights) and interp.weights.format == "csr"
    assert interp.weights.shape == (len(verts), len(SENSORS))
    assert np.diff(interp.weights.indptr).max() == 2
    row_sums = np.asarray(interp.weights.sum(axis=1)).ravel()
    reached = row_sums > 0
    np.testing.assert_allclose(row_sums[reached], 1.0, rtol=1e-5)


def test_field_is_exact_at_sensor_locations() -> None:
    verts = np.vstack([SENSORS, grid()])
    values = np.array([3.0, 17.5, -2.25])
    field = FieldInterpolator(verts, SENSORS).field(values)
    np.testing.assert_array_equal(field[:3], values.astype(np.float32))


def test_field_is_inverse_distance_weighted_mean() -> None:
    midpoint = np.array([[2.0, 0.0, 0.0]])  # 2 m from sensors 0 and 1, 6.3 m from sensor 2
    field = FieldInterpolator(midpoint, SENSORS, k=2).field([10.0, 20.0, 99.0])
    assert field[0] == pytest.approx(15.0, rel=1e-6)  # sensor 2 is not among the k=2 nearest
    near0 = np.array([[1.0, 0.0, 0.0]])
    value = FieldInterpolator(near0, SENSORS[:2]).field([10.0, 20.0])[0]
    w0, w1 = ((12 - 1) / (12 * 1)) ** 2, ((12 - 3) / (12 * 3)) ** 2  # modified Shepard
    assert value == pytest.approx((10 * w0 + 20 * w1) / (w0 + w1), rel=1e-6)


def test_missing_sensor_is_left_out_and_weights_renormalised() -> None:
    verts = grid()
    values = np.array([10.0, np.nan, 30.0])
    field = FieldInterpolator(verts, SENSORS).field(values)
    without = FieldInterpolator(verts, SENSORS[[0, 2]]).field(values[[0, 2]])
    np.testing.assert_allclose(field, without, rtol=1e-5, equal_nan=True)
    at_missing = np.flatnonzero(np.all(verts == SENSORS[1], axis=1))[0]
    assert 10.0 <= field[at_missing] <= 30.0  # a mean of its present neighbours, not 0 or NaN


def test_constant_values_give_a_constant_field_where_reached() -> None:
    field = FieldInterpolator(grid(), SENSORS).field([7.0, 7.0, 7.0])
    reached = ~np.isnan(field)
    assert reached.sum() > 100
    np.testing.assert_allclose(field[reached], 7.0, rtol=1e-6)


def test_nan_beyond_radius_and_where_only_missing_sensors_reach() -> None:
    verts = np.array([[20.0, 20.0, 0.0], [0.0, 11.0, 0.0], [0.0, 0.5, 0.0]])
    interp = FieldInterpolator(verts, SENSORS, radius_m=12.0)
    field = interp.field([5.0, 5.0, np.nan])
    assert np.isnan(field[0])  # 20+ m from every sensor
    assert field[1] == pytest.approx(5.0)  # 11 m from sensor 0: still reached
    assert np.isnan(interp.field([np.nan, np.nan, np.nan])).all()
    only_third = interp.field([np.nan, np.nan, 1.0])
    assert np.isnan(only_third[0]) and only_third[1] == pytest.approx(1.0)


def test_changing_mask_between_calls_recomputes_the_weights() -> None:
    verts = grid()
    interp = FieldInterpolator(verts, SENSORS)
    cases = [[1.0, 2.0, 3.0], [1.0, np.nan, 3.0], [np.nan, 2.0, 3.0], [4.0, 5.0, 6.0]]
    for values in cases:
        np.testing.assert_allclose(
            interp.field(values), FieldInterpolator(verts, SENSORS).field(values), equal_nan=True
        )


def test_field_into_writes_in_place() -> None:
    verts = grid()
    interp = FieldInterpolator(verts, SENSORS)
    out = np.full(len(verts), -1.0, dtype=np.float32)
    interp.field_into([1.0, 2.0, 3.0], out)
    np.testing.assert_array_equal(out, interp.field([1.0, 2.0, 3.0]))


def test_wrong_number_of_values_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 3 sensor values"):
        FieldInterpolator(grid(), SENSORS).field([1.0, 2.0])


def test_no_sensors_means_no_data_everywhere() -> None:
    field = FieldInterpolator(grid(), np.empty((0, 3))).field(np.empty(0))
    assert np.isnan(field).all()


def test_importing_colouring_and_snapshot_loads_no_vtk() -> None:
    code = (
        "import sys, viewer.colouring, viewer.scales, viewer.camera, viewer.snapshot;"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('vtk', 'vtkmodules', 'pyvista')];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
