"""A space whose HLS files cannot be written is logged, shown, retried, and recovers without a restart.

A gateway and a fan-out node run in this process, and a real packager serves HTTP on an
ephemeral loopback port. The space's directory is replaced by a plain file (so writes fail even
as root, as on a full or broken volume), then restored.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import httpx

from chorus.logs import _FIELDS
from chorus.packager.server import PackagerServer
from chorus.packager.service import Packager
from chorus_support import KEY, async_wait_until, config_with, local_stack, operator_headers


class Events(logging.Handler):
    """Collects the structured fields of every event logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(dict(getattr(record, _FIELDS, {"event": record.getMessage()})))

    def named(self, event: str) -> list[dict[str, object]]:
        return [e for e in self.events if e.get("event") == event]


def test_unwritable_playlist_is_logged_reported_retried_and_recovers(tmp_path: Path) -> None:
    config = config_with(packager={"segment_s": 0.5, "playlist_size": 4, "poll_interval_s": 0.2,
                                   "retry_max_s": 0.5})
    events = Events()
    logger = logging.getLogger("chorus.test.packager_write_failure")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(events)

    async def scenario() -> None:
        async with local_stack(config) as stack, httpx.AsyncClient(timeout=5) as http:
            space = (await http.post(f"{stack.url}/v1/spaces", json={"title": "hls", "host": "h"})).json()["id"]
            packager = Packager(config, stack.url, output_dir=tmp_path / "hls", key=KEY, logger=logger)
            server = PackagerServer(packager, host="127.0.0.1", port=0)
            await server.start()
            try:
                base = server.url

                async def state() -> dict:
                    (status,) = (await http.get(f"{base}/v1/status", headers=operator_headers())).json()["spaces"]
                    return status

                await async_wait_until(lambda: space in packager.spaces and packager.spaces[space].segments >= 2, 10,
                                       "the first segments")
                directory = packager.space_dir(space)
                shutil.rmtree(directory)
                directory.write_text("not a directory")

                await async_wait_until(lambda: packager.spaces[space].write_error is not None, 10, "a write to fail")
                failed = events.named("hls_write_failed")
                assert failed and failed[0]["space"] == space and failed[0]["error"], failed
                ready = await http.get(f"{base}/readyz")
                assert ready.status_code == 200
                assert ready.text == f"ready; playlist not writable for 1 space(s): {space} (see /v1/status)\n"
                status = await state()
                assert status["write_error"] and status["write_failures"] >= 1
                segments = status["segments"]
                await asyncio.sleep(1.5)  # three segment lengths: it keeps retrying, and nothing advances
                status = await state()
                assert status["segments"] == segments and status["playlist_age_s"] >= 1.5
                assert status["write_failures"] >= 2, "the clock is alive and retries"
                metrics = (await http.get(f"{base}/metrics")).text
                assert f'chorus_packager_write_errors_total{{space="{space}"}} {float(status["write_failures"])}' in metrics

                directory.unlink()  # the volume is writable again
                await async_wait_until(lambda: packager.spaces[space].write_error is None
                                       and packager.spaces[space].segments >= segments + 2, 10, "recovery")
                (recovered,) = events.named("hls_write_recovered")
                assert recovered["space"] == space
                assert (await http.get(f"{base}/readyz")).text == "ready\n"
                playlist = await http.get(f"{base}/hls/{space}/index.m3u8")
                assert playlist.status_code == 200 and "#EXT-X-MEDIA-SEQUENCE" in playlist.text
                assert (await state())["playlist_age_s"] < 1.5
            finally:
                await server.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        logger.removeHandler(events)
