"""A drain moves its listeners without shedding any: rejoin tickets are admitted ahead of new joins.

The configuration makes the drain's rejoin rate (listeners / drain_spread_s) far
exceed gateway.join_rate_per_s, as a full node does today (900 / 2 s = 450/s
against 200/s). Without tickets the gateway sheds most of the rejoins.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt

from chorus.client import GatewayClient, Listener
from chorus.tokens import REJOIN_AUDIENCE, rejoin_ticket, JoinClaims
from chorus_support import KEY, SHARED_LOOP_FANOUT, async_wait_until, background, config_with, local_stack

LISTENERS = 30


def _shed(stack) -> float:
    joins = stack.gateway.gateway.metrics.joins
    return sum(joins.labels(result="shed", role=role)._value.get() for role in ("listener", "host", "speaker"))


def test_drain_replaces_every_listener_without_shedding() -> None:
    # 30 listeners rejoin within 1 s (30/s) against an admission rate of 2/s: today most would be shed.
    config = config_with(
        gateway={"join_rate_per_s": 2.0, "join_burst": 40, "priority_share": 0.1},
        fanout={"listener_cap": 40, "headroom": 0.1, "drain_spread_s": 1.0, "drain_grace_s": 4.0, **SHARED_LOOP_FANOUT},
    )

    async def scenario() -> None:
        async with local_stack(config, nodes=2) as stack, GatewayClient(stack.url) as gateway, background() as tasks:
            core = stack.gateway.gateway
            first, second = stack.nodes
            core.set_drain(second.node_id, True)  # every listener lands on the first node
            await async_wait_until(lambda: second.draining, 5, "the second node to stand aside")
            space = (await gateway.create_space("drain", "hana"))["id"]
            listeners = [Listener(gateway, space, f"fan{i}", lambda frames: None, max_join_wait_s=30) for i in range(LISTENERS)]
            tasks += [asyncio.create_task(l.run(60)) for l in listeners]
            await async_wait_until(lambda: all(l.connected.is_set() for l in listeners), 30, "listeners to connect")
            assert first.listener_count == LISTENERS and _shed(stack) == 0
            core.set_drain(second.node_id, False)
            await async_wait_until(lambda: not second.draining and core.placement.state(
                core.placement.nodes[second.node_id]) == "accepting", 5, "the second node to accept again")

            started = time.monotonic()
            core.set_drain(first.node_id, True)
            # The node counts a listener when its side of the handshake is done, the client a moment later
            # (a busy runner stretches that moment): wait for both.
            await async_wait_until(lambda: second.listener_count == LISTENERS and all(
                l.log.nodes[-1] == second.node_id for l in listeners), 20, "every listener to be re-placed")
            took = time.monotonic() - started
            assert _shed(stack) == 0, f"{_shed(stack):.0f} rejoins were shed during the drain"
            moved = [(l.user, l.log.nodes, l.log.reconnects) for l in listeners if l.log.reconnects != 1]
            assert not moved, f"each listener moves once: {moved}"
            assert core.sessions.by_role()["listener"] == LISTENERS, "drained sessions are replaced, not added"
            print(f"{LISTENERS} listeners re-placed {took:.1f} s after the drain started, none shed")

    asyncio.run(scenario())


def test_rejoin_tickets_cannot_be_forged_replayed_or_borrowed() -> None:
    config = config_with(gateway={"join_rate_per_s": 0.1, "join_burst": 2, "priority_share": 0.5})

    async def scenario() -> None:
        async with local_stack(config, nodes=2) as stack, httpx.AsyncClient(base_url=stack.url) as http:
            core = stack.gateway.gateway
            drained, _other = stack.nodes
            space = (await http.post("/v1/spaces", json={"title": "t", "host": "hana"})).json()["id"]
            while (await http.post(f"/v1/spaces/{space}/join", json={"user": "early"})).status_code == 200:
                pass  # the listeners' share of the bucket is empty: a plain listener join is shed

            async def join(ticket: str, user: str = "fan") -> int:
                body = {"user": user, "ticket": ticket, "reconnect": "drain"}
                return (await http.post(f"/v1/spaces/{space}/join", json=body)).status_code

            claims = JoinClaims("fan", space, "listener", drained.node_id, "se-old", time.time() + 60)
            genuine = rejoin_ticket(KEY, drained.node_id, claims)
            assert await join(genuine) == 503, "a ticket from a node that is not draining buys nothing"
            core.set_drain(drained.node_id, True)
            forged = jwt.encode({"iss": drained.node_id, "sub": "fan", "aud": REJOIN_AUDIENCE, "space": space,
                                 "role": "listener", "jti": "se-x", "iat": int(time.time()), "exp": int(time.time()) + 60},
                                b"a-client-does-not-have-the-key-0123456789", "HS256")
            assert await join(forged) == 503, "a ticket not signed with the signing key is ignored"
            assert await join(genuine, user="someone-else") == 503, "a ticket names its user"
            assert await join(genuine) == 200, "a genuine ticket from a draining node is admitted with the bucket empty"
            assert await join(genuine) == 503, "a ticket is good for one rejoin"

    asyncio.run(scenario())
