"""Real audio: read and write WAV, encode and decode Opus, place frames on a timeline, compare.

Chorus carries mono Opus frames (48 kHz, 20 ms by default). PyAV's wheels
include libopus and FFmpeg's decoders, so no system FFmpeg is needed. Samples
are `numpy.int16` arrays throughout.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from chorus.config import AudioConfig


class AudioError(Exception):
    """An audio file cannot be read or written; the message names the file."""


def load_pcm(path: Path | str, sample_rate: int) -> np.ndarray:
    """Read an audio file (any format FFmpeg reads, e.g. WAV) as mono 16-bit samples.

    Args:
        path: The file.
        sample_rate: The rate to resample to, in Hz.

    Returns:
        The samples, `int16`, one channel.

    Raises:
        AudioError: The file is missing or holds no audio stream.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: the file holds no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise AudioError(f"{path}: cannot decode the audio ({exc})") from None
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, dtype=np.int16)


def write_wav(path: Path | str, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit samples as a WAV file.

    Args:
        path: The file to write (its folder must exist).
        samples: `int16` samples.
        sample_rate: The rate, in Hz.

    Raises:
        AudioError: The file cannot be written.
    """
    try:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    except OSError as exc:
        raise AudioError(f"{path}: cannot write the WAV file ({exc.strerror})") from None


def reference_signal(seconds: float, sample_rate: int = 48000, seed: int = 7) -> np.ndarray:
    """A speech-band test signal: a rising chirp under changing tones, half full scale.

    Its autocorrelation has one sharp peak, so a recording can be matched to it by
    cross-correlation even after lossy coding.

    Args:
        seconds: Duration.
        sample_rate: Rate in Hz.
        seed: Seed of the tone sequence.

    Returns:
        `int16` samples.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    chirp = np.sin(2 * np.pi * (200 * t + (1800 / (2 * max(seconds, 1e-3))) * t**2))
    tones = np.zeros_like(t)
    step = int(0.1 * sample_rate)
    for start in range(0, len(t), step):
        freq = rng.uniform(300, 3000)
        tones[start : start + step] = np.sin(2 * np.pi * freq * t[start : start + step])
    return (0.5 * 32767 * (0.6 * chirp + 0.4 * tones)).astype(np.int16)


def mono_frame(samples: np.ndarray, sample_rate: int, pts: int) -> av.AudioFrame:
    """Wrap mono `int16` samples as an FFmpeg audio frame for an encoder.

    Args:
        samples: The samples.
        sample_rate: Rate in Hz (the time base is one sample).
        pts: The frame's first sample, counted from the start of the stream.

    Returns:
        The frame.
    """
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.time_base = Fraction(1, sample_rate)
    frame.pts = pts
    return frame


class OpusEncoder:
    """Encodes fixed-size frames of mono samples into Opus packets, one packet per frame.

    Args:
        config: The `audio` configuration section (rate, frame length, bitrate).
    """

    def __init__(self, config: AudioConfig) -> None:
        self.frame_samples = config.frame_samples
        self.sample_rate = config.sample_rate
        self._context = av.CodecContext.create("libopus", "w")
        self._context.sample_rate = config.sample_rate
        self._context.layout = "mono"
        self._context.format = "s16"
        self._context.bit_rate = config.bitrate
        self._context.time_base = Fraction(1, config.sample_rate)
        self._context.options = {"frame_duration": str(config.frame_ms), "application": "voip"}
        self._context.open()
        self._pts = 0

    def encode(self, samples: np.ndarray) -> list[bytes]:
        """Encode one frame.

        Args:
            samples: Exactly `frame_samples` `int16` samples (pad the last frame with zeros).

        Returns:
            The packets the encoder produced (one per frame once it is running).
        """
        frame = mono_frame(samples, self.sample_rate, self._pts)
        self._pts += len(samples)
        return [bytes(packet) for packet in self._context.encode(frame)]

    def flush(self) -> list[bytes]:
        """Drain the encoder at the end of a stream.

        Returns:
            The remaining packets.
        """
        return [bytes(packet) for packet in self._context.encode(None)]


class OpusDecoder:
    """Decodes Opus packets into mono `int16` samples.

    Args:
        config: The `audio` configuration section.
    """

    def __init__(self, config: AudioConfig) -> None:
        self.frame_samples = config.frame_samples
        self._context = av.CodecContext.create("libopus", "r")
        self._context.sample_rate = config.sample_rate
        self._context.layout = "mono"

    def decode(self, packet: bytes) -> np.ndarray:
        """Decode one packet.

        Args:
            packet: An Opus packet.

        Returns:
            The samples (one frame's worth; silence if the packet is corrupt).
        """
        try:
            frames = self._context.decode(av.Packet(packet))
        except av.FFmpegError:
            return np.zeros(self.frame_samples, dtype=np.int16)
        if not frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def frames_of(samples: np.ndarray, frame_samples: int) -> list[np.ndarray]:
    """Cut samples into frames of `frame_samples`, padding the last with silence.

    Args:
        samples: `int16` samples.
        frame_samples: Samples per frame.

    Returns:
        The frames.
    """
    count = -(-len(samples) // frame_samples)
    padded = np.zeros(count * frame_samples, dtype=np.int16)
    padded[: len(samples)] = samples
    return [padded[i * frame_samples : (i + 1) * frame_samples] for i in range(count)]


def reference_packets(config: AudioConfig, seconds: float) -> list[bytes]:
    """The reference signal encoded as a speaker sends it: one Opus packet per frame.

    Args:
        config: The `audio` configuration section (rate, frame length, bitrate).
        seconds: Duration.

    Returns:
        The packets, in order.
    """
    encoder = OpusEncoder(config)
    samples = reference_signal(seconds, config.sample_rate)
    return [packet for frame in frames_of(samples, config.frame_samples) for packet in encoder.encode(frame)]


class Timeline:
    """Assembles received frames into one recording: each speaker's frames in sequence, gaps as silence.

    A speaker's frame number `seq` lands at `anchor + seq * frame_samples`, where the anchor
    comes from the capture time of the first frame heard from that speaker; several speakers
    are mixed.

    Args:
        config: The `audio` configuration section.
    """

    def __init__(self, config: AudioConfig) -> None:
        self.config = config
        self.frame_samples = config.frame_samples
        self._decoders: dict[int, OpusDecoder] = {}
        self._anchors: dict[int, int] = {}
        self._start_us: int | None = None
        self._pieces: list[tuple[int, np.ndarray]] = []
        self.frames = 0

    def add(self, source: int, seq: int, captured_us: int, payload: bytes) -> None:
        """Decode a frame and place it.

        Args:
            source: The speaker's stream id.
            seq: The frame's number in that stream.
            captured_us: Its capture time, microseconds since the epoch.
            payload: The Opus packet.
        """
        if self._start_us is None:
            self._start_us = captured_us
        if source not in self._decoders:
            self._decoders[source] = OpusDecoder(self.config)
            offset = round((captured_us - self._start_us) * self.config.sample_rate / 1_000_000)
            self._anchors[source] = offset - seq * self.frame_samples
        samples = self._decoders[source].decode(payload)
        position = self._anchors[source] + seq * self.frame_samples
        self._pieces.append((position, samples))
        self.frames += 1

    def samples(self) -> np.ndarray:
        """The recording so far.

        Returns:
            Mixed `int16` samples, starting at the earliest frame heard.
        """
        if not self._pieces:
            return np.zeros(0, dtype=np.int16)
        first = min(position for position, _ in self._pieces)
        end = max(position + len(s) for position, s in self._pieces)
        mix = np.zeros(end - first, dtype=np.int32)
        for position, piece in self._pieces:
            mix[position - first : position - first + len(piece)] += piece
        return np.clip(mix, -32768, 32767).astype(np.int16)


def similarity(reference: np.ndarray, recording: np.ndarray) -> float:
    """How closely a recording contains a reference signal: the peak normalised cross-correlation.

    The recording may be delayed, longer, and lossy-coded; 1.0 is identical shape.

    Args:
        reference: The signal that was sent.
        recording: What was received.

    Returns:
        The correlation coefficient at the best alignment, between -1 and 1 (0 if either is empty).
    """
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(recording, dtype=np.float64)
    if len(x) == 0 or len(y) == 0:
        return 0.0
    size = 1 << int(np.ceil(np.log2(len(x) + len(y))))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)
    lags = np.concatenate([np.arange(0, len(y)), np.arange(-len(x) + 1, 0)])
    values = np.concatenate([corr[: len(y)], corr[size - len(x) + 1 :]])
    lag = int(lags[int(np.argmax(values))])
    x_part = x[max(0, -lag) : max(0, -lag) + max(0, min(len(x) + min(lag, 0), len(y) - max(lag, 0)))]
    y_part = y[max(0, lag) : max(0, lag) + len(x_part)]
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y_part))
    return float(np.dot(x_part, y_part) / denominator) if denominator else 0.0
