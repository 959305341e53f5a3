"""Units a device may send for a channel, and how they convert to the registered one."""

from __future__ import annotations

import math
from collections.abc import Callable

# registered unit -> {unit a device may send -> conversion into the registered unit}.
# Names follow the SenML units registry (RFC 8428 section 12.1) where it has one.
_CONVERSIONS: dict[str, dict[str, Callable[[float], float]]] = {
    "mrad": {"rad": lambda v: v * 1000.0, "deg": lambda v: math.radians(v) * 1000.0},
    "mm/s": {"m/s": lambda v: v * 1000.0},
    "Cel": {"K": lambda v: v - 273.15},
    "dB": {"Bspl": lambda v: v * 10.0},
}


def converter(sent: str, registered: str) -> Callable[[float], float] | None:
    """How to turn a value sent in ``sent`` into ``registered``, or None if we cannot."""
    if sent == registered:
        return _identity
    return _CONVERSIONS.get(registered, {}).get(sent)


def _identity(value: float) -> float:
    return value
