"""`twin bench alerts` runs the demo, times its probes and prints the figures as JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from twin.cli import app


def test_bench_alerts_times_every_probe_and_prints_json() -> None:
    result = CliRunner().invoke(
        app, ["bench", "alerts", "--probes", "3", "--gap", "0.1", "--settle", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["probes"] == 3, result.output
    # Every probe was seen on the stream and by the webhook, or the figures would lie.
    assert figures["alert_events_seen"] == 3 and figures["webhooks_seen"] == 3, result.output
    assert 0 < figures["alert_event_p50_ms"] <= figures["alert_event_p99_ms"]
    assert 0 < figures["webhook_p50_ms"] <= figures["webhook_p99_ms"]
    assert "3/3 probes" in result.output
