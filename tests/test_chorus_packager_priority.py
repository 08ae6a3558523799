"""The packager is admitted ahead of listeners: a join storm cannot cut the HLS feed.

It joins in role `packager` with a service token signed with the signing key;
clients, who do not hold the key, cannot take that role.
"""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest

from chorus.client import GatewayClient, GatewayError, Listener
from chorus.protocol import Frame
from chorus.tokens import service_token
from chorus_support import KEY, async_wait_until, background, config_with, local_stack


def test_packager_rejoins_during_a_join_storm_that_sheds_listeners() -> None:
    config = config_with(gateway={"join_rate_per_s": 5.0, "join_burst": 10, "priority_share": 0.1})

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as gateway, background() as tasks:
            space = (await gateway.create_space("launch", "hana"))["id"]
            outcomes = {"admitted": 0, "shed": 0}
            stop = asyncio.Event()

            async def storm() -> None:
                """Listener joins at about 50 per second: ten times the rate, without starving the shared event loop."""
                async with httpx.AsyncClient(base_url=stack.url, timeout=5) as http:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        response = await http.post(f"/v1/spaces/{space}/join", json={"user": f"fan{n}"})
                        outcomes["admitted" if response.status_code == 200 else "shed"] += 1
                        await asyncio.sleep(0.02)

            tasks.append(asyncio.create_task(storm()))
            await async_wait_until(lambda: outcomes["shed"] >= 20, 10, "the storm to empty the bucket")

            async with GatewayClient(stack.url, service="packager", key=KEY) as service_gateway:
                # Its own joins share the priority reserve (one token here, refilled at 5/s): a rejoin
                # right after its first join may be shed once with a Retry-After of up to 5 s, which
                # it waits out, as the real packager does.
                packager = Listener(service_gateway, space, "packager", lambda frames: None, max_join_wait_s=8.0,
                                    role="packager")
                tasks.append(asyncio.create_task(packager.run(30)))
                await async_wait_until(packager.connected.is_set, 5, "the packager to join during the storm")
                node = stack.nodes[0]
                shed_before = outcomes["shed"]
                # Its connection is cut (its node restarted, a network blip): it joins again, still in the storm.
                packager.connected.clear()
                (room,) = node.rooms.values()
                (connection,) = room.listeners  # admitted storm listeners never connect: this is the packager
                connection.transport.abort()
                await async_wait_until(lambda: packager.log.reconnects >= 1 and packager.connected.is_set(), 20,
                                       "the packager to rejoin during the storm")
                assert outcomes["shed"] > shed_before, "listeners were still being shed while the packager rejoined"
            stop.set()

    asyncio.run(scenario())


def test_clients_cannot_take_the_packager_role() -> None:
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as gateway:
            space = (await gateway.create_space("launch", "hana"))["id"]
            with pytest.raises(GatewayError) as refused:
                await gateway.join(space, "mallory", "packager")
            assert refused.value.status == 403
            forged = jwt.encode({"sub": "packager", "aud": "chorus-gateway", "role": "service", "exp": 2**31},
                                b"not-the-signing-key-0123456789abcdef", "HS256")
            async with httpx.AsyncClient(base_url=stack.url) as http:
                response = await http.post(f"/v1/spaces/{space}/join", json={"user": "mallory", "role": "packager"},
                                           headers={"Authorization": f"Bearer {forged}"})
                assert response.status_code == 403
                node_like = service_token(KEY, "packager")
                response = await http.post(f"/v1/spaces/{space}/join", json={"user": "packager", "role": "packager"},
                                           headers={"Authorization": f"Bearer {node_like}"})
                assert response.status_code == 200 and response.json()["role"] == "packager"

    asyncio.run(scenario())
