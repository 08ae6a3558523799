"""One space's HLS output: AAC audio in MPEG-TS segments and a rolling media playlist.

PyAV's FFmpeg does the encoding (AAC-LC) and the packaging (the `hls` muxer):
segments of `packager.segment_s`, a sliding playlist of `packager.playlist_size`
segments, segments that left the playlist deleted, every file written to a
temporary name and renamed, so an HTTP server never reads half a file.

Segment names carry the run's id and media sequence numbers start from the
clock (seconds since the epoch), so a restarted packager never reuses a name: a
CDN may cache a segment for `packager.segment_cache_s` and must never see two
different files under one URL.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import av
import numpy as np

from chorus.audio import mono_frame
from chorus.config import AudioConfig, PackagerConfig

PLAYLIST_NAME = "index.m3u8"
"""The media playlist's file name in a space's directory."""

SEGMENT_NAME = re.compile(r"^[A-Za-z0-9]+-[0-9]+\.ts$")
"""What a segment's file name looks like (`RUN-SEQUENCE.ts`)."""

_MEDIA_SEQUENCE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)", re.MULTILINE)
_SEGMENT_LINE = re.compile(r"^[^#\s].*\.ts$", re.MULTILINE)


def parse_playlist(text: str) -> tuple[int, list[str]]:
    """The media sequence number and the segment URIs of a media playlist.

    Args:
        text: The playlist.

    Returns:
        `(media_sequence, segments)`; `(0, [])` for a playlist without segments.
    """
    match = _MEDIA_SEQUENCE.search(text)
    return (int(match.group(1)) if match else 0), _SEGMENT_LINE.findall(text)


class HlsWriter:
    """Encodes a space's audio, one frame at a time, into HLS files in one directory.

    Args:
        directory: Where the playlist and segments go (created; old HLS files in it are removed).
        packager: The `packager` configuration section.
        audio: The `audio` configuration section (sample rate, frame length).
        run_id: This run's id, put in segment names.

    Attributes:
        directory: The directory.
        playlist: The playlist's path.
        segments_written: Segments that appeared in the playlist so far.
        media_sequence: The playlist's media sequence number at the last check.
        segments: The segment names listed at the last check.
    """

    def __init__(self, directory: Path, packager: PackagerConfig, audio: AudioConfig, run_id: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            if old.name == PLAYLIST_NAME or old.suffix in (".ts", ".tmp"):
                old.unlink(missing_ok=True)
        self.playlist = directory / PLAYLIST_NAME
        self.segments_written = 0
        self.media_sequence = 0
        self.segments: list[str] = []
        self._sample_rate = audio.sample_rate
        self._pts = 0
        self._last_sequence: int | None = None
        self._playlist_mtime = 0
        self._container = av.open(
            str(self.playlist),
            "w",
            format="hls",
            options={
                "hls_time": f"{packager.segment_s:g}",
                "hls_list_size": str(packager.playlist_size),
                "hls_delete_threshold": "2",
                "hls_flags": "delete_segments+temp_file+independent_segments+program_date_time",
                "hls_segment_type": "mpegts",
                "hls_segment_filename": str(directory / f"{run_id}-%d.ts"),
                "hls_start_number_source": "epoch",
            },
        )
        self._stream = self._container.add_stream("aac", rate=audio.sample_rate, layout="mono")
        self._stream.bit_rate = packager.aac_bitrate
        self._closed = False

    def write(self, samples: np.ndarray) -> int:
        """Encode and mux one frame of audio.

        Args:
            samples: Mono `int16` samples (one frame).

        Returns:
            How many new segments the playlist gained (usually 0, 1 every `segment_s`).
        """
        frame = mono_frame(samples, self._sample_rate, self._pts)
        self._pts += len(samples)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._check_playlist()

    def _check_playlist(self) -> int:
        """Read the playlist if it changed; count the segments added since the last check."""
        try:
            mtime = os.stat(self.playlist).st_mtime_ns
        except FileNotFoundError:
            return 0
        if mtime == self._playlist_mtime:
            return 0
        self._playlist_mtime = mtime
        sequence, segments = parse_playlist(self.playlist.read_text(encoding="utf-8"))
        if not segments:
            return 0
        last = sequence + len(segments) - 1
        added = len(segments) if self._last_sequence is None else max(0, last - self._last_sequence)
        self._last_sequence = last
        self.media_sequence, self.segments = sequence, segments
        self.segments_written += added
        return added

    def close(self) -> int:
        """Flush the encoder and end the playlist (`#EXT-X-ENDLIST`); players stop at its end.

        Returns:
            Segments added by the flush.
        """
        if self._closed:
            return 0
        self._closed = True
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._playlist_mtime = 0
        return self._check_playlist()
