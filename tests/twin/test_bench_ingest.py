"""`twin bench ingest --quick --json` runs end to end and reports every figure (no speeds)."""

from __future__ import annotations

import json
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
)


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
    result = json.loads(done.stdout)
    for key in KEYS:
        value = result[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
