"""Streaming detectors: one small object per (channel, rule), ``update`` and ``scan`` agreeing.

Parameters live in ``__init__``; learned state (none, for thresholds) lives apart so a detector
can be rebuilt from its parameters and resume from ``state()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from models.types import Finding, Severity


@dataclass(frozen=True, slots=True)
class Levels:
    """Where a warning and an alarm start, and the limit quoted in the finding."""

    warning: float
    alarm: float
    limit: float


class Detector(Protocol):
    rule_id: str
    channel_id: str

    def update(self, t: float, x: float) -> Finding | None: ...

    def scan(self, ts: npt.ArrayLike, xs: npt.ArrayLike) -> list[Finding]: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


class ThresholdDetector:
    """A finding whenever the value (or its magnitude) reaches the warning level.

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
    ) -> None:
        self.rule_id = rule_id
        self.channel_id = channel_id
        self.levels_at = levels_at
        self.standard = standard
        self.explain = explain
        self.magnitude = magnitude

    def update(self, t: float, x: float) -> Finding | None:
        levels = self.levels_at(t)
        v = abs(x) if self.magnitude else x
        if v >= levels.alarm:
            severity = Severity.ALARM
        elif v >= levels.warning:
            severity = Severity.WARNING
        else:
            return None
        return Finding(
            rule_id=self.rule_id,
            channel_id=self.channel_id,
            time=t,
            severity=severity,
            value=x,
            limit=levels.limit,
            standard=self.standard,
            message=self.explain(t, x, levels),
        )

    def scan(self, ts: npt.ArrayLike, xs: npt.ArrayLike) -> list[Finding]:
        times = np.asarray(ts, dtype=float)
        values = np.asarray(xs, dtype=float)
        levels = [self.levels_at(t) for t in times.tolist()]
        warning = np.fromiter((lv.warning for lv in levels), float, len(levels))
        v = np.abs(values) if self.magnitude else values
        hits = np.flatnonzero(v >= warning)
        # Only the hits need a Finding object; the comparison above is vectorised.
        found = [self.update(float(times[i]), float(values[i])) for i in hits]
        return [f for f in found if f is not None]

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None
