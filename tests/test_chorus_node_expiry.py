"""The gateway forgets a node that stayed stale (`gateway.node_expiry_s`), and `chorusctl status` says what it sees.

A gateway and two fan-out nodes run in this process on ephemeral loopback ports; `chorusctl
status` runs as a real process against them.
"""

from __future__ import annotations

import asyncio
import json

from chorus.gateway.placement import Placement
from chorus.gateway.sessions import SessionTable
from chorus_support import async_wait_until, clean_env, config_with, local_stack
from conftest import BIN


async def _status(gateway_url: str) -> tuple[int, dict]:
    """Run `chorusctl status --json` against the gateway; its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "chorusctl"), "status", "--json", "--gateway", gateway_url, env=clean_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, json.loads(out) if out else {"stderr": err.decode()}


def test_a_dead_node_is_stale_then_forgotten_and_status_exit_codes_follow() -> None:
    config = config_with(gateway={"node_timeout_s": 0.5, "node_expiry_s": 1.5})

    async def scenario() -> None:
        async with local_stack(config, nodes=2) as stack:
            placement = stack.gateway.gateway.placement
            code, status = await _status(stack.url)
            assert (code, status["health"]) == (0, "healthy"), status

            await stack.kill_node(1)
            await async_wait_until(lambda: placement.state(placement.nodes["fanout-2"]) == "stale", 5, "fanout-2 stale")
            code, status = await _status(stack.url)
            assert (code, status["health"]) == (3, "degraded"), status
            assert {n["id"]: n["state"] for n in status["nodes"]}["fanout-2"] == "stale"

            await async_wait_until(lambda: "fanout-2" not in placement.nodes, 10, "the gateway to forget fanout-2")
            code, status = await _status(stack.url)
            assert (code, status["health"]) == (0, "healthy"), status
            assert [n["id"] for n in status["nodes"]] == ["fanout-1"]
            metrics = stack.gateway.gateway.metrics.registry
            assert metrics.get_sample_value("chorus_gateway_node_listeners", {"node": "fanout-2"}) is None
            assert metrics.get_sample_value("chorus_gateway_nodes", {"state": "stale"}) == 0

            await stack.kill_node(0)
            await async_wait_until(lambda: placement.state(placement.nodes["fanout-1"]) == "stale", 5, "fanout-1 stale")
            code, status = await _status(stack.url)
            assert (code, status["health"]) == (1, "down"), "no origin can take a space"

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_expiry_counts_from_when_the_node_went_stale() -> None:
    now = [100.0]
    placement = Placement(SessionTable(), headroom=0.1, node_timeout_s=5, clock=lambda: now[0], node_expiry_s=60)
    placement.register("n1", "origin", "ws://a", 10)
    now[0] += 5 + 60
    assert placement.expire() == [] and placement.state(placement.nodes["n1"]) == "stale"
    now[0] += 0.1
    assert [n.id for n in placement.expire()] == ["n1"] and placement.nodes == {}
    never = Placement(SessionTable(), headroom=0.1, node_timeout_s=5, clock=lambda: now[0])
    never.register("n1", "origin", "ws://a", 10)
    now[0] += 10_000
    assert never.expire() == [] and "n1" in never.nodes
