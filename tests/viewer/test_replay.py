"""The time machine answers any moment from readings held in memory."""

from __future__ import annotations

import pytest

from models.types import Alert, AlertState, Channel, Reading, Sensor, SensorKind, Severity
from viewer.replay import Replay
from viewer.state import SensorState

NOISE = Sensor(
    "noise-1",
    SensorKind.NOISE,
    "dev",
    1,
    "south",
    (0.0, 0.0, 0.0),
    (0.0, -1.0, 0.0),
    (Channel("noise-1", "laeq", "dB"), Channel("noise-1", "lmax", "dB")),
    expected_interval_s=60.0,
)


def replay() -> Replay:
    # Quiet until 1000 s, loud after; silent from 1600 s on.
    laeq = [Reading("noise-1/laeq", t, 45.0 if t < 1000 else 70.0) for t in range(0, 1600, 60)]
    alarm = Alert(
        "a1",
        "b",
        "noise-1",
        "noise-1/laeq",
        "night",
        AlertState.RESOLVED,
        Severity.ALARM,
        1020.0,
        1020.0,
        70.0,
        70.0,
        50.0,
        "GB 3096",
        "loud",
        resolved_at=1500.0,
    )
    return Replay([NOISE], 600.0, 2400.0, {"noise-1/laeq": laeq}, [alarm])


@pytest.mark.parametrize(
    ("t", "laeq", "state"),
    [
        (700.0, 45.0, SensorState.OK),
        (1030.0, 70.0, SensorState.ALARM),
        (1550.0, 70.0, SensorState.OK),  # alarm resolved at 1500
        (1800.0, None, SensorState.STALE),  # last reading at 1560
        (2400.0, None, SensorState.OFFLINE),
    ],
)
def test_frame_at_moments(t: float, laeq: float | None, state: SensorState) -> None:
    frame = replay().frame(t, "laeq")
    assert frame.values.get("noise-1") == laeq
    assert frame.states["noise-1"] is state


def test_frame_is_clamped_into_the_period_and_unsorted_input_is_fine() -> None:
    shuffled = [Reading("noise-1/laeq", t, float(t)) for t in (300.0, 100.0, 200.0)]
    r = Replay([NOISE], 150.0, 250.0, {"noise-1/laeq": shuffled}, [])
    assert r.frame(0.0, "laeq").values == {"noise-1": 100.0}  # clamped to 150
    assert r.frame(1e9, "laeq").values == {"noise-1": 200.0}  # clamped to 250


def test_alert_starts_lists_alerts_opened_in_the_period() -> None:
    starts = replay().alert_starts()
    assert [(t, a.id) for t, a in starts] == [(1020.0, "a1")]


def test_a_replay_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="end before"):
        Replay([NOISE], 10.0, 5.0, {}, [])


def test_rollup_replays_judge_freshness_by_bucket_width() -> None:
    # Hourly means: the newest bucket started 50 minutes before the moment shown.
    hourly = [Reading("noise-1/laeq", t, 60.0) for t in (0.0, 3600.0, 7200.0)]
    moment = 7200.0 + 3000.0
    raw = Replay([NOISE], 0.0, 10_800.0, {"noise-1/laeq": hourly}, [])
    rolled = Replay([NOISE], 0.0, 10_800.0, {"noise-1/laeq": hourly}, [], resolution_s=3600.0)
    # Raw, 50 minutes of silence from a one-minute sensor means offline.
    assert raw.frame(moment, "laeq").states["noise-1"] is SensorState.OFFLINE
    assert rolled.frame(moment, "laeq").values == {"noise-1": 60.0}
    assert rolled.frame(moment, "laeq").states["noise-1"] is SensorState.OK
