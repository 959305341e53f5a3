"""`twin eval`: event-level scoring, a labelled scenario run and the NAB layout."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from alerts.rules import load_rules
from models.nanjing import load_nanjing
from sensors.scenarios import SUITE
from twin.cli import app
from twin.eval import PredictedEvent, Window, read_nab, run_case, run_nab_file, score


def test_scoring_counts_events_not_findings() -> None:
    windows = [Window("a", 100.0, 200.0), Window("b", 100.0, 200.0)]
    events = [
        PredictedEvent("a", "r1", 150.0, 400.0),  # inside a's window: true positive
        PredictedEvent("a", "r2", 5000.0, 5000.0),  # long after: false positive
        PredictedEvent("c", "r1", 150.0, 160.0),  # another sensor: false positive
    ]
    s = score(windows, events, tolerance_s=60.0)
    assert (s.true_events, s.detected, s.predicted, s.true_positive) == (2, 1, 3, 1)
    assert s.precision == 1 / 3 and s.recall == 0.5
    assert s.delays_s == [50.0]
    assert sorted(s.false_rules) == ["a:r2", "c:r1"]


def test_a_water_leak_is_found_quickly_and_alone() -> None:
    building = load_nanjing()[1]
    s = run_case(building, load_rules(), SUITE["water-leak"], seed=2)
    assert s.recall == 1.0 and s.false_positive == 0
    assert s.median_delay_s is not None and s.median_delay_s < 3600


def write_nab(root: Path) -> tuple[str, datetime, datetime]:
    """A tiny NAB folder: three days at 5 min, a daily cycle, a level shift on day three."""
    rng = np.random.default_rng(4)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    times = [start + timedelta(minutes=5 * i) for i in range(3 * 288)]
    values = (
        50 + 10 * np.sin(np.arange(len(times)) * 2 * np.pi / 288) + rng.normal(0, 1, len(times))
    )
    values[700:760] += 40.0
    key = "realSynthetic/shift.csv"
    (root / "data" / "realSynthetic").mkdir(parents=True)
    with (root / "data" / key).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value"])
        for t, v in zip(times, values, strict=True):
            writer.writerow([t.strftime("%Y-%m-%d %H:%M:%S"), f"{v:.4f}"])
    w0, w1 = times[690], times[770]
    (root / "labels").mkdir()
    fmt = "%Y-%m-%d %H:%M:%S.000000"
    (root / "labels" / "combined_windows.json").write_text(
        json.dumps({key: [[w0.strftime(fmt), w1.strftime(fmt)]]})
    )
    return key, w0, w1


def test_nab_folder_is_scored_and_results_written_for_the_nab_scorer(tmp_path: Path) -> None:
    key, w0, _w1 = write_nab(tmp_path / "nab")
    (nab,) = read_nab(tmp_path / "nab")
    assert nab.key == key and len(nab.windows) == 1
    assert run_nab_file(load_rules(), nab).recall == 1.0
    result = CliRunner().invoke(
        app, ["eval", str(tmp_path / "nab"), "--nab-results", str(tmp_path / "results")]
    )
    assert result.exit_code == 0, result.output
    assert "overall" in result.stdout and "[1/1]" in result.output
    with (tmp_path / "results" / "realSynthetic" / "twin_shift.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(rows) == 3 * 288
    labelled = [r for r in rows if r["label"] == "1"]
    assert len(labelled) == 81
    assert labelled[0]["timestamp"] == w0.strftime("%Y-%m-%d %H:%M:%S")
    assert any(float(r["anomaly_score"]) > 0 for r in labelled)


def test_cli_runs_the_scenario_suite_with_progress() -> None:
    result = CliRunner().invoke(app, ["eval", "--scenarios", "--seeds", "1", "--case", "fire"])
    assert result.exit_code == 0, result.output
    assert "[1/1] fire seed 1" in result.output
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("fire ")]
    assert row.split()[1:3] == ["1", "1"]  # one truth event, found
    bad = CliRunner().invoke(app, ["eval"])
    assert bad.exit_code != 0
