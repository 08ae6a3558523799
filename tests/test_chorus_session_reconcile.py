"""The gateway's sessions converge on what the nodes report: a slow node's sessions come back after it
went stale, a restarted node's vanished sessions go, and rejoins placed on a dead node are not people.

A gateway and fan-out nodes run in this process on loopback; `chorusctl status` runs as a real process.
"""

from __future__ import annotations

import asyncio
import subprocess

from websockets.asyncio.client import connect

from chorus.client import media_url
from chorus.gateway.core import Gateway
from chorus_support import BIN, async_wait_until, clean_env, config_with, local_stack, operator_client


async def _sessions_line(gateway_url: str) -> str:
    """The `sessions ...` line of a real `chorusctl status`."""
    result = await asyncio.to_thread(
        subprocess.run, [str(BIN / "chorusctl"), "status", "--gateway", gateway_url],
        env=clean_env(), capture_output=True, text=True, timeout=30,
    )
    return next(line for line in result.stdout.splitlines() if line.startswith("sessions "))


def test_a_slow_nodes_sessions_are_learned_back_after_it_went_stale() -> None:
    config = config_with(gateway={"node_timeout_s": 0.5})

    async def scenario() -> None:
        async with local_stack(config, nodes=1) as stack, operator_client(stack.url) as client:
            gateway: Gateway = stack.gateway.gateway
            space = (await client.create_space("slow", "hana"))["id"]
            host = await connect(media_url(await client.join(space, "hana", "host")), compression=None)
            listener = await connect(media_url(await client.join(space, "lee")), compression=None)
            try:
                await async_wait_until(lambda: gateway.presence(space)["speakers"] == 1, 5, "the host to be connected")
                assert (await _sessions_line(stack.url)).startswith("sessions 1 host, 0 speaker, 1 listener")

                stack.link_tasks[0].cancel()  # the node is only slow: it serves, but its reports stop
                await async_wait_until(lambda: len(gateway.sessions) == 0, 5, "the stale node's sessions to be forgotten")
                assert (await _sessions_line(stack.url)).startswith("sessions 0 host, 0 speaker, 0 listener")

                stack.link_tasks[0] = asyncio.create_task(stack.links[0].run())
                await async_wait_until(lambda: gateway.presence(space) | {"hands": 0} == {
                    "listeners": 1, "speakers": 1, "hands": 0, "live": True}, 5, "the sessions to be learned back")
                assert (await _sessions_line(stack.url)).startswith("sessions 1 host, 0 speaker, 1 listener")
            finally:
                await host.close()
                await listener.close()
            await async_wait_until(lambda: len(gateway.sessions) == 0, 5, "the sessions to end when the clients leave")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_rejoins_placed_on_a_dead_node_do_not_count_as_people() -> None:
    config = config_with(gateway={"node_timeout_s": 30})

    async def scenario() -> None:
        async with local_stack(config, nodes=1) as stack, operator_client(stack.url) as client:
            gateway: Gateway = stack.gateway.gateway
            space = (await client.create_space("dead", "hana"))["id"]
            host = await connect(media_url(await client.join(space, "hana", "host")), compression=None)
            await async_wait_until(lambda: gateway.presence(space)["speakers"] == 1, 5, "the host to be connected")

            await stack.kill_node(0)  # dead, but not stale for 30 s: the gateway still places on it
            await host.wait_closed()
            for _ in range(4):
                grant = await client.join(space, "hana", "host", reconnect="network")
                assert grant["node"] == "fanout-1"
            status = await client.status()
            assert status["sessions"]["host"] == 1 and status["joining"] == 4, status
            assert gateway.presence(space)["speakers"] == 1
            assert (await _sessions_line(stack.url)).startswith("sessions 1 host, 0 speaker, 0 listener")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_connected_session_the_node_no_longer_lists_is_forgotten() -> None:
    gateway = Gateway(config_with())
    gateway.register_node("n1", "origin", "ws://127.0.0.1:1", 10)
    space = gateway.spaces.create("t", "hana")
    gateway.report("n1", {"sessions": [{"id": "se-1", "space": space.id, "user": "hana", "role": "host"},
                                       {"id": "se-2", "space": "sp-gone", "user": "x", "role": "listener"}]})
    assert gateway.presence(space.id)["speakers"] == 1 and "se-2" not in gateway.sessions, "ended spaces are not learned"
    gateway.report("n1", {"sessions": []})  # e.g. the node restarted under the same id
    assert gateway.presence(space.id)["speakers"] == 0 and len(gateway.sessions) == 0
    gateway.report("n1", {"connected": ["se-3"]})  # an older node without `sessions`: nothing reconciled
    assert len(gateway.sessions) == 0
