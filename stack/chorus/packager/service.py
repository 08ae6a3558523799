"""The packager's state: which spaces it packages, found by polling the gateway.

Every `packager.poll_interval_s` the packager lists live spaces at the gateway,
starts packaging the new ones (all of them, or the ones named on the command
line) and stops the ones that ended, whose playlists then end with
`#EXT-X-ENDLIST`.

It is ready while the gateway answers. A space whose playlist cannot be written
does not make it unready, on purpose: there is one packager pod, and an unready
pod leaves the CDN's Service with no endpoint, taking every space's HLS down for
one space's fault (and a full volume is not cured by routing elsewhere). Such a
space is logged (`hls_write_failed`), counted
(`chorus_packager_write_errors_total`), retried until it recovers, named in
`/readyz`'s body and in `/v1/status` (`write_error`), and its growing playlist
age fires ChorusHlsPlaylistStale.

Its work is bounded so that a burst of new spaces cannot starve its own health
endpoint or the playlists it already writes: it packages at most
`packager.max_spaces` spaces at once (the oldest live ones; newer ones wait, counted in
`chorus_packager_spaces_waiting`) and starts at most `packager.start_per_poll` per poll.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from chorus.client import GatewayClient, GatewayError
from chorus.config import ChorusConfig
from chorus.ids import is_space_id
from chorus.logs import log_event
from chorus.metrics import PackagerMetrics, watch_event_loop_lag
from chorus.packager.space import SpacePackager


class Packager:
    """Packages live spaces into HLS.

    Args:
        config: The configuration.
        gateway_url: The gateway's URL.
        output_dir: Where to write; `None` uses `packager.output_dir`, or a temporary directory
            (deleted at stop) when that is empty.
        only_spaces: Package only these spaces; `None` packages every live space.
        registry: Metrics registry; `None` creates one.
        logger: Event logger.
        key: The signing key: the packager joins with a service token signed with it, in its own
            role `packager`, which admission control puts ahead of listeners. Without it the
            packager joins as a plain listener and a join storm can shed it.

    Attributes:
        key: The signing key (also verifies operator tokens on `/v1/status`), or `None`.
        metrics: The packager's metrics.
        spaces: Space id to its packager.
        output_dir: The output directory.
        run_id: This run's id, in every segment name.
        gateway_ok: Whether the last poll reached the gateway.
    """

    def __init__(
        self,
        config: ChorusConfig,
        gateway_url: str,
        output_dir: Path | None = None,
        only_spaces: list[str] | None = None,
        registry: CollectorRegistry | None = None,
        logger: logging.Logger | None = None,
        key: bytes | None = None,
    ) -> None:
        self.config = config
        self.gateway_url = gateway_url
        self.metrics = PackagerMetrics(registry or CollectorRegistry())
        self.log = logger or logging.getLogger("chorus")
        self.spaces: dict[str, SpacePackager] = {}
        self.only_spaces = set(only_spaces) if only_spaces else None
        self.run_id = secrets.token_hex(4)
        self.key = key
        self._waiting = 0
        self.gateway_ok = False
        configured = output_dir or (Path(config.packager.output_dir) if config.packager.output_dir else None)
        self._temporary = configured is None
        self.output_dir = configured or Path(tempfile.mkdtemp(prefix="chorus-hls-"))
        self._gateway = GatewayClient(gateway_url, service="packager", key=key) if key else GatewayClient(gateway_url)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Poll once, then keep polling and sampling event-loop lag in the background."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        await self.poll_once()
        self._tasks = [
            asyncio.create_task(self._poll_forever()),
            asyncio.create_task(watch_event_loop_lag(self.metrics.event_loop_lag)),
        ]
        log_event(self.log, "packager_started", gateway=self.gateway_url, output_dir=str(self.output_dir), run=self.run_id)

    async def stop(self) -> None:
        """Stop packaging every space (ending their playlists) and the background tasks."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for space in list(self.spaces):
            await self._stop_space(space)
        await self._gateway.aclose()
        if self._temporary:
            shutil.rmtree(self.output_dir, ignore_errors=True)
        log_event(self.log, "packager_stopped")

    @property
    def ready(self) -> bool:
        """Whether the packager can do its job: the gateway answered the last poll."""
        return self.gateway_ok

    @property
    def failing_spaces(self) -> list[str]:
        """Spaces whose HLS files cannot be written now (their playlists do not advance).

        Returns:
            The space ids, sorted.
        """
        return sorted(space for space, packager in self.spaces.items() if packager.write_error is not None)

    def space_dir(self, space: str) -> Path:
        """A space's output directory.

        Args:
            space: The space id (checked with `chorus.ids.is_space_id`).

        Returns:
            The directory.

        Raises:
            ValueError: The id cannot be a directory name.
        """
        if not is_space_id(space):
            raise ValueError("not a space id")
        return self.output_dir / space

    async def poll_once(self) -> None:
        """Ask the gateway for live spaces; start and stop packaging to match."""
        try:
            listed = await self._gateway.spaces()
        except GatewayError as exc:
            if self.gateway_ok:
                log_event(self.log, "gateway_unreachable", level=logging.WARNING, gateway=self.gateway_url, error=str(exc))
            self.gateway_ok = False
            self.metrics.ready.set(0)
            return
        self.gateway_ok = True
        self.metrics.ready.set(1)
        live = [str(space.get("id", "")) for space in listed]  # oldest first, as the gateway lists them
        wanted = {space for space in live if is_space_id(space) and (self.only_spaces is None or space in self.only_spaces)}
        for space in sorted(set(self.spaces) - wanted):
            await self._stop_space(space)
        for space in [s for s, p in self.spaces.items() if p.ended]:
            await self._stop_space(space)
        self._start_new([space for space in live if space in wanted and space not in self.spaces])
        self.metrics.spaces.set(len(self.spaces))

    def _start_new(self, new: list[str]) -> None:
        """Start packaging new spaces, oldest first, within `max_spaces` and `start_per_poll`."""
        bounds = self.config.packager
        room = max(0, min(bounds.start_per_poll, bounds.max_spaces - len(self.spaces)))
        for space in new[:room]:
            packager = SpacePackager(space, self.config, self._gateway, self.space_dir(space), self.metrics,
                                     self.run_id, logger=self.log)
            self.spaces[space] = packager
            packager.start()
        waiting = new[room:]
        if waiting and len(waiting) != self._waiting:
            log_event(self.log, "spaces_waiting", level=logging.WARNING, waiting=len(waiting),
                      packaging=len(self.spaces), max_spaces=bounds.max_spaces)
        self._waiting = len(waiting)
        self.metrics.spaces_waiting.set(self._waiting)

    async def _stop_space(self, space: str) -> None:
        """Stop packaging a space (its files stay until the packager stops)."""
        packager = self.spaces.pop(space, None)
        if packager is not None:
            await packager.stop()
        self.metrics.spaces.set(len(self.spaces))

    async def _poll_forever(self) -> None:
        """Poll the gateway every `packager.poll_interval_s`."""
        while True:
            await asyncio.sleep(self.config.packager.poll_interval_s)
            await self.poll_once()

    def status(self) -> dict[str, Any]:
        """The packager's state, as served on `/v1/status`.

        Returns:
            A JSON-ready mapping.
        """
        return {
            "service": "packager",
            "gateway": self.gateway_url,
            "gateway_ok": self.gateway_ok,
            "run": self.run_id,
            "output_dir": str(self.output_dir),
            "spaces": [packager.status() for _, packager in sorted(self.spaces.items())],
        }
