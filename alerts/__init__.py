"""Hazard detection and the alert workflow: detectors, rules with their standards, the manager.

Modules:

- ``detectors``: the ``Detector`` protocol, ``BaseDetector`` and ``ThresholdDetector``.
- ``generic``: for every channel: spikes (Hampel), stuck sensors, silent devices, robust
  z-score against a time-of-day baseline, CUSUM change points.
- ``structural``: PPV against GB/T 50452 and DIN 4150-3 line 3 by dominant frequency,
  natural-frequency shift and tilt trend with the temperature effect regressed out.
- ``climate``: sustained high RH (mould), dew point (condensation), fast changes.
- ``features``: PPV, RMS and dominant frequencies of waveform blocks (batched Welch).
- ``robust``: median and MAD of short series, equal to numpy's, without its per-call cost.
- ``rules`` and ``rules.yaml``: limits and their sources; ``catalogue.detectors_for`` gives
  each channel of a building its detectors. ``manager``: findings become alerts.

How detectors that need two channels work: a detector is keyed by the one channel it judges
(the tilt, the PPV, the humidity) and names the channels it also reads in ``covariates`` (the
tilt node's temperature, the sensor's dominant frequency, the air temperature). Whoever
streams readings calls ``feed(channel, t, x)`` on every detector listing that channel before
``update`` on the detectors of the reading's own channel; a covariate holds its last value
until the next arrives. ``scan(ts, xs, covariates={channel: (ts, xs)})`` does the same for
arrays (the latest covariate at or before each reading), so both paths agree, and the
covariate values are part of ``state()``. The pipeline (``twin.pipeline``) does this with a
map from each covariate channel to the detectors that read it, feeding covariates first at
equal times. Detectors that judge the passing of time (``Watchdog``: silent devices) also
have ``tick(now)``, which the runtime calls every second.
"""
