"""Packaging one space: subscribe like a listener, keep the frame clock, write HLS, count.

Two tasks per space. The subscription is a `chorus.client.Listener` in role
`packager` (admitted ahead of listeners, with the packager's service token): it joins
through the gateway, follows drains and lost connections back through it, and
hands over every message's frames, which are decoded (Opus, one decoder per
speaker) and placed on the frame clock. The clock writes one frame per
`audio.frame_ms`, `packager.jitter_ms` behind live: the speakers' mix, or
silence when no frame arrived - so the playlist keeps advancing when speakers
are quiet, when the subscription is reconnecting and when the feed stalls.

When writing fails (the volume is full or unwritable), the clock does not die:
it logs `hls_write_failed` (with the space and the error), counts
`chorus_packager_write_errors_total`, drops the broken writer and its slots,
and opens a fresh playlist again with jittered exponential backoff (at most
`packager.retry_max_s` apart) until that succeeds (`hls_write_recovered`).
Meanwhile the playlist does not advance, so its age shows the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from chorus.audio import OpusDecoder
from chorus.client import GatewayClient, GatewayError, Listener
from chorus.config import ChorusConfig
from chorus.fanout.upstream import backoff_s
from chorus.logs import log_event
from chorus.metrics import PackagerMetrics
from chorus.packager.hls import HlsWriter
from chorus.packager.slots import FrameClock, SlotBuffer, level_dbfs
from chorus.protocol import Frame

MAX_CATCH_UP_SLOTS = 250
"""Most slots written in one go after the event loop fell behind (5 s at 20 ms)."""


class SpacePackager:
    """Writes one space's HLS.

    Args:
        space: The space id.
        config: The whole configuration (`packager` and `audio` are used).
        gateway: The gateway client to join with.
        directory: The space's output directory.
        metrics: The packager's metrics.
        run_id: The packager run's id (in segment names).
        user: The user name the packager joins as.
        logger: Event logger.

    Attributes:
        space: The space id.
        directory: The space's output directory.
        writer: The HLS writer; `None` while writing fails and before the first slot.
        listener: The current subscription (a listener of the space).
        frames: Frames written, silence included.
        silence_frames: Frames that were silence (none arrived, or quieter than the threshold).
        segments: Segments added to the playlist, across writers.
        write_error: The last write failure, while writing fails; `None` when writing works.
        write_failures: Failed write attempts so far.
        ended: Whether the space ended.
    """

    def __init__(
        self,
        space: str,
        config: ChorusConfig,
        gateway: GatewayClient,
        directory: Path,
        metrics: PackagerMetrics,
        run_id: str,
        user: str = "packager",
        logger: logging.Logger | None = None,
    ) -> None:
        self.space = space
        self.config = config
        self.gateway = gateway
        self.metrics = metrics
        self.user = user
        self.log = logger or logging.getLogger("chorus")
        self.directory = directory
        self.run_id = run_id
        self.writer: HlsWriter | None = None
        self.listener: Listener | None = None
        self.frames = 0
        self.silence_frames = 0
        self.segments = 0
        self.write_error: str | None = None
        self.write_failures = 0
        self.ended = False
        self._media_sequence = 0
        self._failing_since = 0.0
        self._failure_streak = 0
        self._retry_at = 0.0
        audio = config.audio
        self._frame_samples = audio.frame_samples
        self._silence = np.zeros(audio.frame_samples, dtype=np.int16)
        self._jitter_slots = max(1, -(-config.packager.jitter_ms // audio.frame_ms))
        self._clock = FrameClock(audio.frame_ms)
        self._buffer = SlotBuffer(audio.frame_samples, max_ahead_slots=self._jitter_slots + 5 * 1000 // audio.frame_ms)
        self._decoders: dict[int, OpusDecoder] = {}
        self._next_slot = 0
        self._started = time.monotonic()
        self._advanced_at = self._started
        self._tasks: list[asyncio.Task[None]] = []
        self._rng = random.Random()
        self._past_reconnects = 0
        self._reconnects_counted = 0

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the subscription and the frame clock."""
        self._tasks = [asyncio.create_task(self._subscribe()), asyncio.create_task(self._tick_forever())]
        log_event(self.log, "packaging_started", space=self.space, directory=str(self.directory))

    async def stop(self) -> None:
        """Stop both tasks and end the playlist (players see `#EXT-X-ENDLIST`)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.writer is not None:
            try:
                self._count_segments(self.writer.close())
            except Exception as exc:  # the playlist cannot be ended: say so, stop anyway
                log_event(self.log, "hls_write_failed", level=logging.ERROR, space=self.space, during="close",
                          error=f"{exc.__class__.__name__}: {exc}")
        for metric in (self.metrics.frames, self.metrics.silence_frames, self.metrics.segments,
                       self.metrics.playlist_age, self.metrics.upstream_connected, self.metrics.upstream_reconnects,
                       self.metrics.write_errors):
            with contextlib.suppress(KeyError):
                metric.remove(self.space)
        log_event(self.log, "packaging_stopped", space=self.space, frames=self.frames, silence_frames=self.silence_frames,
                  segments=self.segments)

    # ----------------------------------------------------------------- state

    @property
    def upstream_connected(self) -> bool:
        """Whether the subscription's media connection is open."""
        return self.listener is not None and self.listener.connected.is_set()

    @property
    def reconnects(self) -> int:
        """Times the subscription joined again after losing its connection."""
        return self._past_reconnects + (self.listener.log.reconnects if self.listener else 0)

    @property
    def playlist_age_s(self) -> float:
        """Seconds since the playlist last gained a segment (since start, before the first)."""
        return time.monotonic() - self._advanced_at

    def status(self) -> dict[str, Any]:
        """The space's packaging state, as served on `/v1/status`.

        Returns:
            A JSON-ready mapping.
        """
        return {
            "space": self.space,
            "playlist": f"/hls/{self.space}/index.m3u8",
            "frames": self.frames,
            "silence_frames": self.silence_frames,
            "segments": self.segments,
            "media_sequence": self.writer.media_sequence if self.writer is not None else self._media_sequence,
            "write_error": self.write_error,
            "write_failures": self.write_failures,
            "playlist_age_s": round(self.playlist_age_s, 2),
            "upstream_connected": self.upstream_connected,
            "upstream_reconnects": self.reconnects,
            "speakers_heard": len(self._decoders),
            "reanchors": self._buffer.reanchors,
            "ended": self.ended,
        }

    # ----------------------------------------------------------------- subscription

    async def _subscribe(self) -> None:
        """Listen to the space until it ends, joining again (with backoff) after any failure."""
        failures = 0
        while not self.ended:
            self.listener = Listener(self.gateway, self.space, self.user, self._on_frames, max_join_wait_s=30.0,
                                     role="packager" if self.gateway.service == "packager" else "listener")
            try:
                log = await self.listener.run(None)
                if log.ended:
                    self.ended = True
                    log_event(self.log, "space_ended", space=self.space)
                    return
                failures = 0
            except GatewayError as exc:
                if exc.status in (404, 410):
                    self.ended = True
                    return
                if failures == 0:
                    log_event(self.log, "subscription_failed", level=logging.WARNING, space=self.space, error=str(exc))
            except Exception as exc:  # the clock must keep writing whatever the subscription does
                log_event(self.log, "subscription_failed", level=logging.ERROR, space=self.space,
                          error=f"{exc.__class__.__name__}: {exc}")
            self._past_reconnects += self.listener.log.reconnects + 1
            await asyncio.sleep(backoff_s(failures, 0.2, self.config.packager.retry_max_s, self._rng))
            failures += 1

    def _on_frames(self, frames: list[Frame]) -> None:
        """Decode received frames and place them on the clock."""
        arrival = self._clock.now_slot()
        for frame in frames:
            decoder = self._decoders.get(frame.source)
            if decoder is None:
                decoder = self._decoders[frame.source] = OpusDecoder(self.config.audio)
            samples = decoder.decode(frame.payload)
            if len(samples):
                self._buffer.add(frame.source, frame.seq, samples, arrival, self._next_slot)

    # ----------------------------------------------------------------- frame clock

    async def _tick_forever(self) -> None:
        """Write every slot that is `jitter` behind the clock, once per frame; survive write failures."""
        while True:
            due = self._clock.now_slot() - self._jitter_slots
            if due - self._next_slot > MAX_CATCH_UP_SLOTS:
                self._next_slot = due - MAX_CATCH_UP_SLOTS
            if self.writer is None and time.monotonic() >= self._retry_at:
                self._open_writer()
            if self.writer is None:  # writing fails: these slots are lost, the playlist does not advance
                self._buffer.take(due)
                self._next_slot = due + 1
            while self.writer is not None and self._next_slot <= due:
                try:
                    self._write_slot(self._next_slot)
                except Exception as exc:  # a full or unwritable volume: the clock must not die with it
                    self._write_failed(exc, "write")
                self._next_slot += 1
            self._refresh_gauges()
            wake = self._clock.time_of(self._next_slot + self._jitter_slots)
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    def _open_writer(self) -> None:
        """Open the space's playlist (again, after a failure); on failure, schedule the next try."""
        try:
            self.writer = HlsWriter(self.directory, self.config.packager, self.config.audio, self.run_id)
        except Exception as exc:
            self._write_failed(exc, "open")
            return
        if self.write_error is not None:
            log_event(self.log, "hls_write_recovered", space=self.space, failures=self._failure_streak,
                      down_s=round(time.monotonic() - self._failing_since, 1))
        self.write_error = None
        self._failure_streak = 0

    def _write_failed(self, exc: Exception, during: str) -> None:
        """Log and count a write failure, drop the writer, and schedule a retry with backoff."""
        error = f"{exc.__class__.__name__}: {exc}"
        if self.write_error is None:
            self._failing_since = time.monotonic()
        self.write_error = error
        self.write_failures += 1
        self.metrics.write_errors.labels(space=self.space).inc()
        delay = backoff_s(self._failure_streak, 0.2, self.config.packager.retry_max_s, self._rng)
        self._failure_streak += 1
        self._retry_at = time.monotonic() + delay
        log_event(self.log, "hls_write_failed", level=logging.ERROR, space=self.space, during=during, error=error,
                  attempt=self._failure_streak, retry_in_s=round(delay, 2), directory=str(self.directory))
        writer, self.writer = self.writer, None
        if writer is not None:
            self._media_sequence = writer.media_sequence
            with contextlib.suppress(Exception):
                writer.close()

    def _write_slot(self, slot: int) -> None:
        """Write one slot: the speakers' mix, or silence."""
        assert self.writer is not None
        samples = self._buffer.take(slot)
        silent = samples is None or level_dbfs(samples) < self.config.packager.silence_threshold_dbfs
        self._count_segments(self.writer.write(self._silence if samples is None else samples))
        self.frames += 1
        self.metrics.frames.labels(space=self.space).inc()
        if silent:
            self.silence_frames += 1
            self.metrics.silence_frames.labels(space=self.space).inc()

    def _count_segments(self, added: int) -> None:
        """Count new segments; a new segment means the playlist advanced."""
        if added:
            self._advanced_at = time.monotonic()
            self.segments += added
            self.metrics.segments.labels(space=self.space).inc(added)

    def _refresh_gauges(self) -> None:
        """Copy playlist age and subscription state into the gauges."""
        self.metrics.playlist_age.labels(space=self.space).set(self.playlist_age_s)
        self.metrics.upstream_connected.labels(space=self.space).set(1 if self.upstream_connected else 0)
        reconnects = self.reconnects
        if reconnects > self._reconnects_counted:
            self.metrics.upstream_reconnects.labels(space=self.space).inc(reconnects - self._reconnects_counted)
            self._reconnects_counted = reconnects
