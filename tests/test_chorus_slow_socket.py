"""A listener that stops reading is dropped by the node's own send-queue limit within seconds.

Real 20 ms Opus frames (about 100 bytes each) from a real speaker, on loopback:
without a cap on the listener socket's kernel send buffer, the kernel absorbs
minutes of audio before `fanout.send_queue_limit` ever applies.
"""

from __future__ import annotations

import asyncio
import time

from chorus.audio import reference_packets
from chorus.client import GatewayClient, Listener, Speaker
from chorus.config import AudioConfig
from chorus_support import (
    async_wait_until,
    background,
    config_with,
    connect_non_reading_listener,
    frame_counter,
    local_stack,
)

DROP_WITHIN_S = 8.0
"""How long a non-reading listener may stay connected while real audio flows."""


def test_non_reading_listener_is_dropped_within_seconds_with_real_frames() -> None:
    config = config_with()  # today's send_queue_limit, frames_per_message and socket send buffer
    packets = reference_packets(AudioConfig(), DROP_WITHIN_S + 4)
    assert max(len(p) for p in packets) < 400, "real Opus frames, not inflated ones"

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as gateway, background() as tasks:
            space = (await gateway.create_space("slow", "hana"))["id"]
            node = stack.nodes[0]
            received = [0] * 3

            listeners = [Listener(gateway, space, f"ok{i}", frame_counter(received, i)) for i in range(3)]
            tasks += [asyncio.create_task(l.run(60)) for l in listeners]
            await async_wait_until(lambda: all(l.connected.is_set() for l in listeners), 5, "listeners")

            # A phone that froze.
            sloth = await connect_non_reading_listener(gateway, space, "sloth")
            await async_wait_until(lambda: node.listener_count == 4, 5, "the slow listener to connect")

            speaker = Speaker(gateway, space, "hana", "host", config.audio.frame_ms)
            tasks.append(asyncio.create_task(speaker.run(packets)))
            started = time.monotonic()
            drops = node.metrics.slow_listener_drops.labels(node=node.node_id)
            await async_wait_until(lambda: drops._value.get() >= 1, DROP_WITHIN_S,
                                   "the non-reading listener to be dropped")
            took = time.monotonic() - started
            before = list(received)
            await asyncio.sleep(1.0)
            assert all(after - b >= 25 for after, b in zip(received, before)), (
                f"the reading listeners keep receiving after the drop ({before} -> {received})")
            assert drops._value.get() == 1 and node.listener_count == 3, "only the slow listener was dropped"
            print(f"non-reading listener dropped after {took:.1f} s")
            sloth.transport.abort()

    asyncio.run(scenario())
