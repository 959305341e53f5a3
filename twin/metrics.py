"""`/metrics`: the running twin's figures in the Prometheus text format.

Read at scrape time from the parts that keep them (ingest counters, the spool, the alert
manager, the notice log), through one collector on a registry of this app's own: no global
registry, so two twins in one process (tests) never mix their figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from twin.context import TwinContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NoticeCounts:
    """Delivery attempts by channel and outcome, counted as the notifiers log them."""

    def __init__(self) -> None:
        self.attempts: Counter[tuple[str, bool]] = Counter()

    def count(self, channel: str, ok: bool) -> None:
        self.attempts[(channel, ok)] += 1


class TwinCollector(Collector):
    """Every figure of one twin, gathered when Prometheus asks."""

    def __init__(self, context: TwinContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        context = self.context
        ingest = context.ingest
        if ingest is not None:
            counters = ingest.counters
            for name, value, text in (
                ("twin_mqtt_messages", counters.messages, "MQTT messages received"),
                ("twin_readings_accepted", counters.accepted, "readings that passed checks"),
                ("twin_readings_stored", counters.stored, "readings committed to the store"),
                ("twin_readings_spooled", counters.spooled, "readings written to the spool"),
            ):
                yield CounterMetricFamily(name, text, value=value)
            rejected = CounterMetricFamily(
                "twin_rejected", "messages or records refused, by reason", labels=["reason"]
            )
            for reason, n in sorted(counters.rejected.items()):
                rejected.add_metric([reason], n)
            yield rejected
            yield GaugeMetricFamily(
                "twin_spool_segments", "spooled batches waiting", value=ingest.spool.depth
            )
            yield GaugeMetricFamily(
                "twin_spool_bytes", "bytes in the spool", value=ingest.spool.size_bytes
            )
        yield GaugeMetricFamily(
            "twin_broker_connected",
            "1 if ingest is connected",
            value=int(context.broker_connected()),
        )
        manager = context.pipeline.alerts
        alerts = GaugeMetricFamily(
            "twin_open_alerts", "unresolved alerts", labels=["severity", "state"]
        )
        tally = Counter((a.severity.value, a.state.value) for a in manager.open_alerts())
        for (severity, state), n in sorted(tally.items()):
            alerts.add_metric([severity, state], n)
        yield alerts
        yield GaugeMetricFamily(
            "twin_open_incidents", "open incidents", value=len(manager.incidents.open_incidents())
        )
        notices = CounterMetricFamily(
            "twin_notification_attempts",
            "alert notice delivery attempts, by channel and outcome",
            labels=["channel", "outcome"],
        )
        for (channel, ok), n in sorted(context.notices.attempts.items()):
            notices.add_metric([channel, "delivered" if ok else "failed"], n)
        yield notices
        yield GaugeMetricFamily(
            "twin_live_stream_clients", "clients on the live stream", value=context.hub.clients
        )


def exposition(context: TwinContext) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TwinCollector(context))
    return generate_latest(registry)
