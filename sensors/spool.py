"""A bounded on-disk spool of batches that could not be stored, replayed in order.

A batch is durable once ``append`` returns: it is written to a temporary file, fsynced and
renamed into place, so a crash leaves either the whole segment or none of it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from models.types import DeadLetter, Reading, WaveformBlock


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    readings: list[Reading]
    dead_letters: list[DeadLetter]
    waveforms: list[WaveformBlock]


class Spool:
    """Segments ``{seq}.json`` in one directory, oldest first, at most ``max_bytes`` in all."""

    def __init__(self, directory: Path, *, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.tmp"):  # a crash mid-write: never acknowledged
            leftover.unlink()
        self._segments = sorted(directory.glob("*.json"))
        self._bytes = sum(p.stat().st_size for p in self._segments)
        self._next = int(self._segments[-1].stem) + 1 if self._segments else 0

    @property
    def empty(self) -> bool:
        return not self._segments

    @property
    def depth(self) -> int:
        """Segments waiting to be replayed."""
        return len(self._segments)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def append(
        self,
        readings: list[Reading],
        dead_letters: list[DeadLetter],
        waveforms: list[WaveformBlock] | None = None,
        *,
        force: bool = False,
    ) -> bool:
        """Write one batch durably; False (nothing written) when the spool is full."""
        body = json.dumps(
            {
                "readings": [[r.channel_id, r.time, r.value] for r in readings],
                "dead_letters": [
                    [
                        d.time,
                        d.reason,
                        d.topic,
                        d.device_id,
                        d.detail,
                        base64.b64encode(d.payload).decode(),
                    ]
                    for d in dead_letters
                ],
                "waveforms": [
                    [w.sensor_id, w.axis, w.t0, w.rate_hz, list(w.samples)] for w in waveforms or ()
                ],
            },
            separators=(",", ":"),
        ).encode()
        if not force and self._segments and self._bytes + len(body) > self.max_bytes:
            return False
        final = self.directory / f"{self._next:012d}.json"
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        temporary.rename(final)
        _fsync_directory(self.directory)
        self._next += 1
        self._segments.append(final)
        self._bytes += len(body)
        return True

    def first_path(self) -> Path | None:
        return self._segments[0] if self._segments else None

    def oldest(self) -> Segment | None:
        if not self._segments:
            return None
        path = self._segments[0]
        data = json.loads(path.read_bytes())
        return Segment(
            path,
            [Reading(c, t, v) for c, t, v in data["readings"]],
            [
                DeadLetter(t, reason, topic, device, detail, base64.b64decode(payload))
                for t, reason, topic, device, detail, payload in data["dead_letters"]
            ],
            [
                WaveformBlock(sensor, axis, t0, rate, tuple(samples))
                for sensor, axis, t0, rate, samples in data.get("waveforms", ())
            ],
        )

    def set_aside(self, path: Path, reason: str) -> Path:
        """Move a segment the store refuses (or that cannot be read) to ``failed/``, with a note
        of why: kept for an operator, out of the way of the segments behind it."""
        failed = self.directory / "failed"
        failed.mkdir(exist_ok=True)
        target = failed / path.name
        size = path.stat().st_size
        path.rename(target)
        target.with_suffix(".why.txt").write_text(reason + "\n")
        _fsync_directory(failed)
        if path in self._segments:
            self._segments.remove(path)
            self._bytes -= size
        return target

    def set_aside_batch(
        self,
        readings: list[Reading],
        dead_letters: list[DeadLetter],
        waveforms: list[WaveformBlock],
        reason: str,
    ) -> Path:
        """Write a batch the store refuses straight to ``failed/`` (durable, not replayed)."""
        self.append(readings, dead_letters, waveforms, force=True)
        return self.set_aside(self._segments[-1], reason)

    def remove(self, segment: Segment) -> None:
        """Drop a replayed segment (always the oldest)."""
        size = segment.path.stat().st_size
        segment.path.unlink()
        self._segments.remove(segment.path)
        self._bytes -= size


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
