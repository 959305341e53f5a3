"""The `twin` command line."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from twin.settings import StartupError, TwinOptions

app = typer.Typer(
    help="A live digital twin for heritage buildings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that print their figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

HostOpt = Annotated[str, typer.Option(help="Address the API listens on.")]
PortOpt = Annotated[int, typer.Option(help="Port the API listens on.")]
DbOpt = Annotated[Path, typer.Option(help="SQLite database file (created if missing).")]
SpeedOpt = Annotated[
    float, typer.Option(help="Simulated seconds per wall-clock second until caught up with now.")
]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def demo(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    mqtt_port: Annotated[int, typer.Option(help="Port of the embedded MQTT broker.")] = 1883,
    mqtt_url: Annotated[
        str | None,
        typer.Option(help="Use this broker (mqtt://host:port) instead of embedding one."),
    ] = None,
    speed: SpeedOpt = 60.0,
    db: DbOpt = Path("var/twin.db"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    """Everything in one process: broker, SQLite, simulator, ingest, detection, alerts, API."""
    _logging(verbose)
    options = TwinOptions(
        host=host, port=port, db=db, mqtt_url=mqtt_url, mqtt_port=mqtt_port, speed=speed
    )
    _run(options)


def _run(options: TwinOptions) -> None:
    from twin.broker import BrokerPortError
    from twin.runtime import run_twin

    try:
        asyncio.run(run_twin(options))
    except (BrokerPortError, StartupError) as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    mqtt_url: Annotated[str, typer.Option(help="Broker the devices publish to.")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    db: DbOpt = Path("var/twin.db"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Ingest, detection, alerts and the API against a running broker, on the wall clock."""
    _logging(verbose)
    _run(TwinOptions(host=host, port=port, db=db, mqtt_url=mqtt_url, simulate=False))


@app.command()
def simulate(
    mqtt_url: Annotated[str, typer.Option(help="Broker to publish to.")] = "mqtt://127.0.0.1:1883",
    speed: SpeedOpt = 60.0,
    hours_ago: Annotated[
        float | None, typer.Option(help="Start this many hours ago (default: last 21:45 Shanghai).")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Hazards to inject (repeatable); default all.")
    ] = None,
) -> None:
    """Publish realistic readings for every sensor of the Nanjing Building."""
    from models.nanjing import load_nanjing
    from sensors.mqtt import MqttEndpoint
    from sensors.simulator import SCENARIOS, SimClock, Simulator, default_start

    _logging(True)
    names = scenario or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise typer.BadParameter(f"unknown scenario {unknown}; known: {sorted(SCENARIOS)}")
    _, building = load_nanjing()
    now = time.time()
    start = now - hours_ago * 3600 if hours_ago is not None else default_start(now)
    clock = SimClock(start, speed)
    sim = Simulator(
        building,
        MqttEndpoint.from_url(mqtt_url),
        clock,
        scenarios=[SCENARIOS[n](building, start) for n in names],
    )
    typer.echo(
        f"Simulating {len(building.sensors)} sensors at {speed:g}x to {mqtt_url}; Ctrl-C stops."
    )
    try:
        asyncio.run(sim.run())
    except KeyboardInterrupt:
        typer.echo(f"Stopped after {sim.published} readings.")


@app.command()
def snapshot(
    output: Annotated[Path, typer.Argument(help="PNG file to write.")],
    metric: Annotated[str, typer.Option(help="Metric to colour by.")] = "t",
    highlight: Annotated[str | None, typer.Option(help="Sensor id to mark.")] = None,
    hours_ago: Annotated[float, typer.Option(help="Moment to show, in simulated data.")] = 0.0,
) -> None:
    """Render the Nanjing Building offscreen, coloured by simulated values of a metric."""
    from models.nanjing import load_nanjing
    from sensors.simulator import SensorModel
    from viewer.snapshot import render_snapshot

    mesh, building = load_nanjing()
    t = time.time() - hours_ago * 3600
    model = SensorModel()
    values = {
        s.id: model.value(s, ch.metric, t)
        for s in building.sensors
        for ch in s.channels
        if ch.metric == metric
    }
    output.write_bytes(
        render_snapshot(
            mesh, building.sensors, values, metric, highlight=highlight, title=building.name
        )
    )
    typer.echo(f"Wrote {output} ({metric}, {len(values)} sensors)")
