"""`twin bench detect` prints its figures as JSON (the numbers are machine-dependent)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from twin.cli import app


def test_bench_detect_reports_rates_as_json() -> None:
    result = CliRunner().invoke(app, ["bench", "detect", "--runs", "1", "--hours", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["readings_per_s"] > 0 and figures["waveform_blocks_per_s"] > 0
    assert figures["channels"] > 40 and figures["readings_timed"] > 1000
    assert 1 <= figures["detectors_per_channel_mean"] <= figures["detectors_per_channel_max"]
    assert "detect run 1/1" in result.output
