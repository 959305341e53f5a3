"""Features of vibration waveform blocks: peak particle velocity, RMS, dominant frequencies.

Pure and batched: one call takes many blocks of one sensor axis (a 2-D array) and runs a
single Welch estimate across all of them, which is what makes it cheap per block. Ingest
stores the results as readings of derived channels ``{sensor}/ppv_{axis}``,
``{sensor}/rms_{axis}`` and ``{sensor}/f1`` (and ``f2``, ``f3``), one per block at its ``t0``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch


def waveform_features(
    samples: np.ndarray,
    rate_hz: float,
    *,
    n_peaks: int = 3,
    nperseg: int = 256,
    min_hz: float = 0.5,
) -> dict[str, np.ndarray]:
    """Per block (row of ``samples``, velocity in mm/s): ``ppv`` (peak of |v|), ``rms``
    (after removing the block's mean), and ``f1``..``f{n_peaks}``, the frequencies of the
    strongest local maxima of the Welch PSD above ``min_hz``, strongest first (NaN when a
    block has fewer peaks).

    >>> t = np.arange(1024) / 200.0
    >>> out = waveform_features(np.sin(2 * np.pi * 12.5 * t)[None, :], 200.0)
    >>> round(float(out["ppv"][0]), 2), round(float(out["f1"][0]), 1)
    (1.0, 12.5)
    """
    blocks = np.atleast_2d(np.asarray(samples, dtype=float))
    if blocks.ndim != 2 or blocks.shape[1] < 8:
        raise ValueError(f"samples must be (n_blocks, n_samples >= 8), got {blocks.shape}")
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    centred = blocks - blocks.mean(axis=1, keepdims=True)
    out = {
        "ppv": np.abs(blocks).max(axis=1),
        "rms": np.sqrt(np.mean(centred * centred, axis=1)),
    }
    seg = min(nperseg, blocks.shape[1])
    freqs, psd = welch(blocks, fs=rate_hz, nperseg=seg, axis=1, detrend="constant")
    usable = freqs >= min_hz
    freqs, psd = freqs[usable], psd[:, usable]
    # Local maxima of each spectrum: higher than both neighbours (edges count as one-sided).
    padded = np.pad(psd, ((0, 0), (1, 1)), constant_values=-np.inf)
    is_peak = (psd > padded[:, :-2]) & (psd >= padded[:, 2:])
    strength = np.where(is_peak, psd, -np.inf)
    order = np.argsort(-strength, axis=1)[:, :n_peaks]
    ranked = np.take_along_axis(strength, order, axis=1)
    peaks = np.where(np.isfinite(ranked), freqs[order], np.nan)
    if psd.shape[1] >= 3:
        # Parabolic interpolation of the log spectrum refines a peak between bins.
        i = np.clip(order, 1, psd.shape[1] - 2)
        rows = np.arange(psd.shape[0])[:, None]
        lo, mid, hi = (np.log(psd[rows, i + k] + 1e-300) for k in (-1, 0, 1))
        denom = lo - 2 * mid + hi
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (lo - hi) / denom, 0.0)
        shift = np.where((order >= 1) & (order <= psd.shape[1] - 2), np.clip(shift, -0.5, 0.5), 0.0)
        peaks = peaks + shift * (freqs[1] - freqs[0])
    for k in range(n_peaks):
        out[f"f{k + 1}"] = peaks[:, k] if k < peaks.shape[1] else np.full(len(blocks), np.nan)
    return out
