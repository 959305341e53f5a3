"""The detector protocol, its shared base and the threshold detector.

A detector judges one channel (``channel_id``) for one rule (``rule_id``). Parameters live in
``__init__``; learned state lives in the attributes named by ``learned`` so ``state()`` can
checkpoint it and ``restore()`` resume. A detector that needs other channels (tilt needs the
temperature, a PPV limit the dominant frequency) names them in ``covariates`` and is fed their
readings through ``feed``; it uses the latest value at or before each reading of its own
channel. ``scan`` consumes a whole series (continuing from the current state) and gives exactly
the findings that ``update`` would, reading by reading; so does ``run_until_finding`` up to
the first finding, for the live path.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from models.types import Finding, Severity

Series = tuple[npt.ArrayLike, npt.ArrayLike]  # (times, values)


@dataclass(frozen=True, slots=True)
class Levels:
    """Where a warning and an alarm start, and the limit quoted in the finding."""

    warning: float
    alarm: float
    limit: float


@runtime_checkable
class Detector(Protocol):
    rule_id: str
    channel_id: str
    covariates: tuple[str, ...]

    def update(self, t: float, x: float) -> Finding | None: ...

    def run_until_finding(
        self, ts: list[float], xs: list[float], start: int = 0, stop: int | None = None
    ) -> tuple[int, Finding | None]: ...

    def feed(self, channel_id: str, t: float, x: float) -> None: ...

    def scan(
        self, ts: npt.ArrayLike, xs: npt.ArrayLike, covariates: Mapping[str, Series] | None = None
    ) -> list[Finding]: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class Watchdog(Protocol):
    """A detector that also judges the passing of time (a device gone silent)."""

    rule_id: str
    channel_id: str

    def tick(self, now: float) -> Finding | None: ...


class BaseDetector:
    """Covariate bookkeeping, a reading-by-reading ``scan`` and checkpointing for subclasses."""

    learned: ClassVar[tuple[str, ...]] = ()
    rule_id: str
    channel_id: str
    covariates: tuple[str, ...] = ()
    standard: str = ""

    def _start(self) -> None:
        """Reset learned state; subclasses call it at the end of ``__init__``."""
        self._latest: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Set the learned attributes to their initial values."""

    def feed(self, channel_id: str, t: float, x: float) -> None:
        # Zero-order hold: the covariate keeps its last value until a new one arrives.
        self._latest[channel_id] = x

    def covariate(self, channel_id: str) -> float | None:
        return self._latest.get(channel_id)

    def update(self, t: float, x: float) -> Finding | None:
        raise NotImplementedError

    def run_until_finding(
        self, ts: list[float], xs: list[float], start: int = 0, stop: int | None = None
    ) -> tuple[int, Finding | None]:
        """``update`` with the readings ``start`` to ``stop`` (default: the end), stopping at
        the first finding: (its index, the finding), or (``stop``, None). Detectors on every
        channel override it with the loop inlined; the live path spends its time here."""
        stop = len(ts) if stop is None else stop
        update = self.update
        for i in range(start, stop):
            finding = update(ts[i], xs[i])
            if finding is not None:
                return i, finding
        return stop, None

    def scan(
        self, ts: npt.ArrayLike, xs: npt.ArrayLike, covariates: Mapping[str, Series] | None = None
    ) -> list[Finding]:
        times = np.asarray(ts, dtype=float)
        values = np.asarray(xs, dtype=float)
        held: list[tuple[str, np.ndarray, np.ndarray]] = []
        for cid, (cts, cxs) in (covariates or {}).items():
            held.append((cid, np.asarray(cts, dtype=float), np.asarray(cxs, dtype=float)))
        # Index of the latest covariate reading at or before each of our readings.
        idx = [np.searchsorted(cts, times, side="right") - 1 for _, cts, _ in held]
        found: list[Finding] = []
        for i, (t, x) in enumerate(zip(times.tolist(), values.tolist(), strict=True)):
            for (cid, cts, cxs), j in zip(held, idx, strict=True):
                if j[i] >= 0:
                    self.feed(cid, float(cts[j[i]]), float(cxs[j[i]]))
            finding = self.update(t, x)
            if finding is not None:
                found.append(finding)
        return found

    def state(self) -> dict[str, Any]:
        """A copy of the learned state (plain, picklable objects) for a checkpoint."""
        names = (*self.learned, "_latest")
        return {name: copy.deepcopy(getattr(self, name)) for name in names}

    def restore(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, copy.deepcopy(value))

    def finding(
        self, t: float, severity: Severity, value: float, limit: float, message: str
    ) -> Finding:
        return Finding(
            rule_id=self.rule_id,
            channel_id=self.channel_id,
            time=t,
            severity=severity,
            value=value,
            limit=limit,
            standard=self.standard,
            message=message,
        )


class ThresholdDetector(BaseDetector):
    """A finding whenever the value (or its magnitude) reaches the warning level.

    ``lowest_warning``, where given, promises that ``levels_at`` never warns below it, so
    readings under it need no lookup of the levels.

    >>> d = ThresholdDetector(
    ...     rule_id="demo", channel_id="s/x", levels_at=lambda t: Levels(1.0, 2.0, 2.0),
    ...     standard="none", explain=lambda t, x, lv: f"{x} against {lv.limit}",
    ... )
    >>> d.update(0.0, 0.5) is None, d.update(1.0, 2.5).severity
    (True, <Severity.ALARM: 'alarm'>)
    """

    def __init__(
        self,
        *,
        rule_id: str,
        channel_id: str,
        levels_at: Callable[[float], Levels],
        standard: str,
        explain: Callable[[float, float, Levels], str],
        magnitude: bool = False,
        lowest_warning: float = -math.inf,
    ) -> None:
        self.rule_id = rule_id
        self.channel_id = channel_id
        self.levels_at = levels_at
        self.standard = standard
        self.explain = explain
        self.magnitude = magnitude
        self.lowest_warning = lowest_warning  # no ``levels_at(t).warning`` is below this
        self._start()

    def update(self, t: float, x: float) -> Finding | None:
        v = abs(x) if self.magnitude else x
        if v < self.lowest_warning:
            return None  # below every level: most readings, judged without the lookup
        levels = self.levels_at(t)
        if v >= levels.alarm:
            severity = Severity.ALARM
        elif v >= levels.warning:
            severity = Severity.WARNING
        else:
            return None
        return self.finding(t, severity, x, levels.limit, self.explain(t, x, levels))

    def scan(
        self, ts: npt.ArrayLike, xs: npt.ArrayLike, covariates: Mapping[str, Series] | None = None
    ) -> list[Finding]:
        times = np.asarray(ts, dtype=float)
        values = np.asarray(xs, dtype=float)
        levels = [self.levels_at(t) for t in times.tolist()]
        warning = np.fromiter((lv.warning for lv in levels), float, len(levels))
        v = np.abs(values) if self.magnitude else values
        hits = np.flatnonzero(v >= warning)
        # Only the hits need a Finding object; the comparison above is vectorised.
        found = [self.update(float(times[i]), float(values[i])) for i in hits]
        return [f for f in found if f is not None]
