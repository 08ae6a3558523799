"""The packager's frame clock: speakers' frames placed in time slots, gaps filled with silence.

HLS players stall when a playlist stops advancing, so the packager writes one
frame (`audio.frame_ms` of audio) per slot of its own clock, whether or not a
speaker's frame arrived for it. It writes `packager.jitter_ms` behind the live
edge, so frames that arrive a little late still make it.

A speaker's frame `seq` belongs in slot `anchor + seq`. The anchor is taken from
the slot in which the speaker's first frame arrived, so the speaker's own clock
(which may be skewed) never matters, only its frame numbers. A frame that would
land in a slot already written (it is later than the jitter allows) or far in
the future moves its speaker's anchor instead of being lost. Several speakers in
one slot are mixed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

SILENCE_FLOOR_DBFS = -120.0
"""Level reported for digital silence (all-zero samples)."""


def level_dbfs(samples: np.ndarray) -> float:
    """The RMS level of 16-bit samples in dB relative to full scale.

    Args:
        samples: `int16` samples.

    Returns:
        The level, at least `SILENCE_FLOOR_DBFS`.
    """
    if len(samples) == 0:
        return SILENCE_FLOOR_DBFS
    rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64)))) / 32768.0
    return max(SILENCE_FLOOR_DBFS, 20 * math.log10(rms)) if rms > 0 else SILENCE_FLOOR_DBFS


class FrameClock:
    """Slot numbers of a fixed-rate frame clock.

    Args:
        frame_ms: Slot length.
        clock: Monotonic clock in seconds.
    """

    def __init__(self, frame_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.frame_s = frame_ms / 1000
        self._clock = clock
        self.start = clock()

    def now_slot(self) -> int:
        """The slot the clock is in now."""
        return int((self._clock() - self.start) / self.frame_s)

    def time_of(self, slot: int) -> float:
        """When a slot starts, on the monotonic clock.

        Args:
            slot: The slot.

        Returns:
            Seconds.
        """
        return self.start + slot * self.frame_s


class SlotBuffer:
    """Speakers' decoded frames waiting for their slot.

    Args:
        frame_samples: Samples per frame.
        max_ahead_slots: A frame placed further than this beyond its arrival slot re-anchors its speaker.

    Attributes:
        reanchors: Times a speaker's anchor moved (late or far-ahead frames, a new speaker).
    """

    def __init__(self, frame_samples: int, max_ahead_slots: int) -> None:
        self.frame_samples = frame_samples
        self.max_ahead_slots = max_ahead_slots
        self.reanchors = 0
        self._anchors: dict[int, int] = {}
        self._slots: dict[int, np.ndarray] = {}

    def add(self, source: int, seq: int, samples: np.ndarray, arrival_slot: int, next_slot: int) -> int:
        """Place a speaker's decoded frame.

        Args:
            source: The speaker's stream id.
            seq: The frame's number in that stream.
            samples: Its decoded samples (`int16`; longer or shorter frames are cut or padded).
            arrival_slot: The clock's slot when it arrived.
            next_slot: The next slot the writer will write (earlier slots are gone).

        Returns:
            The slot it was placed in.
        """
        anchor = self._anchors.get(source)
        slot = anchor + seq if anchor is not None else None
        if slot is None or slot < next_slot or slot > arrival_slot + self.max_ahead_slots:
            anchor = max(arrival_slot, next_slot) - seq
            self._anchors[source] = anchor
            self.reanchors += 1
            slot = anchor + seq
        frame = np.zeros(self.frame_samples, dtype=np.int32)
        count = min(len(samples), self.frame_samples)
        frame[:count] = samples[:count]
        mixed = self._slots.get(slot)
        self._slots[slot] = frame if mixed is None else mixed + frame
        return slot

    def take(self, slot: int) -> np.ndarray | None:
        """Remove and return a slot's mix, and forget anything older.

        Args:
            slot: The slot being written.

        Returns:
            The mixed `int16` samples, or `None` if no speaker's frame arrived for it.
        """
        mixed = self._slots.pop(slot, None)
        for stale in [s for s in self._slots if s < slot]:
            del self._slots[stale]
        if mixed is None:
            return None
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    @property
    def pending(self) -> int:
        """Slots holding frames not yet written."""
        return len(self._slots)
