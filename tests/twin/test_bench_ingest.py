"""`twin bench ingest --quick --json` runs end to end and reports every figure (no speeds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

KEYS = (
    "batched_readings_per_s",
    "single_readings_per_s",
    "raw_broker_msgs_per_s",
    "raw_broker_batched_msgs_per_s",
    "raw_copy_rows_per_s",
    "p50_latency_ms",
    "p99_latency_ms",
    "peak_rss_mb",
    "single_vs_raw_broker",
    "batched_vs_raw_copy",
    "ingest_cpu_us_per_reading_with_detection",
    "ingest_cpu_us_per_reading_without_detection",
    "detect_cpu_rate_readings_per_s",
)
# Differences of two CPU figures: a 1 s smoke run may put them either side of zero.
SIGNED_KEYS = ("detect_cpu_share", "detect_cpu_s_per_s_at_target")


def test_bench_ingest_quick_reports_every_figure() -> None:
    # It starts and stops its own Mosquitto and PostgreSQL (by PID), as a user's run does.
    done = subprocess.run(
        [sys.executable, "-m", "twin", "bench", "ingest", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "phase: twin ingest, batched" in done.stderr  # progress goes to stderr
    assert "phase: ingest CPU without detection" in done.stderr
    result = json.loads(done.stdout)
    for key in KEYS:
        value = result[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
        assert math.isfinite(value), (key, value)
    for key in SIGNED_KEYS:
        value = result[key]
        assert isinstance(value, int | float) and math.isfinite(value), (key, value)
    with_us = result["ingest_cpu_us_per_reading_with_detection"]
    without_us = result["ingest_cpu_us_per_reading_without_detection"]
    assert math.isclose(result["detect_cpu_share"], (with_us - without_us) / without_us)
