"""`twin eval`: run the detectors over labelled data and score them event by event.

Two sources of labelled data: the simulator's scenario suite (``sensors.scenarios``), streamed
reading by reading through every detector of the Nanjing Building as the live pipeline would
(covariates first, watchdogs ticked every simulated minute); and a folder in the Numenta
Anomaly Benchmark layout, judged by the generic detectors. Findings become predicted events
per (sensor, rule) as the alert manager would group them (a gap over ``hold_off_s`` starts a
new one). A predicted event that overlaps a labelled window (extended by ``tolerance_s``) of
its sensor is a true positive; every labelled (scenario, sensor) window is one truth event.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from alerts.catalogue import detectors_for
from alerts.detectors import Detector, Watchdog
from alerts.generic import CusumDetector, FlatlineDetector, HampelDetector, RobustZScoreDetector
from alerts.rules import Rules
from models.types import Building, Finding, Sensor
from sensors.scenarios import SUITE, Case, truth
from sensors.simulator import SHANGHAI, Scenario, SensorModel

HOLD_OFF_S = 900.0  # the alert manager's default: findings closer than this are one alert
TOLERANCE_S = 3600.0  # a finding this soon after a window closes still belongs to it
STEP_S = 60.0


@dataclass(frozen=True, slots=True)
class Window:
    """A labelled anomaly on one source (a sensor, or a NAB file)."""

    source: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class PredictedEvent:
    source: str
    rule_id: str
    start: float
    end: float


@dataclass(slots=True)
class Score:
    """Event-level counts of one run or a sum of runs."""

    true_events: int = 0
    detected: int = 0
    predicted: int = 0
    true_positive: int = 0
    delays_s: list[float] = field(default_factory=list)
    false_rules: list[str] = field(default_factory=list)
    true_rules: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.true_events += other.true_events
        self.detected += other.detected
        self.predicted += other.predicted
        self.true_positive += other.true_positive
        self.delays_s += other.delays_s
        self.false_rules += other.false_rules
        self.true_rules += other.true_rules

    @property
    def false_positive(self) -> int:
        return self.predicted - self.true_positive

    @property
    def precision(self) -> float:
        return self.true_positive / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.true_events if self.true_events else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_delay_s(self) -> float | None:
        return float(np.median(self.delays_s)) if self.delays_s else None


def events_from(
    findings: Iterable[Finding], source_of: Callable[[Finding], str]
) -> list[PredictedEvent]:
    """Group findings per (source, rule) into events the way alerts would open and resolve."""
    open_: dict[tuple[str, str], list[float]] = {}
    out: list[PredictedEvent] = []
    for f in sorted(findings, key=lambda f: f.time):
        key = (source_of(f), f.rule_id)
        span = open_.get(key)
        if span is not None and f.time - span[1] <= HOLD_OFF_S:
            span[1] = f.time
            continue
        if span is not None:
            out.append(PredictedEvent(*key, span[0], span[1]))
        open_[key] = [f.time, f.time]
    out += [PredictedEvent(*key, s, e) for key, (s, e) in open_.items()]
    return out


def score(
    windows: Sequence[Window], events: Sequence[PredictedEvent], tolerance_s: float = TOLERANCE_S
) -> Score:
    """Event-level precision/recall counts and detection delays."""
    result = Score(true_events=len(windows), predicted=len(events))
    hits: dict[int, float] = {}
    for ev in events:
        matched = False
        for i, w in enumerate(windows):
            if ev.source == w.source and ev.start <= w.end + tolerance_s and ev.end >= w.start:
                matched = True
                first = max(ev.start, w.start)
                hits[i] = min(hits.get(i, first), first)
        if matched:
            result.true_positive += 1
            result.true_rules.append(ev.rule_id)
        else:
            result.false_rules.append(f"{ev.source}:{ev.rule_id}")
    result.detected = len(hits)
    result.delays_s = [hits[i] - windows[i].start for i in sorted(hits)]
    return result


# --- the scenario suite ----------------------------------------------------------------------


def run_start(seed: int) -> float:
    """Local midnight on a date that depends on the seed, so seeds differ in more than noise."""
    return datetime(2026, 6, 1, tzinfo=SHANGHAI).timestamp() + 86_400.0 * 9 * seed


def run_case(building: Building, rules: Rules, case: Case, seed: int) -> Score:
    """Stream one labelled run through the building's detectors and score it."""
    t0 = run_start(seed)
    scenarios = case.build(building, t0)
    model = SensorModel(scenarios, seed=seed)
    detectors = detectors_for(rules, building)
    sensors = _involved(building, scenarios, detectors, whole=case.confounder_only)
    consumers: dict[str, list[Detector]] = defaultdict(list)
    for ds in detectors.values():
        for d in ds:
            for cid in d.covariates:
                consumers[cid].append(d)
    watchdogs = [
        d
        for s in sensors
        for ch in s.channels
        for d in detectors.get(ch.id, ())
        if isinstance(d, Watchdog)
    ]
    findings: list[Finding] = []
    end = t0 + case.duration_s
    for t in np.arange(t0, end, STEP_S).tolist():
        due = [
            (ch.id, model.value(s, ch.metric, t))
            for s in sensors
            if round(t) % max(1, round(s.expected_interval_s)) == 0 and model.reports(s, t)
            for ch in s.channels
        ]
        for cid, x in due:
            for consumer in consumers.get(cid, ()):
                consumer.feed(cid, t, x)
        for cid, x in due:
            for detector in detectors.get(cid, ()):
                if (finding := detector.update(t, x)) is not None:
                    findings.append(finding)
        for watchdog in watchdogs:
            if (finding := watchdog.tick(t)) is not None:
                findings.append(finding)
    windows = [
        Window(sid, sc.start, min(sc.end, end)) for sc in truth(scenarios) for sid in sc.sensor_ids
    ]
    return score(windows, events_from(findings, lambda f: f.sensor_id))


def _involved(
    building: Building,
    scenarios: Sequence[Scenario],
    detectors: Mapping[str, list[Detector]],
    *,
    whole: bool,
) -> list[Sensor]:
    """The sensors a run needs: all for a confounder run; otherwise those the scenarios touch
    and those feeding their detectors' covariates. Untouched sensors behave as in the
    normal-breathing run of the same seed, which the suite scores over the whole building."""
    if whole:
        return list(building.sensors)
    touched: set[str] = set()
    for sc in scenarios:
        touched |= sc.sensor_ids | sc.confounds
    by_id = {s.id: s for s in building.sensors}
    for sid in list(touched):
        for ch in by_id[sid].channels:
            for d in detectors.get(ch.id, ()):
                touched |= {cid.split("/")[0] for cid in d.covariates}
    return [s for s in building.sensors if s.id in touched]  # fmt: skip


# --- the Numenta Anomaly Benchmark layout ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NabFile:
    """One NAB data file: its key in combined_windows.json (``category/file.csv``)."""

    key: str
    times: np.ndarray
    values: np.ndarray
    windows: tuple[Window, ...]


def _nab_time(text: str) -> float:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp()


def read_nab(root: Path) -> list[NabFile]:
    """Every ``data/**/*.csv`` under ``root``, windows from ``labels/combined_windows.json``."""
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = []
    for path in sorted((root / "data").rglob("*.csv")):
        key = path.relative_to(root / "data").as_posix()
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        times = np.array([_nab_time(r["timestamp"]) for r in rows])
        values = np.array([float(r["value"]) for r in rows])
        windows = tuple(Window(key, _nab_time(a), _nab_time(b)) for a, b in labels.get(key, []))
        files.append(NabFile(key, times, values, windows))
    return files


def nab_detectors(rules: Rules, nab: NabFile) -> list[Detector]:
    """The generic detectors with the rules file's settings. NAB's first 15% is probationary
    (never scored), so it sets the floor of each file's robust scale, not a threshold."""
    generic = rules.section("generic")
    probation = nab.values[: max(1, int(0.15 * len(nab.values)))]
    q75, q25 = np.percentile(probation, [75, 25])
    floor = max(float(q75 - q25) / 10.0, 1e-9 * max(1.0, float(np.abs(probation).max())))
    cid = f"{nab.key}/value"
    tz = rules.timezone
    return [
        HampelDetector(channel_id=cid, min_scale=floor, **generic["spike"]),
        FlatlineDetector(channel_id=cid, **generic["stuck"]),
        RobustZScoreDetector(channel_id=cid, timezone=tz, min_scale=floor, **generic["anomaly"]),
        CusumDetector(channel_id=cid, timezone=tz, min_scale=floor, **generic["change_point"]),
    ]


def run_nab_file(rules: Rules, nab: NabFile, results: Path | None = None) -> Score:
    """Score one NAB file; with ``results``, also write NAB's results file for detector ``twin``."""
    findings = [f for d in nab_detectors(rules, nab) for f in d.scan(nab.times, nab.values)]
    scored = score(list(nab.windows), events_from(findings, lambda f: nab.key))
    if results is not None:
        flagged = {f.time for f in findings}
        category, _, name = nab.key.rpartition("/")
        out = results / category / f"twin_{name}"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for t, x in zip(nab.times.tolist(), nab.values.tolist(), strict=True):
                label = any(w.start <= t <= w.end for w in nab.windows)
                stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
                writer.writerow([stamp, repr(x), 1.0 if t in flagged else 0.0, int(label)])
    return scored


# --- reports -----------------------------------------------------------------------------------


def _row(name: str, s: Score) -> str:
    delay = s.median_delay_s
    shown = f"{delay / 60:8.1f}" if delay is not None else "       -"
    return (
        f"{name:24} {s.true_events:5} {s.detected:5} {s.predicted:5} {s.false_positive:4} "
        f"{s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {shown}"
    )


HEADER = (
    f"{'':24} {'truth':>5} {'found':>5} {'pred':>5} {'FP':>4} "
    f"{'prec':>6} {'recall':>6} {'F1':>6} {'delay min':>8}"
)


def _one_run(args: tuple[str, int]) -> tuple[str, int, Score]:
    from alerts.rules import load_rules
    from models.nanjing import load_nanjing

    name, seed = args
    building = _building_cache.get("b")
    if building is None:
        building = _building_cache["b"] = load_nanjing()[1]
    return name, seed, run_case(building, load_rules(), SUITE[name], seed)


_building_cache: dict[str, Building] = {}


def evaluate_suite(
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Score]:
    """Run every (case, seed) and sum the scores per case."""
    runs = [(name, seed) for name in names for seed in seeds]
    per_case = {name: Score() for name in names}
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            results: Iterable[tuple[str, int, Score]] = pool.map(_one_run, runs)
            for i, (name, seed, s) in enumerate(results, 1):
                per_case[name].add(s)
                progress(
                    f"[{i}/{len(runs)}] {name} seed {seed}: F1 {s.f1:.3f}, FP {s.false_positive}"
                )
    else:
        for i, run in enumerate(runs, 1):
            name, seed, s = _one_run(run)
            per_case[name].add(s)
            progress(f"[{i}/{len(runs)}] {name} seed {seed}: F1 {s.f1:.3f}, FP {s.false_positive}")
    return per_case


def suite_report(per_case: Mapping[str, Score]) -> list[str]:
    """The table `twin eval --scenarios` prints: per case, hazards overall, confounders."""
    lines = [HEADER]
    hazards, confounders = Score(), Score()
    for name, s in per_case.items():
        lines.append(_row(name, s))
        (confounders if SUITE[name].confounder_only else hazards).add(s)
        if s.true_rules:
            fired = Counter(s.true_rules).most_common()
            lines.append(f"{'':24} found by: {', '.join(f'{r} {n}' for r, n in fired)}")
        if s.false_rules:
            lines.append(f"{'':24} false alarms: {', '.join(sorted(set(s.false_rules)))}")
    lines.append(_row("overall (hazards)", hazards))
    overall = Score()
    overall.add(hazards)
    overall.add(confounders)
    lines.append(_row("overall (all runs)", overall))
    lines.append(f"alerts on confounder-only runs: {confounders.predicted}")
    return lines


def nab_report(
    root: Path, rules: Rules, results: Path | None, progress: Callable[[str], None]
) -> list[str]:
    files = read_nab(root)
    lines = [HEADER]
    total = Score()
    for i, nab in enumerate(files, 1):
        s = run_nab_file(rules, nab, results)
        total.add(s)
        progress(f"[{i}/{len(files)}] {nab.key}")
        lines.append(_row(nab.key[-24:], s))
    lines.append(_row("overall", total))
    return lines
