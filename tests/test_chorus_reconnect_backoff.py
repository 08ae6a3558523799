"""Media clients of a dead node back off: they do not re-join on every frame until the gateway marks it stale.

A gateway and two origin fan-out nodes run in this process on ephemeral loopback ports; the
speaker's node is stopped as a dead pod stops (no more reports, its port closed).
"""

from __future__ import annotations

import asyncio
import random

from chorus.audio import reference_packets
from chorus.client import RECONNECT_MAX_S, GatewayClient, ReconnectBackoff, Speaker
from chorus.config import AudioConfig
from chorus_support import async_wait_until, background, config_with, local_stack


def test_speaker_of_a_dead_node_rejoins_with_backoff_and_lands_on_another_node() -> None:
    config = config_with(gateway={"node_timeout_s": 2.0})

    async def scenario() -> None:
        async with local_stack(config, nodes=2) as stack, GatewayClient(stack.url) as gateway, background() as tasks:
            core = stack.gateway.gateway
            space = (await gateway.create_space("backoff", "hana"))["id"]
            speaker = Speaker(gateway, space, "hana", "host")
            tasks.append(asyncio.create_task(speaker.run(reference_packets(AudioConfig(), 20))))
            await async_wait_until(lambda: len(speaker.log.nodes) == 1 and speaker.log.frames > 10, 5, "the speaker")
            first = speaker.log.nodes[0]
            issued = core.metrics.registry.get_sample_value("chorus_gateway_tokens_issued_total")
            joins = speaker.log.joins

            await stack.kill_node([n.node_id for n in stack.nodes].index(first))
            await async_wait_until(lambda: len(speaker.log.nodes) == 2, 20, "the speaker to land on another node")
            assert speaker.log.nodes[1] != first
            rejoins = speaker.log.joins - joins
            tokens = core.metrics.registry.get_sample_value("chorus_gateway_tokens_issued_total") - issued
            # Before the gateway marks the node stale (2 s, plus a sweep) it keeps granting the dead
            # node: one join per 20 ms frame was ~100 joins; jittered exponential backoff is a handful.
            assert rejoins <= 12 and tokens <= 12, (rejoins, tokens)

            sent = speaker.log.frames
            await async_wait_until(lambda: speaker.log.frames > sent + 25, 5, "audio to flow again")
            await async_wait_until(lambda: core.sessions.count(space, "host") == 1, 5,
                                   "the dead node's pending host sessions to be forgotten")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_backoff_is_jittered_exponential_capped_honours_retry_after_and_resets_when_stable() -> None:
    backoff = ReconnectBackoff(rng=random.Random(7))
    ceilings = []
    for _ in range(10):
        ceilings.append(min(RECONNECT_MAX_S, backoff.base_s * 2 ** backoff.failures))
        assert 0 <= backoff.delay_s() <= ceilings[-1]
    assert ceilings[-1] == RECONNECT_MAX_S and ceilings[0] == backoff.base_s
    assert backoff.delay_s(retry_after_s=30) >= 30, "never sooner than the gateway's Retry-After"
    delays = {round(ReconnectBackoff(rng=random.Random(seed)).delay_s(), 6) for seed in range(20)}
    assert len(delays) == 20, "jittered: clients do not retry in lockstep"
    backoff.connected_for(0.5)
    assert backoff.failures > 0, "a connection that drops at once does not reset the backoff"
    backoff.connected_for(10)
    assert backoff.failures == 0
