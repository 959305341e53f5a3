"""`twin bench ingest`: the twin's ingest against the raw broker and raw COPY, in one run.

Phases, each announced: raw binary COPY of the same rows (median of 3), the raw broker rate
(a plain paho subscriber draining single-record and 100-record messages, no database), then
`twin ingest` as a subprocess fed by separate publisher processes (QoS 1): batched SenML and
single-record end to end (published to committed), and publish-to-commit latency at half
the batched rate. The ingest process's RSS is sampled throughout. Last, the CPU time per
reading of a fresh ingest process with detection and of one without (`twin ingest
--no-detect`), both offered the same fixed rate. Figures are single runs on a shared
machine: read them as orders of magnitude and ratios.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from data import open_store
from models.types import Building, Channel, Sensor, SensorKind
from sensors.mqtt import MqttEndpoint
from twin.bench_ingest_workers import PublishPlan, PublishResult, drain, forget_session, publish
from twin.localservices import Mosquitto, Postgres

DEVICES = 10
METRICS = tuple(f"m{k}" for k in range(100))  # 100 channels per device: 1000 in all
PUBLISHERS = 2
COPY_RUNS = 3
LATENCY_POLL_S = 0.01
# Readings published but not yet committed before publishers pause: keeps ingest saturated
# (its in-flight window is 1000 messages) without a backlog that outlives the phase.
BACKLOG_MAX = 300_000
# The CPU comparison offers both ingest variants this fixed rate (readings/s), half ingest's
# target: fixed, so runs compare with each other (CPU per reading falls as batches grow with
# the load); half, so both keep up on a shared 2-core machine where publishers, broker and
# database compete for CPU. `--quick` offers a tenth of it.
DETECT_CPU_LOAD = 100_000.0
TARGET_READINGS_PER_S = 200_000  # issue 4's ingest target
# Each CPU run measures steady flow only: not its first seconds, where fresh detectors fill
# their windows (30 readings per channel for spikes) and first batches pay one-off costs,
# nor its last, where publishing stops.
WARMUP_S = 3.0
TAIL_S = 0.5
Progress = Callable[[str], None]


def bench_ingest(
    *,
    duration_s: float = 20.0,
    quick: bool = False,
    mqtt_url: str | None = None,
    database_url: str | None = None,
    detect_load: float | None = None,
    progress: Progress = print,
) -> dict[str, float]:
    """Run every phase and return the figures (see `twin bench ingest --help`)."""
    if detect_load is None:
        detect_load = DETECT_CPU_LOAD / 10 if quick else DETECT_CPU_LOAD
    if quick:
        duration_s = min(duration_s, 1.0)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="twin-bench-")))
        if mqtt_url is None:
            progress("starting a private Mosquitto")
            broker = Mosquitto(workdir)
            broker.start()
            stack.callback(broker.stop)
            mqtt_url = f"mqtt://127.0.0.1:{broker.port}"
        if database_url is None:
            progress("starting a private PostgreSQL")
            server = Postgres()
            stack.callback(server.remove)
            server.start()
            stack.callback(server.stop)
            database_url = server.create_database("bench")
        port = int(mqtt_url.rsplit(":", 1)[1].strip("/"))
        run = uuid.uuid4().hex[:6]  # fresh channels: an existing database never conflicts
        devices = tuple(f"bench{run}-d{i}" for i in range(DEVICES))
        keys = asyncio.run(_register(database_url, devices))
        result: dict[str, float] = {"duration_s": duration_s, "channels": len(keys)}
        result |= _raw_copy(database_url, list(keys.values()), 100_000 if quick else 1_000_000,
                            progress)  # fmt: skip
        plan = PublishPlan(port, f"bench{run}/raw", (), METRICS, True, duration_s)
        result |= _raw_broker(plan, devices, progress)
        plan = replace(plan, topic_prefix="twin/v1/devices")
        setup = (database_url, mqtt_url, workdir)  # of every ingest process
        with (
            _ingest_process(*setup, f"bench-ingest-{run}") as ingest,
            _rss_sampler(ingest.pid) as rss,
        ):
            hour = int(time.time() // 3600) * 3600
            for i, batched in enumerate((True, False)):
                name = "batched" if batched else "single"
                progress(f"phase: twin ingest, {name} messages, {duration_s:g} s")
                base = hour - 3600 * (24 + 6 * i) + 60.0  # its own hour, a day or more back
                rate = _end_to_end(
                    replace(plan, batched=batched, base_time=base), devices, database_url, keys,
                    progress,
                )  # fmt: skip
                result[f"{name}_readings_per_s"] = rate
            half = result["batched_readings_per_s"] / 2
            progress(f"phase: latency at half the batched rate, {half:,.0f} readings/s")
            result |= _latency(plan, devices, database_url, keys, half, progress)
            result["peak_rss_mb"] = _status_kb(ingest.pid, "VmHWM") / 1024
        samples = [mb for _, mb in rss]
        result |= {
            "rss_start_mb": samples[0],
            "rss_end_mb": samples[-1],
            "rss_max_mb": max(samples),
        }
        if detect_load > result["batched_readings_per_s"]:
            progress(f"  note: {detect_load:,.0f} readings/s offered to the CPU phase is more "
                     "than the batched rate just measured; a backlog will form")  # fmt: skip
        result |= _detect_cpu(setup, f"bench-ingest-{run}", plan, devices, keys, detect_load,
                              progress)  # fmt: skip
    result["single_vs_raw_broker"] = (
        result["single_readings_per_s"] / result["raw_broker_msgs_per_s"]
    )
    result["batched_vs_raw_broker"] = result["batched_readings_per_s"] / (
        result["raw_broker_batched_msgs_per_s"] * len(METRICS)
    )
    result["batched_vs_raw_copy"] = result["batched_readings_per_s"] / result["raw_copy_rows_per_s"]
    return result


def report(result: dict[str, float]) -> list[str]:
    """The table `twin bench ingest` prints."""
    r = result
    rows = [
        ("raw binary COPY, unindexed temp table", f"{r['raw_copy_rows_per_s']:,.0f} rows/s", ""),
        ("raw broker, single-record QoS 1", f"{r['raw_broker_msgs_per_s']:,.0f} msgs/s", ""),
        (
            "raw broker, 100-record QoS 1",
            f"{r['raw_broker_batched_msgs_per_s']:,.0f} msgs/s",
            f"= {r['raw_broker_batched_msgs_per_s'] * len(METRICS):,.0f} readings/s",
        ),
        (
            "twin, batched SenML (100/msg)",
            f"{r['batched_readings_per_s']:,.0f} readings/s",
            f"{r['batched_vs_raw_copy']:.2f}x raw COPY, "
            f"{r['batched_vs_raw_broker']:.2f}x raw broker",
        ),
        (
            "twin, single-record",
            f"{r['single_readings_per_s']:,.0f} readings/s",
            f"{r['single_vs_raw_broker']:.2f}x raw broker",
        ),
        (
            f"latency at {r['latency_load_readings_per_s']:,.0f} readings/s",
            f"p50 {r['p50_latency_ms']:.0f} ms, p99 {r['p99_latency_ms']:.0f} ms",
            f"poll every {r['latency_poll_ms']:.0f} ms adds up to that",
        ),
        (
            "ingest RSS",
            f"peak {r['peak_rss_mb']:.0f} MB",
            f"{r['rss_start_mb']:.0f} MB at start, {r['rss_end_mb']:.0f} MB at end",
        ),
        (
            "ingest CPU per reading, with detection",
            f"{r['ingest_cpu_us_per_reading_with_detection']:.1f} us",
            f"fresh process, {r['detect_cpu_rate_readings_per_s']:,.0f} readings/s offered",
        ),
        (
            "ingest CPU per reading, no detection",
            f"{r['ingest_cpu_us_per_reading_without_detection']:.1f} us",
            "`twin ingest --no-detect`, same load",
        ),
        (
            "CPU detection adds to ingest",
            f"{r['detect_cpu_share']:+.0%}",
            "issue 4 target: at most +30%",
        ),
        (
            f"detection at {r['target_readings_per_s']:,.0f} readings/s",
            f"{r['detect_cpu_s_per_s_at_target']:.1f} CPU-s/s",
            "its per-reading cost here times the target rate",
        ),
    ]
    width = max(len(a) for a, _, _ in rows)
    value_width = max(len(b) for _, b, _ in rows)
    lines = [f"{'':{width}}  {'figure':>{value_width}}  ratio / note"]
    lines += [f"{a:{width}}  {b:>{value_width}}  {c}".rstrip() for a, b, c in rows]
    lines.append(f"({r['duration_s']:g} s per phase, {int(r['channels'])} channels)")
    return lines


async def _register(database_url: str, devices: tuple[str, ...]) -> dict[str, int]:
    """A benchmark building, one climate sensor of 100 channels per device; channel keys."""
    sensors = tuple(
        Sensor(
            id=f"{device}-s",
            kind=SensorKind.CLIMATE,
            device_id=device,
            floor=1,
            zone="north-facade",
            position=(float(i), 0.0, 0.0),
            normal=(0.0, 0.0, 1.0),
            channels=tuple(Channel(f"{device}-s", m, "Cel") for m in METRICS),
        )
        for i, device in enumerate(devices)
    )
    building = Building(
        id=f"bench-{devices[0]}",
        name="Ingest Benchmark Hall",
        address="",
        structure_type="brick",
        noise_zone=2,
        bounds=((0.0, 0.0, 0.0), (10.0, 10.0, 10.0)),
        model="bench",
        sensors=sensors,
    )
    async with open_store(database_url) as store:
        await store.put_building(building)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, key FROM channels WHERE sensor_id = ANY(%s)", ([s.id for s in sensors],)
        ).fetchall()
    return {cid: key for cid, key in rows}


def _raw_copy(
    database_url: str, keys: list[int], rows: int, progress: Progress
) -> dict[str, float]:
    progress(f"phase: raw binary COPY, {rows:,} rows x {COPY_RUNS}")
    t0 = time.time() - 86_400 * 3
    data = [(keys[i % len(keys)], t0 + i * 1e-3, 20.5) for i in range(rows)]
    rates = []
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE bench_copy (channel_id int4, time float8, value float8)")
        conn.commit()
        for _ in range(COPY_RUNS):
            start = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy("COPY bench_copy FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(["int4", "float8", "float8"])
                for row in data:
                    copy.write_row(row)
            conn.commit()
            rates.append(rows / (time.perf_counter() - start))
            conn.execute("TRUNCATE bench_copy")
            conn.commit()
    progress(f"  raw COPY: {', '.join(f'{r:,.0f}' for r in rates)} rows/s")
    return {"raw_copy_rows_per_s": statistics.median(rates)}


def _plans(plan: PublishPlan, devices: tuple[str, ...], rate: float | None) -> list[PublishPlan]:
    """The plan split over the publishers, each owning its own devices."""
    each = None if rate is None else rate / PUBLISHERS
    return [replace(plan, devices=devices[p::PUBLISHERS], rate_msgs_per_s=each)
            for p in range(PUBLISHERS)]  # fmt: skip


@dataclass
class _Run:
    """Running publishers: set ``go`` to start; ``results`` are filled in on exit."""

    go: Any
    hold: Any  # set: publishers pause (bounds the broker's backlog for ingest)
    published: Any  # readings published so far, all publishers
    results: list[PublishResult]


@contextmanager
def _publishers(plans: list[PublishPlan]) -> Iterator[_Run]:
    ctx = mp.get_context("spawn")
    go, hold, queue, published = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Value("q", 0)
    procs = [
        ctx.Process(target=publish, args=(p, go, queue, published, hold), daemon=True)
        for p in plans
    ]
    for proc in procs:
        proc.start()
    run = _Run(go, hold, published, [])
    try:
        yield run
        run.results.extend(queue.get(timeout=120 + plans[0].duration_s) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def _raw_broker(
    plan: PublishPlan, devices: tuple[str, ...], progress: Progress
) -> dict[str, float]:
    out = {}
    ctx = mp.get_context("spawn")
    for batched in (False, True):
        name = "100-record" if batched else "single-record"
        progress(f"phase: raw broker, {name} messages, {plan.duration_s:g} s")
        ready, count, last = ctx.Event(), ctx.Value("q", 0), ctx.Value("d", 0.0)
        sub = ctx.Process(target=drain, args=(plan.port, f"{plan.topic_prefix}/#", ready, count,
                                              last), daemon=True)  # fmt: skip
        sub.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the raw subscriber did not subscribe within 30 s")
            with _publishers(_plans(replace(plan, batched=batched), devices, None)) as pubs:
                pubs.go.set()
                _report_while(_reader(count), plan.duration_s, "msgs", progress)
            res = pubs.results
            sent = sum(r.messages for r in res)
            started = min(r.started for r in res)
            deadline = time.monotonic() + 30 + plan.duration_s
            while count.value < sent and time.monotonic() < deadline:
                time.sleep(0.05)
            rate = count.value / (last.value - started)
        finally:
            sub.terminate()
            sub.join(timeout=10)
        progress(f"  raw broker: {count.value:,}/{sent:,} messages, {rate:,.0f} msgs/s")
        out["raw_broker_batched_msgs_per_s" if batched else "raw_broker_msgs_per_s"] = rate
    return out


def _reader(value: Any) -> Callable[[], int]:
    return lambda: int(value.value)


def _report_while(
    counter: Callable[[], int],
    duration_s: float,
    unit: str,
    progress: Progress,
    watch: Callable[[int], object] | None = None,
) -> None:
    """A few progress lines while publishers run; ``watch`` sees the count every 50 ms."""
    start, before = time.monotonic(), counter()
    step = max(duration_s / 4, 0.5)
    next_line = start + step
    while (now := time.monotonic()) - start < duration_s:
        time.sleep(0.05)
        count = counter()
        if watch is not None:
            watch(count)
        if now >= next_line:
            rate = (count - before) / step
            progress(f"  {now - start:5.1f} s: {count:,} {unit} ({rate:,.0f}/s)")
            before, next_line = count, next_line + step


@contextmanager
def _committed_counter(
    database_url: str, keys: dict[str, int], base: float
) -> Iterator[Callable[[], int]]:
    """Readings committed in one phase's hour: from the writer-kept 1 h rollup (updated in
    the same transaction as the readings), else count(*)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield _committed_query(conn, keys, base)


def _committed_query(
    conn: psycopg.Connection[Any], keys: dict[str, int], base: float
) -> Callable[[], int]:
    plain = conn.execute(
        "SELECT 1 FROM pg_class WHERE relname = 'readings_1h' AND relkind = 'r'"
    ).fetchone()
    query = (
        "SELECT coalesce(sum(n), 0) FROM readings_1h WHERE channel_id = ANY(%s) "
        "AND bucket >= to_timestamp(%s) AND bucket < to_timestamp(%s)"
        if plain
        else "SELECT count(*) FROM readings WHERE channel_id = ANY(%s) "
        "AND time >= to_timestamp(%s) AND time < to_timestamp(%s)"
    )
    span = (list(keys.values()), base - 3600, base + 3600)

    def committed() -> int:
        row = conn.execute(query, span).fetchone()
        return int(row[0]) if row else 0

    return committed


def _end_to_end(
    plan: PublishPlan,
    devices: tuple[str, ...],
    database_url: str,
    keys: dict[str, int],
    progress: Progress,
) -> float:
    assert plan.base_time is not None
    with _committed_counter(database_url, keys, plan.base_time) as committed:
        return _saturate(plan, devices, committed, progress)


def _saturate(
    plan: PublishPlan, devices: tuple[str, ...], committed: Callable[[], int], progress: Progress
) -> float:
    """Publish flat out (backlog bounded) for the phase; readings/s published to committed."""
    with _publishers(_plans(plan, devices, None)) as pubs:
        pubs.go.set()
        _report_while(committed, plan.duration_s, "readings committed", progress,
                      lambda done: pubs.hold.set() if pubs.published.value - done > BACKLOG_MAX
                      else pubs.hold.clear())  # fmt: skip
    res = pubs.results
    published = sum(r.readings for r in res)
    started = min(r.started for r in res)
    progress(f"  published {published:,} readings; waiting for ingest to commit them")
    deadline = time.monotonic() + 30 + 4 * plan.duration_s
    done, done_at = committed(), time.time()
    while done < published and time.monotonic() < deadline:
        time.sleep(0.05)  # this granularity adds at most 50 ms to the phase
        if (now := committed()) != done:
            done, done_at = now, time.time()
    rate = done / (done_at - started)
    progress(f"  committed {done:,}/{published:,} readings in {done_at - started:.1f} s: "
             f"{rate:,.0f} readings/s")  # fmt: skip
    if done < published:  # untimed: the next phase must not queue behind this backlog
        progress(f"  waiting for the remaining {published - done:,} readings (not timed)")
        deadline = time.monotonic() + 300
        while committed() < published and time.monotonic() < deadline:
            time.sleep(0.5)
    return rate


def _latency(
    plan: PublishPlan,
    devices: tuple[str, ...],
    database_url: str,
    keys: dict[str, int],
    readings_per_s: float,
    progress: Progress,
) -> dict[str, float]:
    """Readings carry their publish time; a poller notes when each message's first channel
    becomes visible. The visible time is taken after the poll returns, so each figure is an
    upper bound: it includes up to one poll period plus the poll query."""
    probes = [keys[f"{d}-s/{METRICS[0]}"] for d in devices]
    seen: dict[tuple[int, float], float] = {}
    polls: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        watermark = time.time() - 5
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                start = time.time()
                rows = conn.execute(
                    "SELECT channel_id, extract(epoch FROM time)::float8 FROM readings "
                    "WHERE channel_id = ANY(%s) AND time > to_timestamp(%s)",
                    (probes, watermark),
                ).fetchall()
                now = time.time()
                for key, t in rows:
                    seen.setdefault((key, round(t, 4)), now)
                if rows:  # commits are nearly in order; look back 2 s for stragglers
                    watermark = max(watermark, max(t for _, t in rows) - 2.0)
                polls.append(now - start)
                stop.wait(max(0.0, LATENCY_POLL_S - (now - start)))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    msgs_per_s = readings_per_s / len(METRICS)
    try:
        with _publishers(_plans(replace(plan, batched=True), devices, msgs_per_s)) as pubs:
            pubs.go.set()
            _report_while(lambda: len(seen), plan.duration_s, "messages seen committed", progress)
        res = pubs.results
        sent = sum(r.messages for r in res)
        deadline = time.monotonic() + 30
        while len(seen) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        poller.join(timeout=10)
    latencies_ms = sorted((at - t) * 1000 for (_, t), at in seen.items())
    if len(latencies_ms) < 2:
        raise RuntimeError(f"only {len(latencies_ms)} of {sent} messages were seen committed")
    q = statistics.quantiles(latencies_ms, n=100)
    progress(
        f"  {len(latencies_ms):,}/{sent:,} messages seen; p50 {q[49]:.0f} ms, p99 {q[98]:.0f} ms"
    )
    return {
        "p50_latency_ms": q[49],
        "p99_latency_ms": q[98],
        "max_latency_ms": latencies_ms[-1],
        "latency_load_readings_per_s": sum(r.readings for r in res) / plan.duration_s,
        "latency_poll_ms": LATENCY_POLL_S * 1000 + statistics.median(polls) * 1000,
    }


def _detect_cpu(
    setup: tuple[str, str, Path],
    client_id: str,
    plan: PublishPlan,
    devices: tuple[str, ...],
    keys: dict[str, int],
    readings_per_s: float,
    progress: Progress,
) -> dict[str, float]:
    """Ingest CPU per reading committed with detection and without, each in a fresh process
    offered the same rate; live reading times, so detectors see time move forward."""
    us: dict[bool, float] = {}
    for detect in (True, False):
        name = "with" if detect else "without"
        progress(f"phase: ingest CPU {name} detection, {readings_per_s:,.0f} readings/s, "
                 f"{plan.duration_s:g} s")  # fmt: skip
        with (
            _ingest_process(*setup, f"{client_id}-{name}-detection", detect=detect) as ingest,
            psycopg.connect(setup[0], autocommit=True) as conn,
        ):
            committed = _committed_query(conn, keys, time.time())
            us[detect] = _cpu_us_per_reading(
                ingest.pid, plan, devices, committed, readings_per_s, progress
            )
    per_reading_detect_us = us[True] - us[False]
    return {
        "ingest_cpu_us_per_reading_with_detection": us[True],
        "ingest_cpu_us_per_reading_without_detection": us[False],
        "detect_cpu_share": per_reading_detect_us / us[False],
        "detect_cpu_rate_readings_per_s": readings_per_s,
        "target_readings_per_s": TARGET_READINGS_PER_S,
        "detect_cpu_s_per_s_at_target": TARGET_READINGS_PER_S * per_reading_detect_us / 1e6,
    }


def _cpu_us_per_reading(
    pid: int,
    plan: PublishPlan,
    devices: tuple[str, ...],
    committed: Callable[[], int],
    readings_per_s: float,
    progress: Progress,
) -> float:
    """Publish batched messages at a fixed rate; CPU microseconds ``pid`` spent per reading
    committed over ``plan.duration_s`` of steady flow, after a warm-up and before the end."""
    warmup_s = min(WARMUP_S, plan.duration_s)
    publishing = replace(plan, batched=True, base_time=None,
                         duration_s=warmup_s + plan.duration_s + TAIL_S)  # fmt: skip
    before = committed()
    with _publishers(_plans(publishing, devices, readings_per_s / len(METRICS))) as pubs:
        pubs.go.set()
        time.sleep(warmup_s)
        cpu_start, done_start = _cpu_s(pid), committed()
        _report_while(lambda: committed() - done_start, plan.duration_s, "readings committed",
                      progress)  # fmt: skip
        cpu_s, done = _cpu_s(pid) - cpu_start, committed() - done_start
    published = sum(r.readings for r in pubs.results)
    deadline = time.monotonic() + 30 + 4 * plan.duration_s
    while committed() - before < published and time.monotonic() < deadline:
        time.sleep(0.05)  # untimed: the process stops with nothing left in flight
    if done == 0:
        raise RuntimeError(f"no reading was committed in {plan.duration_s:g} s")
    us = cpu_s / done * 1e6
    progress(f"  {done / plan.duration_s:,.0f} readings/s committed: {cpu_s:.2f} CPU s for "
             f"{done:,} readings, {us:.1f} us/reading")  # fmt: skip
    return us


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@contextmanager
def _ingest_process(
    database_url: str, mqtt_url: str, workdir: Path, client_id: str, *, detect: bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """`twin ingest` as its own process, stopped by SIGTERM (then SIGKILL) on exit; its
    broker session ends with it, so later phases do not queue messages for it."""
    log = workdir / f"{client_id}.log"
    args = [sys.executable, "-m", "twin", "ingest", "--database-url", database_url,
            "--mqtt-url", mqtt_url, "--client-id", client_id,
            "--spool-dir", str(workdir / "spool" / client_id),
            *(() if detect else ("--no-detect",))]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Ingesting from" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"twin ingest did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with suppress(OSError):  # the broker is gone, and the session with it
            forget_session(MqttEndpoint.from_url(mqtt_url).port, client_id)


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise LookupError(f"no {field} in /proc/{pid}/status")


@contextmanager
def _rss_sampler(pid: int, every_s: float = 0.5) -> Iterator[list[tuple[float, float]]]:
    """(time, VmRSS MB) of a process, sampled in a thread while the block runs."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                samples.append((time.time(), _status_kb(pid, "VmRSS") / 1024))
            except (OSError, LookupError):
                return
            stop.wait(every_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(timeout=5)
