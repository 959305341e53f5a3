"""The labelled scenario suite: hazards with ground truth, and confounder-only runs.

A ``Case`` builds the scenarios of one run from the building and the run's start (local
midnight). Hazards start on the third day, once detectors that learn a baseline (time of day,
temperature coefficients) have had two days. Weather confounders follow simple physics: warm
air lowers relative humidity, the structure softens (lower natural frequency) and leans a
little with temperature, as ``SensorModel`` does every day.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from models.types import Building, Sensor, SensorKind
from sensors.simulator import Scenario, night_construction

HOUR_S = 3600.0
DAY_S = 86_400.0
HAZARD_START_S = 2.5 * DAY_S  # noon on the third day
RUN_S = 3.5 * DAY_S

Effect = Callable[[Sensor, str, float, float], float]


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled run: its scenarios from (building, run start), and how long it runs."""

    name: str
    build: Callable[[Building, float], list[Scenario]]
    duration_s: float = RUN_S
    description: str = ""

    @property
    def confounder_only(self) -> bool:
        return self.name in CONFOUNDERS


def _ids(building: Building, keep: Callable[[Sensor], bool]) -> frozenset[str]:
    return frozenset(s.id for s in building.sensors if keep(s))


def _outdoor(building: Building) -> frozenset[str]:
    """Sensors the weather reaches: everything but interior climate."""
    return _ids(building, lambda s: not (s.kind is SensorKind.CLIMATE and s.zone == "interior"))


def weather(delta_c: Callable[[float], float], rh_per_c: float = 1.0) -> Effect:
    """Outdoor air warmer by ``delta_c(t)``: facade air and structure temperature follow, facade
    RH falls, the natural frequency drops 0.15% per °C and tilt moves 0.02 mrad per °C."""

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        d = delta_c(t)
        if metric == "t":
            return value + d
        if metric == "rh":
            return min(99.0, max(5.0, value - rh_per_c * d))
        if metric in ("x", "y"):
            return value + 0.02 * d
        if metric == "f1":
            return value * (1.0 - 0.0015 * d)
        return value

    return effect


def _ramp(start: float, ramp_s: float, size: float) -> Callable[[float], float]:
    return lambda t: size * min(1.0, max(0.0, (t - start) / ramp_s))


def _bell(start: float, length_s: float, size: float) -> Callable[[float], float]:
    return lambda t: size * math.sin(math.pi * min(1.0, max(0.0, (t - start) / length_s))) ** 2


def _first(building: Building, kind: SensorKind, zone: str, floor: int | None = None) -> Sensor:
    return next(
        s
        for s in building.sensors
        if s.kind is kind and s.zone == zone and (floor is None or s.floor == floor)
    )


# --- hazards -------------------------------------------------------------------------------


def construction_at_night(building: Building, t0: float) -> list[Scenario]:
    return [night_construction(building, t0 + 2 * DAY_S)]


def road_works(building: Building, t0: float) -> list[Scenario]:
    """Breakers in the street 09:00-17:00: 10-minute bursts every half hour at the foundation."""
    start = t0 + 2 * DAY_S + 9 * HOUR_S
    found = _ids(building, lambda s: s.kind is SensorKind.VIBRATION and s.zone == "foundation")

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        burst = (t - start) % 1800.0 < 600.0
        return value + 1.2 if burst and metric == "ppv" else value

    return [Scenario("road-works", found, start, start + 8 * HOUR_S, effect)]


def stiffness_loss(building: Building, t0: float) -> list[Scenario]:
    """7% stiffness lost over six hours (f falls by sqrt(0.93)), while a warm spell of +6 °C
    lowers the natural frequency too: a naive tracker blames the weather or the damage."""
    start = t0 + HAZARD_START_S
    vib = _ids(building, lambda s: s.kind is SensorKind.VIBRATION)
    drop = 1.0 - math.sqrt(0.93)
    loss = _ramp(start, 6 * HOUR_S, drop)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return value * (1.0 - loss(t)) if metric == "f1" else value

    warm = Scenario(
        "warm-spell",
        frozenset(),
        start - 12 * HOUR_S,
        t0 + RUN_S,
        weather(_ramp(start - 12 * HOUR_S, 12 * HOUR_S, 6.0)),
        confounds=_outdoor(building),
    )
    return [warm, Scenario("stiffness-loss", vib, start, math.inf, effect)]


def settlement(building: Building, t0: float) -> list[Scenario]:
    """The north-east corner settles: its tilt grows 0.5 mrad a day."""
    start = t0 + HAZARD_START_S
    corner = _first(building, SensorKind.TILT, "corner-ne")

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return value + 0.5 * (t - start) / DAY_S if metric == "x" else value

    return [Scenario("settlement", frozenset({corner.id}), start, math.inf, effect)]


def water_leak(building: Building, t0: float) -> list[Scenario]:
    """A burst pipe on 3F: the room's humidity climbs to about 93% within 45 minutes."""
    start = t0 + HAZARD_START_S
    room = _first(building, SensorKind.CLIMATE, "interior", floor=3)
    rise = _ramp(start, 45 * 60.0, 1.0)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        # Offsets, not targets: the sensor's own noise carries on (a flat line is a fault).
        if metric == "rh":
            return min(99.0, value + 35.0 * rise(t))
        return value - 0.8 * rise(t) if metric == "t" else value

    return [Scenario("water-leak", frozenset({room.id}), start, start + 12 * HOUR_S, effect)]


def hvac_failure(building: Building, t0: float) -> list[Scenario]:
    """Cooling fails on 5F-8F on a summer afternoon: +7 °C over three hours, RH falls."""
    start = t0 + HAZARD_START_S
    rooms = _ids(building, lambda s: s.kind is SensorKind.CLIMATE and s.zone == "interior")
    rooms = frozenset(
        r for r in rooms if 5 <= next(s.floor for s in building.sensors if s.id == r) <= 8
    )
    heat = _ramp(start, 3 * HOUR_S, 7.0)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return (
            value + heat(t) if metric == "t" else value - 2.5 * heat(t) if metric == "rh" else value
        )

    return [Scenario("hvac-failure", rooms, start, start + 10 * HOUR_S, effect)]  # fmt: skip


def fire(building: Building, t0: float) -> list[Scenario]:
    """A fire on 6F: the room heats by 30 °C within ten minutes and the air dries."""
    start = t0 + HAZARD_START_S
    room = _first(building, SensorKind.CLIMATE, "interior", floor=6)
    heat = _ramp(start, 600.0, 1.0)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return value + 30 * heat(t) if metric == "t" else value * (1 - 0.6 * heat(t))

    return [Scenario("fire", frozenset({room.id}), start, start + 2 * HOUR_S, effect)]


def stuck_sensor(building: Building, t0: float) -> list[Scenario]:
    """The 4F room thermometer freezes at 21.4 °C for twelve hours."""
    start = t0 + HAZARD_START_S
    room = _first(building, SensorKind.CLIMATE, "interior", floor=4)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return 21.4 if metric == "t" else value

    return [Scenario("stuck-sensor", frozenset({room.id}), start, start + 12 * HOUR_S, effect)]


def dead_device(building: Building, t0: float) -> list[Scenario]:
    """The 7F climate gateway dies for six hours: both its sensors fall silent."""
    start = t0 + HAZARD_START_S
    sensors = _ids(building, lambda s: s.device_id == "climate-7f")
    return [
        Scenario(
            "dead-device", sensors, start, start + 6 * HOUR_S, lambda s, m, t, v: v, silences=True
        )
    ]


def spike_glitches(building: Building, t0: float) -> list[Scenario]:
    """The 2F room thermometer glitches: one reading 12 °C too high every two hours."""
    start = t0 + HAZARD_START_S
    room = _first(building, SensorKind.CLIMATE, "interior", floor=2)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        glitch = (t - start) % (2 * HOUR_S) < sensor.expected_interval_s
        return value + 12.0 if glitch and metric == "t" else value

    return [Scenario("spike-glitches", frozenset({room.id}), start, start + 11 * HOUR_S, effect)]


def condensation(building: Building, t0: float) -> list[Scenario]:
    """The ground floor turns cold and damp (heating off, wet spell): 6 °C colder, RH 92%."""
    start = t0 + HAZARD_START_S
    room = _first(building, SensorKind.CLIMATE, "interior", floor=1)
    change = _ramp(start, 6 * HOUR_S, 1.0)

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        if metric == "t":
            return value - 6.0 * change(t)
        return min(99.0, value + 34.0 * change(t)) if metric == "rh" else value

    return [Scenario("condensation", frozenset({room.id}), start, math.inf, effect)]


def daytime_construction(building: Building, t0: float) -> list[Scenario]:
    """A jackhammer next door 10:00-16:00: +14 dB(A) on the west facade."""
    start = t0 + 2 * DAY_S + 10 * HOUR_S
    west = _ids(building, lambda s: s.kind is SensorKind.NOISE and s.zone == "west-facade")

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return value + {"laeq": 14.0, "lmax": 18.0}.get(metric, 0.0)

    return [Scenario("daytime-construction", west, start, start + 6 * HOUR_S, effect)]


# --- confounders: must raise nothing ----------------------------------------------------------


def normal_breathing(building: Building, t0: float) -> list[Scenario]:
    """Nothing but the daily cycle every sensor shows."""
    return []


def hot_day(building: Building, t0: float) -> list[Scenario]:
    """A heat wave day: +8 °C outdoors at mid-afternoon (08:00-20:00 bell)."""
    start = t0 + 2 * DAY_S + 8 * HOUR_S
    effect = weather(_bell(start, 12 * HOUR_S, 8.0))
    return [
        Scenario("hot-day", frozenset(), start, start + 12 * HOUR_S, effect, _outdoor(building))
    ]


def cold_snap(building: Building, t0: float) -> list[Scenario]:
    """A cold front: 10 °C colder over twelve hours and it stays cold."""
    start = t0 + 2 * DAY_S
    effect = weather(_ramp(start, 12 * HOUR_S, -10.0), rh_per_c=0.6)
    return [Scenario("cold-snap", frozenset(), start, math.inf, effect, _outdoor(building))]


def rush_hour(building: Building, t0: float) -> list[Scenario]:
    """Heavy rush-hour traffic: a little more street noise and ground vibration, in limits."""
    start = t0 + 2 * DAY_S
    street = _ids(building, lambda s: s.kind in (SensorKind.NOISE, SensorKind.VIBRATION))

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        hour = ((t - t0) % DAY_S) / HOUR_S
        if not (7 <= hour < 9 or 17 <= hour < 19):
            return value
        return value + {"laeq": 1.5, "lmax": 3.0, "ppv": 0.02}.get(metric, 0.0)

    return [Scenario("rush-hour", frozenset(), start, math.inf, effect, street)]


HAZARDS: tuple[Case, ...] = tuple(
    Case(fn.__name__.replace("_", "-"), fn, description=(fn.__doc__ or "").split("\n")[0])
    for fn in (
        construction_at_night,
        road_works,
        stiffness_loss,
        settlement,
        water_leak,
        hvac_failure,
        fire,
        stuck_sensor,
        dead_device,
        spike_glitches,
        condensation,
        daytime_construction,
    )
)
CONFOUNDERS: frozenset[str] = frozenset({"normal-breathing", "hot-day", "cold-snap", "rush-hour"})
SUITE: dict[str, Case] = {
    case.name: case
    for case in (
        *HAZARDS,
        *(
            Case(fn.__name__.replace("_", "-"), fn, description=(fn.__doc__ or "").split("\n")[0])
            for fn in (normal_breathing, hot_day, cold_snap, rush_hour)
        ),
    )
}


def truth(scenarios: Iterable[Scenario]) -> list[Scenario]:
    """The hazard scenarios of a run (those with sensors), i.e. its ground truth."""
    return [sc for sc in scenarios if sc.sensor_ids]
