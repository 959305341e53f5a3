"""Shared checks every detector passes, in the spirit of river's ``river/checks``.

Each detector class has a case: a factory from parameters, clean data that must raise nothing
and data with a planted fault that must. The checks: ``update`` and ``scan`` agree, a
detector restored from ``state()`` resumes exactly, clean data is quiet, the fault is found
inside its window. A detector class without a case fails the registry test.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import alerts.climate
import alerts.detectors
import alerts.generic
import alerts.structural
from alerts.detectors import BaseDetector, Detector, Levels, ThresholdDetector
from models.types import Finding

TZ = ZoneInfo("Asia/Shanghai")
T0 = 1_780_000_000.0 - 1_780_000_000.0 % 86_400 - 8 * 3600  # a Shanghai midnight
DAY = 86_400.0


@dataclass(frozen=True)
class Data:
    ts: np.ndarray
    xs: np.ndarray
    covariates: dict[str, tuple[np.ndarray, np.ndarray]]
    fault: tuple[float, float] | None = None  # where the planted fault is


@dataclass(frozen=True)
class Case:
    make: Callable[[], Detector]
    clean: Data
    faulty: Data


def _rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def _daily(ts: np.ndarray, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * ((ts - T0) / DAY - 9 / 24))


def _noise_level(days: float = 3.0, shift: float = 0.0, shift_from: float = np.inf) -> Data:
    ts = T0 + np.arange(0, days * DAY, 300.0)
    hour = ((ts - T0) % DAY) / 3600
    xs = np.where((hour >= 6) & (hour < 22), 55.0, 45.0) + _rng().normal(0, 1.0, ts.size)
    xs = xs + np.where(ts >= shift_from, shift, 0.0)
    fault = (shift_from, ts[-1]) if np.isfinite(shift_from) else None
    return Data(ts, xs, {}, fault)


def _with_temperature(
    days: float, value: Callable[[np.ndarray, np.ndarray], np.ndarray], step_s: float = 600.0
) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    ts = T0 + np.arange(0, days * DAY, step_s)
    temperature = 16.0 + _daily(ts, 5.0) + _rng(3).normal(0, 0.2, ts.size)
    return ts, value(ts, temperature), {"s/t": (ts, temperature)}


def _frequency(drop: float) -> Data:
    start = T0 + 2.5 * DAY

    def f1(ts: np.ndarray, temp: np.ndarray) -> np.ndarray:
        base = 1.85 * (1 - 0.0015 * (temp - 16)) + _rng().normal(0, 0.004, ts.size)
        return base * np.where(ts >= start, 1 - drop, 1.0)

    ts, xs, cov = _with_temperature(3.5, f1)
    return Data(ts, xs, cov, (start, ts[-1]) if drop else None)


def _tilt(rate_per_day: float) -> Data:
    start = T0 + 2.5 * DAY

    def tilt(ts: np.ndarray, temp: np.ndarray) -> np.ndarray:
        trend = rate_per_day * np.clip(ts - start, 0, None) / DAY
        return 0.3 + 0.02 * (temp - 16) + trend + _rng().normal(0, 0.01, ts.size)

    ts, xs, cov = _with_temperature(3.5, tilt)
    return Data(ts, xs, cov, (start, ts[-1]) if rate_per_day else None)


def _series(xs: np.ndarray, step_s: float = 60.0, fault: tuple[int, int] | None = None) -> Data:
    ts = T0 + step_s * np.arange(xs.size)
    return Data(ts, xs, {}, (ts[fault[0]], ts[fault[1]]) if fault else None)


def _planted(xs: np.ndarray, at: int, values: np.ndarray | float) -> np.ndarray:
    out = xs.copy()
    end = at + (np.size(values) if np.ndim(values) else 1)
    out[at:end] = values
    return out


NOISE = _rng().normal(20.0, 0.5, 600)
RH = 60.0 + _rng().normal(0, 1.0, 600)
CASES: dict[type, Case] = {
    ThresholdDetector: Case(
        lambda: ThresholdDetector(
            rule_id="limit",
            channel_id="s/x",
            levels_at=lambda t: Levels(25.0, 30.0, 25.0),
            standard="test",
            explain=lambda t, x, lv: f"{x} over {lv.limit}",
        ),
        _series(NOISE),
        _series(_planted(NOISE, 300, np.full(10, 27.0)), fault=(300, 309)),
    ),
    alerts.generic.HampelDetector: Case(
        lambda: alerts.generic.HampelDetector(channel_id="s/x", window=30, n_sigmas=6),
        _series(NOISE),
        _series(_planted(NOISE, 300, 35.0), fault=(300, 300)),
    ),
    alerts.generic.FlatlineDetector: Case(
        lambda: alerts.generic.FlatlineDetector(channel_id="s/x", count=12),
        _series(NOISE),
        _series(_planted(NOISE, 300, np.full(20, 20.1)), fault=(300, 319)),
    ),
    alerts.generic.SilenceDetector: Case(
        lambda: alerts.generic.SilenceDetector(channel_id="s/x", expected_interval_s=60.0),
        _series(NOISE),
        Data(
            np.r_[T0 + 60.0 * np.arange(300), T0 + 60.0 * np.arange(360, 600)],
            np.r_[NOISE[:300], NOISE[360:]],
            {},
            (T0 + 60.0 * 299, T0 + 60.0 * 360),
        ),
    ),
    alerts.generic.RobustZScoreDetector: Case(
        lambda: alerts.generic.RobustZScoreDetector(
            channel_id="s/laeq", timezone=TZ, min_scale=0.5, min_count=12
        ),
        _noise_level(),
        _noise_level(shift=12.0, shift_from=T0 + 2.5 * DAY),
    ),
    alerts.generic.CusumDetector: Case(
        lambda: alerts.generic.CusumDetector(
            channel_id="s/laeq", timezone=TZ, min_scale=0.5, min_count=12
        ),
        _noise_level(),
        _noise_level(shift=4.0, shift_from=T0 + 2.5 * DAY),
    ),
    alerts.structural.VibrationLimitDetector: Case(
        lambda: alerts.structural.VibrationLimitDetector(
            channel_id="s/ppv",
            heritage_limit_mm_s=None,
            din_curve=[(1, 3), (10, 3), (50, 8), (100, 10)],
            frequency_channel="s/f1",
        ),
        Data(
            T0 + np.arange(100.0),
            np.full(100, 2.6),
            {"s/f1": (T0 + np.arange(100.0), np.full(100, 30.0))},
        ),
        Data(
            T0 + np.arange(100.0),
            np.full(100, 2.6),
            {"s/f1": (T0 + np.arange(100.0), np.r_[np.full(50, 30.0), np.full(50, 5.0)])},
            (T0 + 50, T0 + 99),
        ),
    ),
    alerts.structural.FrequencyShiftDetector: Case(
        lambda: alerts.structural.FrequencyShiftDetector(
            channel_id="s/f1", temperature_channel="s/t"
        ),
        _frequency(0.0),
        _frequency(0.04),
    ),
    alerts.structural.TiltTrendDetector: Case(
        lambda: alerts.structural.TiltTrendDetector(
            channel_id="s/x", temperature_channel="s/t", limit_mrad=3.0
        ),
        _tilt(0.0),
        _tilt(0.6),
    ),
    alerts.climate.MouldRiskDetector: Case(
        lambda: alerts.climate.MouldRiskDetector(channel_id="s/rh", sustain_s=4 * 3600.0),
        _series(RH, 300.0),
        _series(_planted(RH, 300, np.full(60, 85.0)), 300.0, fault=(300, 359)),
    ),
    alerts.climate.CondensationDetector: Case(
        lambda: alerts.climate.CondensationDetector(channel_id="s/rh", temperature_channel="s/t"),
        Data(
            T0 + 300 * np.arange(600.0),
            RH,
            {"s/t": (T0 + 300 * np.arange(600.0), np.full(600, 21.0))},
        ),
        Data(
            T0 + 300 * np.arange(600.0),
            _planted(RH, 300, np.full(20, 95.0)),
            {"s/t": (T0 + 300 * np.arange(600.0), np.full(600, 21.0))},
            (T0 + 300 * 300, T0 + 300 * 319),
        ),
    ),
    alerts.climate.RateOfChangeDetector: Case(
        lambda: alerts.climate.RateOfChangeDetector(channel_id="s/t", max_change=3.0),
        _series(NOISE, 300.0),
        _series(_planted(NOISE, 300, NOISE[300:] + 8.0), 300.0, fault=(300, 303)),
    ),
}


def _events(data: Data) -> list[tuple[float, int, str, float]]:
    """Every reading in time order, covariates before the channel's own reading at equal times."""
    events = [(t, 1, "", x) for t, x in zip(data.ts.tolist(), data.xs.tolist(), strict=True)]
    for cid, (cts, cxs) in data.covariates.items():
        events += [(t, 0, cid, x) for t, x in zip(cts.tolist(), cxs.tolist(), strict=True)]
    return sorted(events, key=lambda e: (e[0], e[1]))


def _stream(detector: Detector, events: list[tuple[float, int, str, float]]) -> list[Finding]:
    found = []
    for t, own, cid, x in events:
        if own:
            if (finding := detector.update(t, x)) is not None:
                found.append(finding)
        else:
            detector.feed(cid, t, x)
    return found


def test_every_detector_has_a_case() -> None:
    modules = (alerts.detectors, alerts.generic, alerts.structural, alerts.climate)
    classes = {
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseDetector) and cls is not BaseDetector
    }
    assert classes == set(CASES)


@pytest.fixture(params=list(CASES), ids=lambda cls: cls.__name__)
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_satisfies_the_protocol(case: Case) -> None:
    assert isinstance(case.make(), Detector)


def test_update_and_scan_agree(case: Case) -> None:
    for data in (case.clean, case.faulty):
        streamed = _stream(case.make(), _events(data))
        scanned = case.make().scan(data.ts, data.xs, data.covariates)
        assert scanned == streamed


@pytest.mark.parametrize(
    "cls",
    [cls for cls, c in CASES.items() if not (c.clean.covariates or c.faulty.covariates)],
    ids=lambda cls: cls.__name__,
)
def test_run_until_finding_agrees_with_update(cls: type[BaseDetector]) -> None:
    """The live path's loop (detectors without covariates) finds what ``update`` finds."""
    case = CASES[cls]
    for data in (case.clean, case.faulty):
        streamed = _stream(case.make(), _events(data))
        detector, ts, xs = case.make(), data.ts.tolist(), data.xs.tolist()
        found, i = [], 0
        while (step := detector.run_until_finding(ts, xs, i))[1] is not None:
            i, finding = step
            assert finding is not None
            found.append(finding)
            i += 1
        assert step[0] == len(ts)
        assert found == streamed


def test_restore_resumes_where_it_stopped(case: Case) -> None:
    events = _events(case.faulty)
    whole = _stream(case.make(), events)
    first = case.make()
    assert case.faulty.fault is not None
    middle = sum(case.faulty.fault) / 2  # checkpoint mid-fault, where state matters most
    half = next(i for i, e in enumerate(events) if e[0] > middle)
    before = _stream(first, events[:half])
    resumed = case.make()
    # A checkpoint travels between workers: it must survive pickling.
    resumed.restore(pickle.loads(pickle.dumps(first.state())))
    after = _stream(resumed, events[half:])
    assert before + after == whole
    assert after, "the checkpoint should fall before the fault's findings end"


def test_clean_data_raises_nothing(case: Case) -> None:
    assert _stream(case.make(), _events(case.clean)) == []


def test_planted_fault_is_found_inside_its_window(case: Case) -> None:
    found = _stream(case.make(), _events(case.faulty))
    assert case.faulty.fault is not None
    start, end = case.faulty.fault
    assert found, "the planted fault went unnoticed"
    assert all(start <= f.time <= end + 3600 for f in found), [f.time for f in found][:5]
    assert all(f.message and f.standard for f in found)
