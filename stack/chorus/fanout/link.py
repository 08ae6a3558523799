"""A fan-out node's link to the gateway: register, report load, take instructions.

The node registers once, then reports its load every `fanout.report_interval_s`
(listeners, speakers, spaces, sessions that connected or left since the last
report). The gateway's answer carries its instructions - drain or resume, spaces
that ended - so the node needs no inbound control channel. If the gateway does
not know the node (it restarted), the node registers again. An edge node also
asks the gateway, through its link, where to subscribe to a space (its upstream
grant: the space's origin and a join token for it).
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from chorus.fanout.node import FanoutNode
from chorus.fanout.upstream import UpstreamEnded, UpstreamUnavailable
from chorus.logs import log_event
from chorus.tokens import node_token


REFUSED_LOG_EVERY_S = 30.0
"""While the gateway refuses the node's token, the refusal is logged again this often."""


class GatewayLink:
    """Keeps one node registered with the gateway and reporting; gives an edge its upstream grants.

    Creating the link makes it the node's source of upstream grants (`node.grants`).

    Args:
        node: The node.
        gateway_url: The gateway's base URL, e.g. `http://127.0.0.1:8080`.
        key: The signing key shared with the gateway (node tokens are signed with it).
        interval_s: Time between reports; `None` uses `fanout.report_interval_s`.
    """

    def __init__(self, node: FanoutNode, gateway_url: str, key: bytes, interval_s: float | None = None) -> None:
        self.node = node
        self.gateway_url = gateway_url.rstrip("/")
        self.interval_s = interval_s if interval_s is not None else node.config.fanout.report_interval_s
        self._key = key
        self._log = node.log
        self._known = False
        self._refused_at: float | None = None
        self._grant_client: httpx.AsyncClient | None = None
        node.grants = self.upstream_grant

    async def upstream_grant(self, space: str) -> dict[str, object]:
        """Ask the gateway where this edge subscribes to a space (`POST /v1/nodes/{node}/upstream`).

        Args:
            space: The space id.

        Returns:
            The grant: `space`, `origin`, `url`, `token`, `expires_at`.

        Raises:
            UpstreamEnded: The space ended or does not exist.
            UpstreamUnavailable: The gateway is unreachable, does not know the node yet (409), or
                has no origin for the space (503).
        """
        if self._grant_client is None:
            self._grant_client = httpx.AsyncClient(timeout=5.0)
        node = self.node
        headers = {"Authorization": f"Bearer {node_token(self._key, node.node_id)}"}
        url = f"{self.gateway_url}/v1/nodes/{node.node_id}/upstream"
        try:
            response = await self._grant_client.post(url, json={"space": space}, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"gateway unreachable: {exc or exc.__class__.__name__}") from None
        if response.status_code in (404, 410):
            raise UpstreamEnded(space)
        if response.status_code != 200:
            raise UpstreamUnavailable(f"gateway answered {response.status_code}: {response.text.strip()[:200]}")
        return response.json()

    async def run(self) -> None:
        """Register and report until cancelled; failures are logged once per outage and retried."""
        try:
            async with httpx.AsyncClient(timeout=max(2.0, self.interval_s * 2)) as client:
                while True:
                    await self.report_once(client)
                    await asyncio.sleep(self.interval_s)
        finally:
            if self._grant_client is not None:
                await self._grant_client.aclose()
                self._grant_client = None

    async def report_once(self, client: httpx.AsyncClient) -> bool:
        """Register if needed, then send one report and apply the answer.

        Args:
            client: The HTTP client.

        Returns:
            Whether the gateway answered the report.
        """
        node = self.node
        headers = {"Authorization": f"Bearer {node_token(self._key, node.node_id)}"}
        body = node.take_report()
        try:
            if not self._known:
                registration = {"node": node.node_id, "role": node.role, "url": node.url,
                                "listener_cap": node.config.fanout.listener_cap}
                response = await client.post(f"{self.gateway_url}/v1/nodes", json=registration, headers=headers)
                response.raise_for_status()
                self._known = True
                log_event(self._log, "registered_with_gateway", node=node.node_id, gateway=self.gateway_url)
            response = await client.post(f"{self.gateway_url}/v1/nodes/{node.node_id}/report", json=body, headers=headers)
            if response.status_code == 404:
                self._known = False
                node.return_report(body)
                return False
            response.raise_for_status()
        except httpx.HTTPError as exc:
            node.return_report(body)
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 401:
                self._refused(exc.response)
            elif node.registered:
                log_event(self._log, "gateway_unreachable", level=logging.WARNING, node=node.node_id,
                          gateway=self.gateway_url, error=str(exc) or exc.__class__.__name__)
            node.registered = False
            self._known = False
            return False
        node.registered = True
        self._refused_at = None
        node.apply(response.json())
        return True

    def _refused(self, response: httpx.Response) -> None:
        """Say loudly, at once and every `REFUSED_LOG_EVERY_S` while it lasts, that the gateway refuses this node."""
        now = time.monotonic()
        if self._refused_at is not None and now - self._refused_at < REFUSED_LOG_EVERY_S:
            return
        self._refused_at = now
        detail = response.text.strip()[:200]
        key_env = self.node.config.gateway.token.key_env
        log_event(self._log, "gateway_refused_node", level=logging.ERROR, node=self.node.node_id,
                  gateway=self.gateway_url, status=response.status_code, detail=detail,
                  fix=f"this node's signing key is not the gateway's: start it with the same key "
                  f"({key_env} or gateway.token.key_file) as the gateway; it takes no joins until then")
