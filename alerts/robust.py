"""Median and median absolute deviation of short series, equal to what ``np.median`` gives.

Detectors take these once an hour (a time-of-day baseline entering an hour) or once per
trend evaluation, over tens to a few hundred values. There numpy's per-call overhead costs
more than the work, so these sort in Python and select; values that plain sorting orders
differently from numpy (NaN, infinities, a median of signed zeros) go to numpy, so the
results are the same bits either way.

>>> median([3.0, 1.0, 2.0, 10.0])
2.5
>>> median_mad([1.0, 2.0, 3.0, 4.0, 100.0])
(3.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def _middle(ordered: list[float]) -> float:
    n = len(ordered)
    h = n // 2
    # numpy averages the two middle values as (a + b) / 2; times 0.5 is the same float.
    return ordered[h] if n % 2 else 0.5 * (ordered[h - 1] + ordered[h])


def _numpy_safe(ordered: list[float]) -> bool:
    """Whether sorting in Python puts the same values in the middle as numpy's partition."""
    return bool(ordered) and math.isfinite(sum(ordered)) and _middle(ordered) != 0.0


def median(values: Iterable[float]) -> float:
    """The median of ``values``, as ``float(np.median(values))``."""
    ordered = sorted(values)
    if not _numpy_safe(ordered):
        return float(np.median(np.asarray(ordered, dtype=float)))
    return _middle(ordered)


def median_mad(values: Iterable[float]) -> tuple[float, float]:
    """The median and the median of absolute deviations from it, as ``np.median`` gives them."""
    ordered = sorted(values)
    if not _numpy_safe(ordered):
        arr = np.asarray(ordered, dtype=float)
        med = float(np.median(arr))
        return med, float(np.median(np.abs(arr - med)))
    med = _middle(ordered)
    return med, _middle_deviation(ordered, med)


def _middle_deviation(ordered: list[float], med: float) -> float:
    """The median of ``abs(v - med)`` over sorted values whose median is ``med``.

    The deviations of the lower half grow leftwards and those of the upper half rightwards:
    two sorted runs, so their middle element is a binary search over how many of the
    smallest deviations come from the lower half, not a pass over every value.
    """
    n = len(ordered)
    h = n // 2
    # lower(i) = abs(ordered[h - 1 - i] - med) for i < h; upper(j) = abs(ordered[h + j] - med)
    # for j < n - h; both rise with their index (rounding is monotonic).
    m, size = h, n - h
    take = h + 1 if n % 2 else h  # how many smallest deviations end at the (first) middle one
    lo, hi = max(0, take - size), min(take, m)
    while True:
        i = (lo + hi) // 2  # taken from the lower half; the rest from the upper
        j = take - i
        if i < m and j > 0 and abs(ordered[h + j - 1] - med) > abs(ordered[h - 1 - i] - med):
            lo = i + 1  # the upper half gave a deviation larger than one left below
        elif i > 0 and j < size and abs(ordered[h - i] - med) > abs(ordered[h + j] - med):
            hi = i - 1  # the lower half gave a deviation larger than one left above
        else:
            break
    last = max(
        abs(ordered[h - i] - med) if i > 0 else -math.inf,
        abs(ordered[h + j - 1] - med) if j > 0 else -math.inf,
    )
    if n % 2:
        return last
    following = min(
        abs(ordered[h - 1 - i] - med) if i < m else math.inf,
        abs(ordered[h + j] - med) if j < size else math.inf,
    )
    return 0.5 * (last + following)
