"""Bounds on space creation: a rate per client and a cap on live spaces.

Every live space costs the packager an encoder and the nodes a room, so creating them is
bounded twice: per client (its source address) by a token bucket of
`gateway.space_create_rate_per_s` up to `gateway.space_create_burst`, shed with `429`; and in
total by `gateway.max_live_spaces`, shed with `503`. Both carry a `Retry-After`. The buckets of
at most `MAX_TRACKED_CLIENTS` clients are remembered (least recently seen forgotten first), so a
crowd of addresses cannot grow the gateway's memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from chorus.config import GatewayConfig
from chorus.gateway.admission import TokenBucket

MAX_TRACKED_CLIENTS = 10_000
"""Most clients whose creation buckets are remembered at once."""


@dataclass(frozen=True)
class CreationRefusal:
    """A space creation that is shed.

    Attributes:
        status: 429 (this client is too fast) or 503 (too many live spaces).
        detail: Why, and what to do.
        retry_after_s: When to try again.
    """

    status: int
    detail: str
    retry_after_s: float

    @property
    def retry_after_header(self) -> str:
        """`Retry-After` in whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


class CreationLimiter:
    """Decides whether a client may create a space now.

    Args:
        config: The gateway section.
        clock: Monotonic clock.
    """

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, client: str, live_spaces: int) -> CreationRefusal | None:
        """Take a creation token for `client`, or say why not.

        Args:
            client: The client's address.
            live_spaces: Live spaces now.

        Returns:
            `None` when the space may be created, else the refusal.
        """
        config = self.config
        if live_spaces >= config.max_live_spaces:
            return CreationRefusal(503, f"the gateway holds its most live spaces ({config.max_live_spaces}); "
                                   "retry after the delay or end a space", 30.0)
        bucket = self._buckets.pop(client, None) or TokenBucket(config.space_create_rate_per_s,
                                                                 config.space_create_burst, self._clock)
        self._buckets[client] = bucket
        while len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets.popitem(last=False)
        if bucket.try_take():
            return None
        wait = (1.0 - bucket.tokens) / config.space_create_rate_per_s
        return CreationRefusal(429, "this client creates spaces faster than allowed; retry after the delay", wait)
