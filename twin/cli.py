"""The `twin` command line."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from twin.device_commands import devices_app
from twin.registration_commands import buildings_app, sensors_app
from twin.settings import StartupError, TwinOptions
from twin.token_commands import tokens_app

app = typer.Typer(
    help="A live digital twin for heritage buildings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that print their figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(buildings_app, name="buildings")
app.add_typer(sensors_app, name="sensors")
app.add_typer(tokens_app, name="tokens")
app.add_typer(devices_app, name="devices")


def _headless_rendering() -> None:
    """Without a display VTK tries X first and prints a warning before it falls back to EGL:
    ask for EGL straight away. Only for commands that render offscreen and start no
    programs of their own (the variable is inherited); a user's own setting wins."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


HostOpt = Annotated[str, typer.Option(help="Address the API listens on.")]
PortOpt = Annotated[int, typer.Option(help="Port the API listens on.")]
DbOpt = Annotated[Path, typer.Option(help="SQLite database file (created if missing).")]
SpeedOpt = Annotated[
    float, typer.Option(help="Simulated seconds per wall-clock second until caught up with now.")
]
SmtpOpt = Annotated[
    str | None,
    typer.Option(help="Alert mail server: smtp://[user:pass@]host[:port]?from=twin@example.org"),
]
PublicUrlOpt = Annotated[
    str | None,
    typer.Option(help="The API's address as people reach it, for links in alert notices."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(envvar="TWIN_TOKEN", help="API token (twin_...) for --api; or set TWIN_TOKEN."),
]
CorsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cors-origin",
        help="A browser origin (https://ops.example.org) allowed to call the API from "
        "another site; repeatable. None by default.",
    ),
]


def _logging(verbose: bool) -> None:
    from twin.logs import configure

    # TWIN_LOG_FORMAT=json: one JSON object a line, for log collectors.
    configure(verbose=verbose, json_lines=os.environ.get("TWIN_LOG_FORMAT") == "json")


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
    smtp_url: SmtpOpt = None,
    public_url: PublicUrlOpt = None,
    cors_origin: CorsOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    """Everything in one process: broker, SQLite, simulator, ingest, detection, alerts, API.
    Prints a fresh admin token and writes it, with the URLs, to demo-credentials.json
    beside the database."""
    _logging(verbose)
    options = TwinOptions(
        host=host,
        port=port,
        db=db,
        mqtt_url=mqtt_url,
        mqtt_port=mqtt_port,
        speed=speed,
        smtp_url=smtp_url,
        public_url=public_url,
        cors_origins=tuple(cors_origin or ()),
    )
    _run(options)


def _run(options: TwinOptions) -> None:
    from twin.broker import BrokerPortError
    from twin.runtime import run_twin

    _headless_rendering()
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
    smtp_url: SmtpOpt = None,
    public_url: PublicUrlOpt = None,
    cors_origin: CorsOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Ingest, detection, alerts and the API against a running broker, on the wall clock.
    API tokens come from `twin tokens add`."""
    _logging(verbose)
    _run(
        TwinOptions(
            host=host,
            port=port,
            db=db,
            mqtt_url=mqtt_url,
            simulate=False,
            smtp_url=smtp_url,
            public_url=public_url,
            demo_credentials=False,
            cors_origins=tuple(cors_origin or ()),
        )
    )


@app.command()
def ingest(
    database_url: Annotated[
        str, typer.Option(envvar="TWIN_DATABASE_URL", help="sqlite:///path or postgresql://...")
    ],
    mqtt_url: Annotated[
        str, typer.Option(envvar="TWIN_MQTT_URL", help="Broker the devices publish to.")
    ],
    client_id: Annotated[
        str,
        typer.Option(
            envvar="TWIN_INGEST_ID",
            help="Fixed per instance: the broker keeps this session's unacknowledged messages.",
        ),
    ] = "twin-ingest-1",
    share_group: Annotated[
        str | None,
        typer.Option(
            help="MQTT 5 shared-subscription group, so several instances split the load. "
            "Off by default: Mosquitto 2.0.11 drops a group's messages that arrive after a "
            "broker restart until a member resubscribes (tests/twin/test_ingest_durability.py).",
        ),
    ] = None,
    spool_dir: Annotated[
        Path | None, typer.Option(help="Local spool for when the database is down.")
    ] = None,
    spool_max_mb: Annotated[float, typer.Option(help="Spool size before back-pressure.")] = 256,
    smtp_url: Annotated[
        str | None,
        typer.Option(envvar="TWIN_SMTP_URL", help="Alert mail server (see `twin demo --help`)."),
    ] = None,
    public_url: Annotated[
        str,
        typer.Option(envvar="TWIN_PUBLIC_URL", help="The API's address, for links in notices."),
    ] = "http://127.0.0.1:8000",
    no_detect: Annotated[
        bool,
        typer.Option(
            "--no-detect",
            hidden=True,
            help="Store readings without detection or alerts. It exists for `twin bench "
            "ingest`, to measure the CPU detection adds; never run a twin like this.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Ingest, detection, alerts and their notices as their own process (no API)."""
    from twin.ingest_service import run_ingest

    _logging(verbose)
    try:
        asyncio.run(
            run_ingest(
                database_url,
                mqtt_url,
                client_id=client_id,
                share_group=share_group or None,
                spool_dir=spool_dir or Path("var/spool") / client_id,
                spool_max_bytes=int(spool_max_mb * 1024 * 1024),
                smtp_url=smtp_url,
                public_url=public_url,
                detect=not no_detect,
            )
        )
    except StartupError as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


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
    at: Annotated[
        str | None, typer.Option(help="Moment to show (ISO 8601 or epoch s); wins over hours.")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help="Render a running twin's stored data (its API URL).")
    ] = None,
    building_id: Annotated[str | None, typer.Option("--building", help="With --api.")] = None,
    token: TokenOpt = None,
) -> None:
    """Render a building offscreen for a metric and a moment: a running twin's data with
    --api, else the Nanjing Building with simulated values."""
    from models.nanjing import load_nanjing
    from sensors.simulator import SensorModel
    from viewer.snapshot import render_snapshot

    _headless_rendering()
    if api is not None:
        from twin.viewer_commands import api_snapshot

        try:
            line = api_snapshot(
                api,
                output,
                metric,
                highlight=highlight,
                at=at,
                building_id=building_id,
                token=token,
            )
        except (OSError, LookupError) as exc:  # urllib's and the API's errors are OSErrors
            typer.secho(f"Error: cannot snapshot {api}: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        typer.echo(line)
        return
    mesh, building = load_nanjing()
    t = time.time() - hours_ago * 3600
    if at is not None:
        from twin.deps import parse_time

        t = parse_time(at, "at")
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


@app.command("eval")
def eval_(
    path: Annotated[
        Path | None, typer.Argument(help="A folder in the NAB layout (data/, labels/).")
    ] = None,
    scenarios: Annotated[
        bool, typer.Option("--scenarios", help="Run the simulator's labelled scenario suite.")
    ] = False,
    nab_results: Annotated[
        Path | None, typer.Option(help="Write NAB results files for detector 'twin' here.")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per scenario.")] = 5,
    case: Annotated[
        list[str] | None, typer.Option(help="Only these scenarios (repeatable).")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes for the scenario suite.")] = 1,
) -> None:
    """Score the detectors event by event: precision, recall, F1 and detection delay."""
    from alerts.rules import load_rules
    from sensors.scenarios import SUITE
    from twin.eval import evaluate_suite, nab_report, suite_report

    def progress(line: str) -> None:
        typer.echo(line, err=True)

    if scenarios == (path is not None):
        raise typer.BadParameter("give either --scenarios or a NAB folder PATH")
    if nab_results is not None and path is None:
        raise typer.BadParameter("--nab-results goes with a NAB folder PATH")
    if path is not None:
        for line in nab_report(path, load_rules(), nab_results, progress):
            typer.echo(line)
        return
    names = case or list(SUITE)
    unknown = sorted(set(names) - set(SUITE))
    if unknown:
        raise typer.BadParameter(f"unknown scenario {unknown}; known: {sorted(SUITE)}")
    per_case = evaluate_suite(names, range(1, seeds + 1), jobs=jobs, progress=progress)
    for line in suite_report(per_case):
        typer.echo(line)


@bench_app.command("detect")
def bench_detect_(
    runs: Annotated[int, typer.Option(help="Runs; the median is reported.")] = 5,
    hours: Annotated[float, typer.Option(help="Simulated hours of readings to time.")] = 12.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Streaming readings/s through all detectors of a channel, and waveform blocks/s."""
    import json

    from twin.bench_detect import bench_detect

    result = bench_detect(runs=runs, hours=hours, progress=lambda s: typer.echo(s, err=True))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"detection: {result['readings_per_s']:,.0f} readings/s on one core "
        f"({result['channels']} channels, {result['detectors_per_channel_mean']:.1f} detectors "
        f"per channel on average, up to {result['detectors_per_channel_max']})"
    )
    typer.echo(
        f"waveform features: {result['waveform_blocks_per_s']:,.0f} blocks/s "
        f"({result['waveform_block']})"
    )


@app.command()
def view(
    api: Annotated[
        str, typer.Option(help="URL of a running twin's API.")
    ] = "http://127.0.0.1:8000",
    building_id: Annotated[str | None, typer.Option("--building", help="Default: first.")] = None,
    refresh_s: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    frames: Annotated[int | None, typer.Option(help="Close after this many refreshes.")] = None,
    screenshot: Annotated[Path | None, typer.Option(help="PNG written before closing.")] = None,
    token: TokenOpt = None,
) -> None:
    """Open a live 3D window on a running twin: metric switcher (slider, keys m/n), open
    alerts, click a sensor for its values and 24 h chart."""
    from twin.viewer_commands import open_desktop_viewer

    try:
        open_desktop_viewer(
            api, building_id, refresh_s=refresh_s, token=token, frames=frames, screenshot=screenshot
        )
    except (OSError, LookupError) as exc:  # urllib's errors are OSErrors
        typer.secho(f"Error: cannot open {api}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@bench_app.command("viewer")
def bench_viewer_(
    frames: Annotated[int, typer.Option(help="Frames per fps figure; the median counts.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Colour update ms (1M vertices x 500 sensors) and offscreen fps at 1280x720."""
    import json

    from twin.viewer_commands import bench_viewer

    result = bench_viewer(frames=frames, progress=lambda s: typer.echo(s, err=True))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"colour update, 1M vertices x 500 sensors: {result['color_update_ms_1m']:.2f} ms")
    typer.echo(f"Nanjing Building, 1280x720 offscreen: {result['fps_nanjing']:.1f} fps")
    typer.echo(f"1M-triangle facade, 1280x720 offscreen: {result['fps_1m_tris']:.1f} fps")


@bench_app.command("ingest")
def bench_ingest_(
    duration_s: Annotated[
        float, typer.Option("--duration", help="Seconds per phase (60 for the sustained figure).")
    ] = 20.0,
    quick: Annotated[bool, typer.Option(help="Short smoke run (1 s phases).")] = False,
    mqtt_url: Annotated[
        str | None, typer.Option(help="Use this broker, not a private one.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Use this PostgreSQL, not a private one.")
    ] = None,
    detect_load: Annotated[
        float | None,
        typer.Option(
            help="Readings/s offered to the detection CPU phase "
            "[default: 100,000; 10,000 with --quick]."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ingest end to end (batched and single-record, QoS 1) against the raw broker and raw
    COPY measured in the same run, latency at half load, ingest's peak RSS, and the CPU per
    reading that detection adds to ingest at a fixed load."""
    import json

    from twin.bench_ingest import bench_ingest, report

    result = bench_ingest(
        duration_s=duration_s,
        quick=quick,
        mqtt_url=mqtt_url,
        database_url=database_url,
        detect_load=detect_load,
        progress=lambda s: typer.echo(s, err=True),
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for line in report(result):
        typer.echo(line)


@bench_app.command("alerts")
def bench_alerts_(
    probes: Annotated[int, typer.Option(help="Hazardous readings to time.")] = 40,
    gap_s: Annotated[float, typer.Option("--gap", help="Seconds between probes.")] = 0.5,
    mqtt_url: Annotated[
        str | None, typer.Option(help="Use this broker, not the demo's embedded one.")
    ] = None,
    settle_s: Annotated[
        float,
        typer.Option("--settle", help="Wait at most this long for the demo's own alerts."),
    ] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Hazardous reading published -> alert event on the live stream and webhook delivered,
    with the demo (simulator at 60x) running in the same process; p50/p99 in ms."""
    import json

    from twin.bench_alerts import bench_alerts, report

    _headless_rendering()  # the demo inside serves the web viewer
    result = bench_alerts(
        probes=probes,
        gap_s=gap_s,
        mqtt_url=mqtt_url,
        settle_s=settle_s,
        progress=lambda s: typer.echo(s, err=True),
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for line in report(result):
        typer.echo(line)
